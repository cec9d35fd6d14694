"""Azure Blob Storage uploads (the `azure` extra; azure-storage-blob is imported only when used).

Containers and names follow the design: character images go to `images` as
`anonymous_{uuid}.jpg`, avatars to `avatars` as `avatar_{user}_{uuid}.jpg`, the extension matching
the content type. Errors name the endpoint host, never the connection string or its key.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from coverctl.config import Secret
from coverctl.errors import (
    ConfigError,
    CoverctlError,
    CredentialRejected,
    ServiceUnreachable,
    UsageError,
)

__all__ = [
    "CONTAINER_FOR_KIND",
    "EXTENSION_FOR_CONTENT_TYPE",
    "blob_exists",
    "blob_in_account",
    "delete_blob",
    "list_container_names",
    "new_blob_name",
    "read_url",
    "upload_blob",
]

PROVIDER = "Azure Blob Storage"
ENV_VAR = "AZURE_STORAGE_CONNECTION_STRING"

BlobKind = Literal["character", "avatar"]

CONTAINER_FOR_KIND: dict[str, str] = {"character": "images", "avatar": "avatars"}

EXTENSION_FOR_CONTENT_TYPE: dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
}

# Retries of the storage SDK, whose default policy waits 18 s, 24 s, then 42 s (±3 s) before
# giving up on a dead host; ours waits 2 s (±1 s) between tries.
DEFAULT_RETRIES = 2
_BACKOFF = 2
_JITTER = 1
_CONNECTION_TIMEOUT = 10
_READ_TIMEOUT = 60

_AUTH_ERROR_CODES = frozenset(
    {
        "AuthenticationFailed",
        "AuthorizationFailure",
        "AuthorizationPermissionMismatch",
        "NoAuthenticationInformation",
        "InvalidAuthenticationInfo",
        "AccountIsDisabled",
    }
)

_UNSAFE_USER_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def new_blob_name(kind: BlobKind, user: str | None = None, content_type: str = "image/jpeg") -> str:
    """A fresh blob name: `anonymous_{uuid4}.jpg` or `avatar_{user}_{uuid4}.jpg`.

    The extension follows `content_type` (.jpg, .png, .webp). The user part keeps only letters,
    digits, `.`, `_` and `-` (anything else becomes `-`).
    """
    extension = _extension(content_type)
    token = uuid.uuid4()
    if kind == "character":
        return f"anonymous_{token}{extension}"
    if kind == "avatar":
        safe_user = _UNSAFE_USER_CHARS.sub("-", user or "").strip("-.")
        if not safe_user:
            raise UsageError("An avatar blob name needs a user name (letters, digits, . _ -).")
        return f"avatar_{safe_user[:64]}_{token}{extension}"
    raise UsageError(
        f"Unknown blob kind {kind!r}: expected one of {', '.join(CONTAINER_FOR_KIND)}."
    )


def upload_blob(
    connection_string: Secret,
    container: str,
    blob_name: str,
    data: bytes,
    content_type: str,
    *,
    overwrite: bool = False,
    retries: int = DEFAULT_RETRIES,
) -> str:
    """Upload `data` as `container/blob_name` with its Content-Type; return the blob's URL.

    Creates the container (private) when it is missing. The URL never carries a SAS token, even
    when the connection string holds one.
    """
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
    from azure.storage.blob import ContentSettings

    settings = ContentSettings(content_type=content_type)
    with _service(connection_string, retries) as (service, host):
        blob = service.get_blob_client(container=container, blob=blob_name)

        def attempt() -> None:
            try:
                blob.upload_blob(data, overwrite=overwrite, content_settings=settings)
            except ResourceExistsError:
                raise CoverctlError(
                    f"A blob named {blob_name} already exists in container {container} on {host}; "
                    "choose another name or allow overwriting."
                ) from None

        with _mapped_errors(host):
            try:
                attempt()
            except ResourceNotFoundError as exc:
                if _error_code(exc) != "ContainerNotFound":
                    raise
                with suppress(ResourceExistsError):  # created meanwhile by someone else
                    service.create_container(container)
                attempt()
        return _without_query(blob.url)


def delete_blob(
    connection_string: Secret,
    container: str,
    blob_name: str,
    *,
    missing_ok: bool = True,
    retries: int = DEFAULT_RETRIES,
) -> bool:
    """Delete a blob (and its snapshots). Returns False if it did not exist (or raises, when
    `missing_ok` is False)."""
    from azure.core.exceptions import ResourceNotFoundError

    with _service(connection_string, retries) as (service, host), _mapped_errors(host):
        blob = service.get_blob_client(container=container, blob=blob_name)
        try:
            blob.delete_blob(delete_snapshots="include")
        except ResourceNotFoundError:
            if missing_ok:
                return False
            raise CoverctlError(
                f"There is no blob {blob_name} in container {container} on {host}."
            ) from None
        return True


def blob_exists(
    connection_string: Secret, container: str, blob_name: str, *, retries: int = DEFAULT_RETRIES
) -> bool:
    """Whether `container/blob_name` exists (False when the container does not)."""
    with _service(connection_string, retries) as (service, host), _mapped_errors(host):
        return bool(service.get_blob_client(container=container, blob=blob_name).exists())


def list_container_names(
    connection_string: Secret, *, limit: int = 20, timeout: float | None = None
) -> list[str]:
    """Names of the account's first `limit` containers: one cheap authenticated request.

    With `timeout`, it bounds the connection and each read, and nothing is retried (for
    `coverctl doctor`). Raises the same errors as `upload_blob`.
    """
    retries = 0 if timeout is not None else DEFAULT_RETRIES
    with _service(connection_string, retries, timeout) as (service, host), _mapped_errors(host):
        pages = service.list_containers(results_per_page=max(1, limit)).by_page()
        return [str(item.name) for item in next(pages, [])][:limit]


def blob_in_account(connection_string: Secret, url: str) -> tuple[str, str] | None:
    """(container, blob name) when `url` names a blob of this account, else None. No request."""
    with _service(connection_string, 0) as (service, _host):
        base = _without_query(service.url).rstrip("/") + "/"
    plain = _without_query(url)
    if not plain.startswith(base):
        return None
    container, _, blob = plain[len(base) :].partition("/")
    return (container, blob) if container and blob else None


def read_url(
    connection_string: Secret, container: str, blob_name: str, *, valid_seconds: int
) -> str:
    """A URL that lets anyone read one blob for `valid_seconds` (a read-only SAS), for a
    service that must fetch a picture from the private `images` container.

    The URL carries a signature: hand it to that service only; never print or store it (the
    shared redaction hides its `sig`)."""
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    with _service(connection_string, 0) as (service, _host):
        credential = service.credential
        account_key = getattr(credential, "account_key", None)
        if not account_key:
            raise ConfigError(
                f"{ENV_VAR} has no AccountKey, so coverctl cannot let a service read a private "
                "blob: use a connection string with the account key, or set BACKEND_URL."
            )
        blob = service.get_blob_client(container=container, blob=blob_name)
        token = generate_blob_sas(
            account_name=service.account_name,
            container_name=container,
            blob_name=blob_name,
            account_key=account_key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(UTC) + timedelta(seconds=valid_seconds),
        )
        return f"{_without_query(blob.url)}?{token}"


# --- helpers -------------------------------------------------------------------------------------


def _extension(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    try:
        return EXTENSION_FOR_CONTENT_TYPE[base]
    except KeyError:
        raise UsageError(
            f"Unsupported image content type {content_type!r}: expected image/jpeg, image/png "
            "or image/webp."
        ) from None


@contextmanager
def _service(
    connection_string: Secret, retries: int, timeout: float | None = None
) -> Iterator[tuple[Any, str]]:
    """A BlobServiceClient for the connection string, and its endpoint host for messages.

    `timeout` (seconds) replaces both the connection and the read timeout when given."""
    try:
        from azure.storage.blob import BlobServiceClient, LinearRetry
    except ImportError:
        raise ConfigError(
            "Uploading to Azure Blob Storage needs azure-storage-blob: "
            "pip install 'coverctl[azure]'."
        ) from None

    value = connection_string.reveal() if connection_string else ""
    if not value.strip():
        raise ConfigError(f"{ENV_VAR} is empty: set it to the storage account's connection string.")
    policy = LinearRetry(
        initial_backoff=_BACKOFF, random_jitter_range=_JITTER, retry_total=max(retries, 0)
    )
    try:
        service = BlobServiceClient.from_connection_string(
            value,
            retry_policy=policy,
            connection_timeout=timeout if timeout is not None else _CONNECTION_TIMEOUT,
            read_timeout=timeout if timeout is not None else _READ_TIMEOUT,
        )
        host = urlsplit(service.url).hostname or "the storage endpoint"
        port = urlsplit(service.url).port
    except Exception:  # ValueError, binascii.Error, ...: their text may quote the string.
        raise ConfigError(
            f"{ENV_VAR} is not a valid Azure Storage connection string: expected "
            "'DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=...' "
            "or one with BlobEndpoint=..."
        ) from None
    endpoint = f"{host}:{port}" if port else host
    with service:
        yield service, endpoint


@contextmanager
def _mapped_errors(host: str) -> Iterator[None]:
    """Turn azure-core exceptions into coverctl errors that name `host` and no secret."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except ClientAuthenticationError as exc:
        if type(exc).__name__ == "AzureSigningError":
            # The SDK could not sign the request: the key is malformed (its text would quote it).
            raise ConfigError(
                f"The account key in {ENV_VAR} is not valid (it must be base64): copy the "
                "connection string again from the storage account's access keys."
            ) from None
        raise _auth_error(exc) from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise ServiceUnreachable(
            f"Cannot reach {PROVIDER} at {host} ({_network_reason(exc)}): check the endpoint in "
            f"{ENV_VAR} and that the service is up."
        ) from None
    except HttpResponseError as exc:
        status = getattr(exc, "status_code", None)
        code = _error_code(exc)
        if status in (401, 403) or code in _AUTH_ERROR_CODES:
            raise _auth_error(exc) from None
        detail = f"{status} {code}" if code else str(status)
        raise CoverctlError(f"{PROVIDER} at {host} refused the request ({detail}).") from None


def _network_reason(exc: Exception) -> str:
    """'Connection refused', 'Name or service not known', a timeout: never the SDK's full text."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found.group(1).strip().rstrip(".")
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "timed out"
    return "connection failed"


def _auth_error(exc: Exception) -> CredentialRejected:
    code = _error_code(exc)
    return CredentialRejected(PROVIDER, ENV_VAR, detail=code or "")


def _error_code(exc: Exception) -> str | None:
    """The storage error code as Azure spells it ("ContainerNotFound"), or None."""
    code = getattr(exc, "error_code", None)
    if not code:
        return None
    return str(getattr(code, "value", code))


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
