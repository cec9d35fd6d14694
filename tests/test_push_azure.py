"""coverctl.push.azure against a real Azurite (started once per session by tests/services.py)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from coverctl.config import Secret
from coverctl.errors import (
    ConfigError,
    CoverctlError,
    CredentialRejected,
    ServiceUnreachable,
    UsageError,
)
from coverctl.push.azure import (
    CONTAINER_FOR_KIND,
    blob_exists,
    delete_blob,
    new_blob_name,
    upload_blob,
)
from tests.services import AzuriteService, free_port

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _container() -> str:
    # Each test its own container, so tests stay independent on the shared emulator.
    return f"t{uuid.uuid4().hex[:20]}"


def _download(azurite: AzuriteService, container: str, name: str) -> tuple[bytes, str | None]:
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        blob = service.get_blob_client(container, name)
        data = blob.download_blob().readall()
        content_type = blob.get_blob_properties().content_settings.content_type
    return data, content_type


def _container_exists(azurite: AzuriteService, container: str) -> bool:
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        return bool(service.get_container_client(container).exists())


# --- names (no service needed) -------------------------------------------------------------------


def test_character_names_are_anonymous_uuid_with_the_content_types_extension() -> None:
    assert re.fullmatch(rf"anonymous_{UUID}\.jpg", new_blob_name("character", None))
    assert re.fullmatch(rf"anonymous_{UUID}\.jpg", new_blob_name("character", None, "image/jpeg"))
    assert re.fullmatch(rf"anonymous_{UUID}\.png", new_blob_name("character", None, "image/png"))
    assert re.fullmatch(
        rf"anonymous_{UUID}\.webp", new_blob_name("character", "ignored", "image/webp")
    )
    assert new_blob_name("character", None) != new_blob_name("character", None)


def test_avatar_names_carry_a_sanitised_user() -> None:
    assert re.fullmatch(rf"avatar_alice_{UUID}\.jpg", new_blob_name("avatar", "alice"))
    assert re.fullmatch(
        rf"avatar_bob-smith_{UUID}\.png", new_blob_name("avatar", "bob smith", "image/png")
    )
    assert re.fullmatch(rf"avatar_a-b_{UUID}\.jpg", new_blob_name("avatar", "../a/b"))


def test_bad_name_requests_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="user"):
        new_blob_name("avatar", None)
    with pytest.raises(UsageError, match="user"):
        new_blob_name("avatar", "///")
    with pytest.raises(UsageError, match="image/gif"):
        new_blob_name("character", None, "image/gif")
    with pytest.raises(UsageError, match="kind"):
        new_blob_name("poster", None)  # type: ignore[arg-type]


def test_containers_follow_the_design() -> None:
    assert CONTAINER_FOR_KIND == {"character": "images", "avatar": "avatars"}


# --- against Azurite -----------------------------------------------------------------------------


@pytest.mark.azurite
def test_upload_creates_the_container_and_stores_bytes_and_content_type(
    azurite: AzuriteService,
) -> None:
    container = _container()
    assert not _container_exists(azurite, container)
    name = new_blob_name("character", None, "image/jpeg")
    key = Secret(azurite.connection_string)

    url = upload_blob(key, container, name, JPEG, "image/jpeg")

    assert url == f"{azurite.blob_endpoint}/{container}/{name}"
    assert _container_exists(azurite, container)
    assert blob_exists(key, container, name)
    data, content_type = _download(azurite, container, name)
    assert data == JPEG
    assert content_type == "image/jpeg"


@pytest.mark.azurite
def test_upload_into_an_existing_container_and_png_avatar(azurite: AzuriteService) -> None:
    key = Secret(azurite.connection_string)
    container = _container()
    first = new_blob_name("avatar", "alice", "image/png")
    second = new_blob_name("avatar", "alice", "image/png")
    upload_blob(key, container, first, PNG, "image/png")
    upload_blob(key, container, second, PNG[::-1], "image/png")  # container exists now

    assert _download(azurite, container, first) == (PNG, "image/png")
    assert _download(azurite, container, second) == (PNG[::-1], "image/png")


@pytest.mark.azurite
def test_upload_does_not_overwrite_unless_asked(azurite: AzuriteService) -> None:
    key = Secret(azurite.connection_string)
    container, name = _container(), new_blob_name("character", None)
    upload_blob(key, container, name, b"first", "image/jpeg")

    with pytest.raises(CoverctlError, match="already exists") as caught:
        upload_blob(key, container, name, b"second", "image/jpeg")
    assert type(caught.value) is CoverctlError
    assert _download(azurite, container, name)[0] == b"first"

    upload_blob(key, container, name, b"second", "image/webp", overwrite=True)
    assert _download(azurite, container, name) == (b"second", "image/webp")


@pytest.mark.azurite
def test_delete_and_exists(azurite: AzuriteService) -> None:
    key = Secret(azurite.connection_string)
    container, name = _container(), new_blob_name("character", None)
    assert blob_exists(key, container, name) is False  # no container yet
    upload_blob(key, container, name, JPEG, "image/jpeg")
    assert blob_exists(key, container, name) is True

    assert delete_blob(key, container, name) is True
    assert blob_exists(key, container, name) is False
    assert delete_blob(key, container, name) is False
    with pytest.raises(CoverctlError, match="no blob"):
        delete_blob(key, container, name, missing_ok=False)


@pytest.mark.azurite
def test_invalid_container_name_is_a_clear_error(azurite: AzuriteService) -> None:
    with pytest.raises(CoverctlError, match="InvalidResourceName"):
        upload_blob(Secret(azurite.connection_string), "Bad_Name", "x.jpg", JPEG, "image/jpeg")


@pytest.mark.azurite
@pytest.mark.parametrize("operation", ["upload", "exists", "delete"])
def test_wrong_account_key_is_credential_rejected_without_the_key(
    azurite: AzuriteService, operation: str
) -> None:
    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
    secret = Secret(azurite.connection_string.replace(azurite.account_key, wrong_key))
    container, name = _container(), new_blob_name("character", None)

    with pytest.raises(CredentialRejected) as caught:
        if operation == "upload":
            upload_blob(secret, container, name, JPEG, "image/jpeg")
        elif operation == "exists":
            blob_exists(secret, container, name)
        else:
            delete_blob(secret, container, name)

    error = caught.value
    assert error.provider == "Azure Blob Storage"
    assert error.env_var == "AZURE_STORAGE_CONNECTION_STRING"
    text = str(error) + repr(error.args)
    assert wrong_key not in text and azurite.account_key not in text
    assert "AccountKey" not in text
    assert error.__cause__ is None and error.__suppress_context__
    assert not _container_exists(azurite, container)


@pytest.mark.azurite
def test_closed_port_is_service_unreachable_naming_the_host_not_the_key(
    azurite: AzuriteService,
) -> None:
    port = free_port()  # nothing listens there
    secret = Secret(azurite.connection_string.replace(f":{azurite.port}/", f":{port}/"))

    with pytest.raises(ServiceUnreachable) as caught:
        upload_blob(
            secret, "images", new_blob_name("character", None), JPEG, "image/jpeg", retries=0
        )

    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "Connection refused" in message
    assert azurite.account_key not in message and "AccountKey" not in message
    assert caught.value.exit_code == 4


@pytest.mark.parametrize(
    "connection_string",
    ["garbage-without-any-equals-sign", "", "   "],
)
def test_malformed_connection_string_is_config_error(connection_string: str) -> None:
    with pytest.raises(ConfigError) as caught:
        upload_blob(Secret(connection_string), "images", "x.jpg", JPEG, "image/jpeg")
    assert type(caught.value) is ConfigError
    assert "AZURE_STORAGE_CONNECTION_STRING" in str(caught.value)


@pytest.mark.azurite
def test_key_that_is_not_base64_is_config_error_without_the_key(azurite: AzuriteService) -> None:
    bad_key = "not-base64-$ecret-value!!"
    secret = Secret(azurite.connection_string.replace(azurite.account_key, bad_key))
    with pytest.raises(ConfigError) as caught:
        upload_blob(secret, _container(), "x.jpg", JPEG, "image/jpeg")
    assert bad_key not in str(caught.value)
    assert "AZURE_STORAGE_CONNECTION_STRING" in str(caught.value)


@pytest.mark.azurite
def test_returned_url_never_carries_a_sas_token(azurite: AzuriteService) -> None:
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    token = generate_account_sas(
        azurite.account_name,
        azurite.account_key,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(read=True, write=True, create=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    secret = Secret(f"BlobEndpoint={azurite.blob_endpoint};SharedAccessSignature={token}")
    container, name = _container(), new_blob_name("character", None)

    url = upload_blob(secret, container, name, JPEG, "image/jpeg")

    assert url == f"{azurite.blob_endpoint}/{container}/{name}"
    assert _download(azurite, container, name) == (JPEG, "image/jpeg")


@pytest.mark.azurite
def test_forged_sas_is_rejected_without_quoting_the_token(azurite: AzuriteService) -> None:
    token = "sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=c2VjcmV0LXNpZw%3D%3D"
    secret = Secret(f"BlobEndpoint={azurite.blob_endpoint};SharedAccessSignature={token}")
    with pytest.raises(CredentialRejected) as caught:
        upload_blob(secret, _container(), "x.jpg", JPEG, "image/jpeg")
    assert "sig=" not in str(caught.value) and "c2VjcmV0" not in str(caught.value)
