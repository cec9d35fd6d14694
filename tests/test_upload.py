"""`coverctl upload` against a real Azurite (tests/services.py) and the real local store."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.push.publish import UploadRequest, check_request
from coverctl.store.db import SqliteStore
from tests.services import AzuriteService

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def picture(fmt: str, size: tuple[int, int] = (160, 200), seed: int = 1) -> bytes:
    """A real picture with some detail (gradient and blocks), encoded as `fmt`."""
    width, height = size
    x = np.arange(width)[None, :]
    y = np.arange(height)[:, None]
    channels = (
        (x * 7 + seed * 40 + 0 * y) % 256,
        (y * 5 + 0 * x) % 256,
        ((x // 20 + y // 20) * 60) % 256,
    )
    image = Image.fromarray(np.stack(channels, axis=-1).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def blob_names(azurite: AzuriteService, container: str) -> set[str]:
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        client = service.get_container_client(container)
        if not client.exists():
            return set()
        return {blob.name for blob in client.list_blobs()}


def download(azurite: AzuriteService, container: str, name: str) -> tuple[bytes, str | None]:
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        blob = service.get_blob_client(container, name)
        return (
            blob.download_blob().readall(),
            blob.get_blob_properties().content_settings.content_type,
        )


def stored_rows() -> list[dict[str, Any]]:
    store = SqliteStore(Settings.from_env().db_path)
    try:
        return list(store.rows_changed_since())
    finally:
        store.close()


@pytest.fixture
def storage(azurite: AzuriteService, monkeypatch: pytest.MonkeyPatch) -> AzuriteService:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    return azurite


@pytest.mark.azurite
def test_uploads_jpeg_and_png_named_jpg_by_their_content(
    storage: AzuriteService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jpeg = picture("JPEG")
    png = picture("PNG", seed=2)
    before = blob_names(storage, "images")
    code, out, err = cli(
        capsys,
        "upload",
        str(write(tmp_path, "real.jpg", jpeg)),
        str(write(tmp_path, "actually-png.jpg", png)),
        "--json",
    )
    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["status"] for r in results] == ["uploaded", "uploaded"]
    first, second = results
    assert re.fullmatch(rf"anonymous_{UUID}\.jpg", first["blob"])
    assert re.fullmatch(rf"anonymous_{UUID}\.png", second["blob"])  # the content decides
    assert first["url"] == f"{storage.blob_endpoint}/images/{first['blob']}"
    assert (first["width"], first["height"]) == (160, 200)
    assert re.fullmatch(r"[0-9a-f]{16}", first["phash"])
    assert first["recorded"] is None and stored_rows() == []

    assert download(storage, "images", first["blob"]) == (jpeg, "image/jpeg")
    assert download(storage, "images", second["blob"]) == (png, "image/png")
    assert blob_names(storage, "images") - before == {first["blob"], second["blob"]}


@pytest.mark.azurite
def test_human_output_prints_the_blob_url(
    storage: AzuriteService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "upload", str(write(tmp_path, "a.png", picture("PNG"))))
    assert code == 0
    url = re.search(r"http://\S+/images/anonymous_\S+\.png", out)
    assert url is not None
    name = url.group(0).rsplit("/", 1)[1]
    assert name in blob_names(storage, "images")


@pytest.mark.azurite
@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("corrupt.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "truncated or corrupt"),
        ("page.jpg", b"<!DOCTYPE html><html><body>404</body></html>", "HTML page"),
        ("truncated.jpg", picture("JPEG", (400, 400))[:1500], "truncated or corrupt"),
        ("huge.jpg", b"\xff\xd8\xff\xe0" + bytes(12 * 1024 * 1024), "over the 10 MB limit"),
    ],
)
def test_bad_files_are_rejected_and_nothing_is_uploaded_or_recorded(
    storage: AzuriteService,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    data: bytes,
    message: str,
) -> None:
    before = blob_names(storage, "images")
    path = write(tmp_path, name, data)
    code, out, err = cli(capsys, "upload", str(path), "--character", "Rey", "--title", "Star Wars")
    assert code == 3
    assert message in err and str(path) in err
    assert out == ""
    assert blob_names(storage, "images") == before
    assert stored_rows() == []


@pytest.mark.azurite
def test_one_bad_file_among_good_ones_exits_three_and_the_rest_upload(
    storage: AzuriteService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "good.jpg", picture("JPEG"))
    bad = write(tmp_path, "bad.jpg", b"<html><body>nope</body></html>")
    code, out, _ = cli(capsys, "upload", str(bad), str(good), "--json")
    assert code == 3
    results = {r["path"]: r for r in map(json.loads, out.splitlines())}
    assert results[str(bad)]["status"] == "failed" and "HTML" in results[str(bad)]["error"]
    assert results[str(bad)]["url"] is None
    assert results[str(good)]["status"] == "uploaded"
    assert results[str(good)]["blob"] in blob_names(storage, "images")


@pytest.mark.azurite
def test_avatar_goes_to_avatars_named_after_the_user(
    storage: AzuriteService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "me.webp", picture("WEBP"))
    code, out, _ = cli(capsys, "upload", str(path), "--kind", "avatar", "--user", "ada", "--json")
    assert code == 0
    result = json.loads(out)
    assert re.fullmatch(rf"avatar_ada_{UUID}\.webp", result["blob"])
    assert result["container"] == "avatars"
    assert download(storage, "avatars", result["blob"])[1] == "image/webp"


def test_avatar_without_user_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true")
    path = write(tmp_path, "me.png", picture("PNG"))
    code, _, err = cli(capsys, "upload", str(path), "--kind", "avatar")
    assert code == 2 and "--user" in err


@pytest.mark.parametrize(
    ("request_", "paths", "message"),
    [
        (UploadRequest(kind="banner"), 1, "--kind must be one of"),
        (UploadRequest(kind="avatar", user="ada", character="Rey", title="X"), 1, "not avatars"),
        (UploadRequest(user="ada"), 1, "--user only applies"),
        (UploadRequest(character="Rey"), 1, "go together"),
        (UploadRequest(character="Rey", title="Star Wars"), 2, "exactly one PATH"),
        (UploadRequest(character="  ", title="Star Wars"), 1, "must not be empty"),
    ],
)
def test_flags_that_do_not_fit_together_are_refused(
    request_: UploadRequest, paths: int, message: str
) -> None:
    from coverctl.errors import UsageError

    with pytest.raises(UsageError, match=re.escape(message)):
        check_request(request_, paths)


def test_missing_connection_string_exits_four_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "a.jpg", picture("JPEG"))
    code, out, err = cli(capsys, "upload", str(path))
    assert code == 4
    assert "AZURE_STORAGE_CONNECTION_STRING" in err and out == ""


def test_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "upload", str(tmp_path / "nope.jpg"))
    assert code == 2 and "nope.jpg" in err


@pytest.mark.azurite
def test_rejected_account_key_exits_four_without_the_key(
    azurite: AzuriteService,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        azurite.connection_string.replace(azurite.account_key, wrong_key),
    )
    path = write(tmp_path, "a.jpg", picture("JPEG"))
    code, out, err = cli(capsys, "upload", str(path))
    assert code == 4
    assert "AZURE_STORAGE_CONNECTION_STRING" in err
    assert wrong_key not in out + err


@pytest.mark.azurite
def test_character_and_title_record_a_row_with_hash_and_dimensions(
    storage: AzuriteService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "rey.jpg", picture("JPEG", (300, 400)))
    args = ("upload", str(path), "--character", "Rey", "--title", "Star Wars", "--json")
    code, out, _ = cli(capsys, *args)
    assert code == 0
    result = json.loads(out)
    [row] = stored_rows()
    assert row["image_url"] == result["url"]
    assert (row["character_name"], row["movie_title"]) == ("Rey", "Star Wars")
    assert (row["character_key"], row["title_key"]) == ("rey", "star wars")
    assert (row["source"], row["quality_score"]) == ("ai_generated", 80)
    assert (row["image_width"], row["image_height"]) == (300, 400)
    assert row["image_hash"] == result["phash"]
    assert result["recorded"]["id"] == row["id"]

    # A second picture for the same character replaces the row and says what it replaced.
    code, out, _ = cli(capsys, *args)
    second = json.loads(out)
    [row] = stored_rows()
    assert row["image_url"] == second["url"] != result["url"]
    assert second["recorded"]["replaced_url"] == result["url"]


@pytest.mark.azurite
def test_with_backend_url_the_row_records_the_backends_public_address(
    storage: AzuriteService,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKEND_URL", "https://backend.example")
    path = write(tmp_path, "rey.jpg", picture("JPEG", (300, 400)))
    code, out, _ = cli(
        capsys, "upload", str(path), "--character", "Rey", "--title", "Star Wars", "--json"
    )
    assert code == 0
    result = json.loads(out)
    [row] = stored_rows()
    expected = f"https://backend.example/api/image-no-auth/{result['blob']}"
    assert row["image_url"] == result["recorded"]["image_url"] == expected
    # resolve serves it as the stored AI image of that character
    code, out, _ = cli(capsys, "resolve", "Rey", "--title", "Star Wars", "--no-network", "--json")
    assert code == 0 and json.loads(out)["image_url"] == expected


@pytest.mark.azurite
def test_failed_store_write_deletes_the_uploaded_blob(
    storage: AzuriteService,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from coverctl.errors import StoreError

    uploaded: list[str] = []
    original_upload = __import__("coverctl.push.azure", fromlist=["upload_blob"]).upload_blob

    def spy_upload(*args: Any, **kwargs: Any) -> str:
        url: str = original_upload(*args, **kwargs)
        uploaded.append(url)
        return url

    def broken_upsert(self: SqliteStore, record: Any) -> str:
        raise StoreError("disk I/O error")

    monkeypatch.setattr("coverctl.push.azure.upload_blob", spy_upload)
    monkeypatch.setattr(SqliteStore, "upsert", broken_upsert)
    path = write(tmp_path, "rey.jpg", picture("JPEG"))
    code, _, err = cli(capsys, "upload", str(path), "--character", "Rey", "--title", "X")

    assert code == 3
    assert "disk I/O error" in err and "blob was deleted" in err
    [url] = uploaded  # it really was uploaded first ...
    assert url.rsplit("/", 1)[1] not in blob_names(storage, "images")  # ... and is gone now
    assert stored_rows() == []


@pytest.mark.azurite
def test_undeletable_blob_after_a_failed_store_write_is_reported_as_an_orphan(
    storage: AzuriteService,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from coverctl.errors import ServiceUnreachable

    def broken_upsert(self: SqliteStore, record: Any) -> str:
        raise RuntimeError("database is locked")

    def unreachable(*args: Any, **kwargs: Any) -> bool:
        raise ServiceUnreachable("Cannot reach Azure Blob Storage at 127.0.0.1 (timed out).")

    monkeypatch.setattr(SqliteStore, "upsert", broken_upsert)
    monkeypatch.setattr("coverctl.push.azure.delete_blob", unreachable)
    path = write(tmp_path, "rey.jpg", picture("JPEG"))
    code, out, _ = cli(capsys, "upload", str(path), "--character", "Rey", "--title", "X", "--json")
    assert code == 3
    result = json.loads(out)
    assert result["status"] == "failed" and result["url"] is None
    orphan = result["orphan_url"]
    assert orphan and orphan in result["error"] and "by hand" in result["error"]
    assert orphan.rsplit("/", 1)[1] in blob_names(storage, "images")
    assert "database is locked" in result["error"]


@pytest.mark.azurite
def test_webp_variant_is_uploaded_beside_the_original(
    storage: AzuriteService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from PIL import Image

    code, out, err = cli(
        capsys,
        "upload",
        str(write(tmp_path, "a.jpg", picture("JPEG"))),
        "--variant",
        "webp",
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)
    webp_url = result["variants"]["image/webp"]
    webp_name = result["blob"].rsplit(".", 1)[0] + ".webp"
    assert webp_url.endswith("/images/" + webp_name)
    data, content_type = download(storage, "images", webp_name)
    assert content_type == "image/webp"
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.format == "WEBP" and decoded.size == (160, 200)


def test_unknown_variant_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(
        capsys, "upload", str(write(tmp_path, "a.jpg", picture("JPEG"))), "--variant", "tiff"
    )
    assert code == 2 and "--variant" in err
