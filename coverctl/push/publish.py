"""Publishing: upload checked pictures to Azure Blob Storage, push stored rows to Supabase or
PostgreSQL. The library under `coverctl upload` and `coverctl push`; it never prints.

Uploads
-------
Each file is read once (at most `MAX_IMAGE_BYTES` + 1 bytes) and those very bytes are checked by
`coverctl.images` (the content decides the type; corrupt, truncated, HTML, oversized and
decompression-bomb files are refused) and then uploaded, so what is stored is what was checked.
Character images go to the `images` container as `anonymous_{uuid}.{ext}`, avatars to `avatars` as
`avatar_{user}_{uuid}.{ext}`, the extension and Content-Type following the content.

With a character and title, the upload is also recorded in the local store, as source
`ai_generated` (quality 80). The contract has no "uploaded" source, and the design stores uploaded
character pictures exactly like generated ones (`anonymous_*` in `images`), which the resolver's
stored-image step serves as `ai_generated` with quality 80 whatever the row says; recording it so
keeps the row, the resolver's answer and the remote table's CHECK constraint in agreement.
`character_specific` (100) stays reserved for curated local override files.

Order and atomicity: check, then upload, then record. A failed check or upload records nothing;
a failed record deletes the blob just uploaded (or, if that fails too, reports its URL as an
orphan to delete by hand).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coverctl.constants import MAX_FIELD_LENGTH, QualityScore, Source
from coverctl.errors import ConfigError, CoverctlError, ImageRejected, UsageError
from coverctl.redact import scrub

if TYPE_CHECKING:
    from coverctl.config import Secret, Settings
    from coverctl.images import ImageInfo
    from coverctl.push.rows import PushReport
    from coverctl.store.interfaces import ImageStore

__all__ = [
    "AZURE_ENV_VAR",
    "DSN_ENV_VAR",
    "KINDS",
    "UPLOADED_QUALITY",
    "UPLOADED_SOURCE",
    "UploadRequest",
    "UploadResult",
    "parse_since",
    "push_postgres",
    "push_supabase",
    "read_image",
    "stored_rows",
    "upload_file",
    "upload_files",
]

AZURE_ENV_VAR = "AZURE_STORAGE_CONNECTION_STRING"
DSN_ENV_VAR = "COVERCTL_POSTGRES_DSN"
KINDS: tuple[str, ...] = ("character", "avatar")
UPLOADED_SOURCE = Source.AI_GENERATED
UPLOADED_QUALITY = QualityScore.AI_GENERATED
# Formats a blob may be stored in (the extensions push.azure knows); GIF and BMP pass the image
# checks but are refused here with a request to convert them.
UPLOADABLE_MIMES: Mapping[str, str] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
}


# --- uploads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadRequest:
    """What to do with every file of one `coverctl upload`."""

    kind: str = "character"
    user: str | None = None
    character: str | None = None
    title: str | None = None
    variants: tuple[str, ...] = ()  # extra encodings to upload beside the original: WEBP, AVIF

    @property
    def records_row(self) -> bool:
        return self.character is not None


@dataclass
class UploadResult:
    """The outcome for one file: uploaded (with its URL, and row when recorded) or failed."""

    path: Path
    ok: bool
    error: str | None = None
    url: str | None = None
    container: str | None = None
    blob_name: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None
    width: int | None = None
    height: int | None = None
    phash: str | None = None
    row_id: str | None = None
    replaced_url: str | None = None  # the URL the recorded row pointed to before
    orphan_url: str | None = None  # a blob left behind that nothing refers to
    recorded: dict[str, Any] | None = field(default=None)
    variant_urls: dict[str, str] = field(default_factory=dict)  # MIME type -> blob URL
    variant_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "status": "uploaded" if self.ok else "failed",
            "url": self.url,
            "container": self.container,
            "blob": self.blob_name,
            "content_type": self.content_type,
            "bytes": self.size_bytes,
            "width": self.width,
            "height": self.height,
            "phash": self.phash,
            "recorded": self.recorded,
            "error": self.error,
            "orphan_url": self.orphan_url,
            "variants": dict(self.variant_urls),
            "variant_errors": list(self.variant_errors),
        }


def check_request(request: UploadRequest, n_paths: int) -> UploadRequest:
    """`request` cleaned, or UsageError saying which flags do not fit together."""
    from coverctl.names import normalize
    from coverctl.push.azure import new_blob_name

    if request.kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}, got {request.kind!r}.")
    user = request.user.strip() if request.user is not None else None
    if request.kind == "avatar":
        if not user:
            raise UsageError("--kind avatar needs --user USER (the avatar's owner).")
        new_blob_name("avatar", user)  # UsageError when nothing usable is left of the name
        if request.character is not None or request.title is not None:
            raise UsageError("--character/--title record character images, not avatars.")
    elif user:
        raise UsageError("--user only applies to --kind avatar.")
    character = _clean(request.character, "--character")
    title = _clean(request.title, "--title")
    if (character is None) != (title is None):
        raise UsageError("--character and --title go together: give both or neither.")
    if character is not None and title is not None:
        if not normalize(character) or not normalize(title):
            raise UsageError("--character and --title must contain letters or digits.")
        if n_paths != 1:
            # One (character, title) has one uploaded-image row: a second file would replace it.
            raise UsageError("--character/--title record one picture: give exactly one PATH.")
    return UploadRequest(request.kind, user, character, title, request.variants)


def _clean(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    if not value:
        raise UsageError(f"{flag} must not be empty.")
    if len(value) > MAX_FIELD_LENGTH:
        raise UsageError(f"{flag} is longer than {MAX_FIELD_LENGTH} characters.")
    return value


def check_paths(paths: Sequence[Path]) -> None:
    """UsageError for the first path that is not a file, before anything is uploaded."""
    if not paths:
        raise UsageError("Give at least one PATH to upload.")
    for path in paths:
        if not path.exists():
            raise UsageError(f"Cannot read {path}: no such file.")
        if not path.is_file():
            raise UsageError(f"Cannot upload {path}: not a file.")


def require_connection_string(settings: Settings) -> Secret:
    """The Azure connection string, or ConfigError naming the variable that is missing."""
    value = settings.azure_connection_string
    if not value:
        raise ConfigError(
            f"{AZURE_ENV_VAR} is not set: set it to the storage account's connection string "
            "(Azure portal: storage account > Access keys) to upload."
        )
    return value


def read_image(path: Path) -> tuple[bytes, ImageInfo]:
    """The file's bytes and what `coverctl.images` found in exactly those bytes.

    Raises ImageRejected (starting with the path) for anything that is not an uploadable picture.
    """
    from coverctl.images import MAX_IMAGE_BYTES, Use, inspect_file, inspect_image

    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise ImageRejected(f"Cannot read image file {path}: {exc.strerror or exc}.") from None
    if len(data) > MAX_IMAGE_BYTES:
        inspect_file(path, Use.PROFILE)  # raises the size rejection, naming the real size
        raise ImageRejected(f"{path}: Image is over the {MAX_IMAGE_BYTES // 2**20} MB limit.")
    try:
        info = inspect_image(data, Use.PROFILE)
    except ImageRejected as exc:
        raise ImageRejected(f"{path}: {exc.message}") from None
    if info.mime not in UPLOADABLE_MIMES:
        raise ImageRejected(
            f"{path}: {info.format} images are not uploaded; convert it to "
            f"{', '.join(UPLOADABLE_MIMES.values())}."
        )
    return data, info


def upload_files(
    paths: Sequence[Path], request: UploadRequest, settings: Settings
) -> Iterator[UploadResult]:
    """Check, upload (and record) each file in turn, yielding each outcome as it is known.

    Raises UsageError (flags that do not fit) and ConfigError (no connection string, rejected
    credentials, unreachable storage: every later file would fail the same way) before or between
    files; any other problem is one file's failed UploadResult.
    """
    request = check_request(request, len(paths))
    check_paths(paths)
    connection = require_connection_string(settings)
    store: ImageStore | None = None
    if request.records_row:
        from coverctl.store import open_store

        store = open_store(settings)  # opened first: a broken store stops before uploads
    try:
        for path in paths:
            yield upload_file(path, request, connection, store, backend_url=settings.backend_url)
    finally:
        if store is not None:
            store.close()


def upload_file(
    path: Path,
    request: UploadRequest,
    connection: Secret,
    store: ImageStore | None = None,
    *,
    backend_url: str | None = None,
) -> UploadResult:
    """Check, upload and (with a store and a character) record one file. See upload_files.

    The `images` container is private (design notes): with BACKEND_URL set, the row records the
    backend's public `/api/image-no-auth/{blob}` address instead of the blob URL.
    """
    from coverctl.push.azure import CONTAINER_FOR_KIND, new_blob_name, upload_blob

    try:
        data, info = read_image(path)
    except ImageRejected as exc:
        return UploadResult(path, ok=False, error=exc.message)

    container = CONTAINER_FOR_KIND[request.kind]
    blob_name = new_blob_name(request.kind, request.user, info.mime)  # type: ignore[arg-type]
    try:
        url = upload_blob(connection, container, blob_name, data, info.mime)
    except ConfigError:
        raise
    except CoverctlError as exc:
        return UploadResult(path, ok=False, error=f"{path}: upload failed: {exc.message}")

    result = UploadResult(
        path,
        ok=True,
        url=url,
        container=container,
        blob_name=blob_name,
        content_type=info.mime,
        size_bytes=len(data),
        width=info.width,
        height=info.height,
        phash=info.phash,
    )
    if store is not None and request.character is not None and request.title is not None:
        try:
            _record(store, result, request.character, request.title, backend_url)
        except BaseException as exc:
            failed = _roll_back(result, exc, connection)
            if not isinstance(exc, Exception):
                raise  # Ctrl-C: the blob is gone (or reported), now stop
            return failed
    if request.variants:
        _upload_variants(result, data, request.variants, connection)
    return result


VARIANT_EXTENSIONS: Mapping[str, str] = {"image/webp": ".webp", "image/avif": ".avif"}


def _upload_variants(
    result: UploadResult, data: bytes, formats: Sequence[str], connection: Secret
) -> None:
    """Upload re-encodings beside the original blob (same name, other extension).

    A variant is an optimisation: when one cannot be made (e.g. AVIF without libavif, which is
    skipped) or uploaded, the original stays and the problem is reported on the result.
    """
    from coverctl.images import make_variants
    from coverctl.push.azure import upload_blob

    assert result.blob_name is not None and result.container is not None
    stem = result.blob_name.rsplit(".", 1)[0]
    for mime, encoded in make_variants(data, formats).items():
        if mime == result.content_type:
            continue
        name = stem + VARIANT_EXTENSIONS.get(mime, "." + mime.rsplit("/", 1)[-1])
        try:
            result.variant_urls[mime] = upload_blob(
                connection, result.container, name, encoded, mime
            )
        except CoverctlError as exc:
            result.variant_errors.append(f"{mime} variant not uploaded: {exc.message}")


def _record(
    store: ImageStore,
    result: UploadResult,
    character: str,
    title: str,
    backend_url: str | None = None,
) -> None:
    from coverctl.constants import IMAGE_NO_AUTH_PATH
    from coverctl.names import normalize
    from coverctl.store.records import ImageRecord

    assert result.url is not None
    served_at = (
        f"{backend_url}{IMAGE_NO_AUTH_PATH}{result.blob_name}" if backend_url else result.url
    )
    character_key, title_key = normalize(character), normalize(title)
    before = store.find(character_key, title_key, [UPLOADED_SOURCE])
    row_id = store.upsert(
        ImageRecord(
            character_name=character,
            movie_title=title,
            character_key=character_key,
            title_key=title_key,
            image_url=served_at,
            source=UPLOADED_SOURCE,
            quality_score=UPLOADED_QUALITY,
            image_hash=result.phash,
            image_width=result.width,
            image_height=result.height,
        )
    )
    replaced = before[0]["image_url"] if before else None
    result.row_id = row_id
    result.replaced_url = replaced if replaced != served_at else None
    result.recorded = {
        "id": row_id,
        "image_url": served_at,
        "character_name": character,
        "movie_title": title,
        "source": UPLOADED_SOURCE,
        "quality_score": UPLOADED_QUALITY,
        "replaced_url": result.replaced_url,
    }


def _roll_back(result: UploadResult, exc: BaseException, connection: Secret) -> UploadResult:
    """Delete the blob whose row could not be written; the failed result says what happened."""
    from coverctl.push.azure import delete_blob

    assert result.container is not None and result.blob_name is not None
    if isinstance(exc, CoverctlError):
        reason = exc.message
    else:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    reason = scrub(reason, [connection.reveal()]).rstrip(".")
    failed = UploadResult(
        result.path,
        ok=False,
        content_type=result.content_type,
        size_bytes=result.size_bytes,
        width=result.width,
        height=result.height,
        phash=result.phash,
    )
    try:
        delete_blob(connection, result.container, result.blob_name)
    except CoverctlError as delete_exc:
        failed.orphan_url = result.url
        failed.error = (
            f"{result.path}: recording it in the store failed ({reason}), and the uploaded blob "
            f"could not be deleted ({delete_exc.message.rstrip('.')}): delete {result.url} by hand."
        )
        return failed
    failed.error = (
        f"{result.path}: recording it in the store failed ({reason}); the uploaded blob was "
        "deleted, nothing was kept."
    )
    return failed


# --- push ----------------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)
_DURATION = re.compile(r"(?:\d+\s*[smhdw]\s*)+", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """The moment `--since` names, in UTC.

    Accepts a relative duration back from `now` (`45m`, `12h`, `7d`, `2w`, `1d12h`), an ISO date
    (`2026-01-31`: midnight UTC) or an ISO date and time (`2026-01-31T08:00`, `...+02:00`, `...Z`;
    without an offset it is UTC). Raises UsageError otherwise.
    """
    value = text.strip()
    if _DURATION.fullmatch(value):
        seconds = sum(
            int(number) * _UNIT_SECONDS[unit.lower()]
            for number, unit in _DURATION_PART.findall(value)
        )
        try:
            return (now or datetime.now(UTC)).astimezone(UTC) - timedelta(seconds=seconds)
        except OverflowError:
            raise UsageError(f"--since {text!r} reaches too far back.") from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since expects a duration such as 7d, 12h or 30m, or an ISO date/time such as "
            f"2026-01-31 or 2026-01-31T08:00:00Z; got {text!r}."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def stored_rows(store: ImageStore, since: datetime | None = None) -> list[dict[str, Any]]:
    """Every stored row, or those with `updated_at >= since`, oldest change first."""
    return list(store.rows_changed_since(since))


def _load_rows(settings: Settings, since: datetime | None) -> list[dict[str, Any]]:
    from coverctl.store import open_store

    store = open_store(settings)
    try:
        return stored_rows(store, since)
    finally:
        store.close()


def push_supabase(settings: Settings, *, since: datetime | None = None) -> PushReport:
    """Upsert the stored rows (changed since `since`) into Supabase's `character_images`."""
    from coverctl.push import supabase

    if not settings.supabase_url:
        raise ConfigError(
            f"{supabase.URL_VAR} is not set: set it to the project URL, such as "
            "https://PROJECT.supabase.co."
        )
    if not settings.supabase_key:
        raise ConfigError(f"{supabase.KEY_VAR} is not set: use the project's service_role key.")
    rows = _load_rows(settings, since)
    return supabase.push_rows(settings.supabase_url, settings.supabase_key, rows)


def push_postgres(
    settings: Settings, dsn: str, *, since: datetime | None = None, create_table: bool = False
) -> PushReport:
    """Upsert the stored rows (changed since `since`) into `character_images` at `dsn`."""
    from coverctl.push import postgres

    if not dsn.strip():
        raise ConfigError(f"No PostgreSQL DSN: pass --dsn or set {DSN_ENV_VAR}.")
    postgres.describe_dsn(dsn)  # a DSN that cannot be parsed fails before the store is read
    rows = _load_rows(settings, since)
    return postgres.push_rows(dsn, rows, create_table=create_table)
