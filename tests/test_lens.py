"""`coverctl lens` against a SerpApi fake with the real reply shapes: URL and uploaded-file
searches, the permanent cache, and one sentence (and the right exit code) for every failure."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.errors import BillingError, CredentialRejected, NoResult, ServiceFailed
from coverctl.images import inspect_image
from coverctl.services.lens import MAX_UPLOAD_BYTES, lens_search, parse_lens, reencode_for_upload
from tests.fakes.base import serve
from tests.fakes.serpapi import (
    OUT_OF_SEARCHES_BODY,
    THROUGHPUT_BODY,
    VALID_KEY,
    FakeSerpApi,
    lens_reply,
)
from tests.imagegen import jpeg_bytes, png_bytes
from tests.servicing import FAST_SERVICE_RATES, ServiceHarness

PICTURE_URL = "https://image.tmdb.org/t/p/w500/qJ2tW6WMUDux911r6m7haRef0WH.jpg"


@pytest.fixture
def serpapi() -> FakeSerpApi:
    fake = FakeSerpApi()
    fake.replies[PICTURE_URL] = lens_reply(PICTURE_URL)
    return fake


@pytest.fixture
def lens(make_settings: Callable[..., Settings], serpapi: FakeSerpApi) -> ServiceHarness:
    return ServiceHarness(
        make_settings(SERPAPI_API_KEY=VALID_KEY, **FAST_SERVICE_RATES), {"serpapi.com": serpapi}
    )


def search(harness: ServiceHarness, image: str, **kwargs: bool):  # type: ignore[no-untyped-def]
    return harness.run(lambda r: lens_search(r.context, image, **kwargs))


def test_url_search_returns_visual_matches_and_knowledge_graph(
    lens: ServiceHarness, serpapi: FakeSerpApi
) -> None:
    result = search(lens, PICTURE_URL)
    assert [m.source for m in result.visual_matches] == ["IMDb", "wall.example.org"]
    first = result.visual_matches[0]
    assert first.title.startswith("The Dark Knight (2008)")
    assert first.link.startswith("https://www.imdb.com/")
    assert first.thumbnail.startswith("https://encrypted-tbn1.gstatic.com/")
    assert [(k.title, k.subtitle) for k in result.knowledge_graph] == [
        ("The Dark Knight", "2008 film")
    ]
    assert result.cached is False
    (request,) = serpapi.requests
    assert request.url.path == "/search.json"
    assert dict(request.url.params) == {
        "engine": "google_lens",
        "url": PICTURE_URL,
        "api_key": VALID_KEY,
    }


def test_a_second_search_of_the_same_url_is_answered_from_the_cache(
    lens: ServiceHarness, serpapi: FakeSerpApi
) -> None:
    first = search(lens, PICTURE_URL)
    again = search(lens, PICTURE_URL)
    assert again.cached is True
    assert again.visual_matches == first.visual_matches
    assert serpapi.searches() == 1  # billed once
    search(lens, PICTURE_URL, refresh=True)
    assert serpapi.searches() == 2


def test_a_local_file_is_reencoded_under_500_kb_uploaded_and_searched_by_its_id(
    lens: ServiceHarness, serpapi: FakeSerpApi, tmp_path: Path
) -> None:
    big = png_bytes(1400, 1400, "noise", seed=3)
    assert len(big) > MAX_UPLOAD_BYTES  # the upload limit really had to be met
    path = tmp_path / "frame.png"
    path.write_bytes(big)
    serpapi.replies["xokJFnic22FmYZ6Sb0000"] = lens_reply("uploaded")
    result = search(lens, str(path))
    assert result.query == str(path)
    assert len(result.visual_matches) == 2
    upload, searched = serpapi.requests
    assert upload.method == "POST" and upload.url.path == "/image"
    assert VALID_KEY not in str(upload.url)  # the key is a form field, not in the URL
    (uploaded,) = serpapi.uploads.values()
    assert len(uploaded) <= MAX_UPLOAD_BYTES
    assert inspect_image(uploaded).format == "JPEG"
    assert searched.url.params["image_id"] == "xokJFnic22FmYZ6Sb0000"
    assert "url" not in searched.url.params
    # The same bytes again: the cache answers, nothing is uploaded or billed.
    assert search(lens, str(path)).cached is True
    assert len(serpapi.requests) == 2


def test_reencoding_keeps_a_small_picture_whole_and_shrinks_a_big_one() -> None:
    small = jpeg_bytes(400, 300, "scene", seed=1)
    kept = inspect_image(reencode_for_upload(small))
    assert (kept.width, kept.height) == (400, 300)
    shrunk = reencode_for_upload(png_bytes(1400, 1400, "noise", seed=4), max_bytes=100 * 1024)
    info = inspect_image(shrunk)
    assert len(shrunk) <= 100 * 1024 and info.width < 1400 and info.width == info.height


def test_no_results_is_no_result_and_is_not_cached(
    lens: ServiceHarness, serpapi: FakeSerpApi
) -> None:
    unknown = "https://example.org/unknown.jpg"
    with pytest.raises(NoResult, match="Google Lens found nothing"):
        search(lens, unknown)
    serpapi.replies[unknown] = lens_reply(unknown)
    assert search(lens, unknown).visual_matches  # asked again, not remembered as a miss


def test_invalid_key_is_a_credential_error_naming_the_variable(
    make_settings: Callable[..., Settings], serpapi: FakeSerpApi
) -> None:
    harness = ServiceHarness(
        make_settings(SERPAPI_API_KEY="wrong-key-1234", **FAST_SERVICE_RATES),
        {"serpapi.com": serpapi},
    )
    with pytest.raises(CredentialRejected) as caught:
        search(harness, PICTURE_URL)
    assert "SERPAPI_API_KEY" in caught.value.message
    assert "wrong-key-1234" not in caught.value.message


def test_throughput_429_waits_out_retry_after_and_succeeds(
    lens: ServiceHarness, serpapi: FakeSerpApi
) -> None:
    serpapi.fail_next(r"/search\.json", 429, THROUGHPUT_BODY, headers={"Retry-After": "0.05"})
    result = search(lens, PICTURE_URL)
    assert result.visual_matches
    assert serpapi.searches() == 2
    stats = lens.stats["serpapi"]
    assert stats["rate_limited"] == 1
    assert stats["paused_s"] >= 0.05  # the provider's gate was paused for the Retry-After


def test_out_of_searches_429_is_a_billing_error_at_once(
    lens: ServiceHarness, serpapi: FakeSerpApi
) -> None:
    serpapi.fail_next(r"/search\.json", 429, OUT_OF_SEARCHES_BODY, times=5)
    with pytest.raises(BillingError, match="run out of searches"):
        search(lens, PICTURE_URL)
    assert serpapi.searches() == 1  # waiting cannot fix an empty plan: no retry


def test_server_errors_are_retried_then_reported_as_unavailable(
    lens: ServiceHarness, serpapi: FakeSerpApi
) -> None:
    serpapi.fail_next(r"/search\.json", 503, {"error": "Service Unavailable"}, times=3)
    with pytest.raises(ServiceFailed, match=r"SerpApi is unavailable .*HTTP 503"):
        search(lens, PICTURE_URL)
    assert serpapi.searches() == 3  # FAST_RETRIES: three attempts
    serpapi.fail_next(r"/search\.json", 502, {"error": "Bad Gateway"})
    assert search(lens, PICTURE_URL).visual_matches  # one 5xx, then the retry succeeds


def test_a_body_that_is_not_json_is_reported_in_one_sentence(
    lens: ServiceHarness, serpapi: FakeSerpApi
) -> None:
    serpapi.fail_next(r"/search\.json", 200, raw=b"<html><body>Captive portal</body></html>")
    with pytest.raises(ServiceFailed, match="not JSON"):
        search(lens, PICTURE_URL)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], "not a JSON object"),
        ({"search_metadata": {"status": "Error"}}, "search failed"),
        ({"error": "Invalid url parameter."}, "Invalid url parameter"),
        ({}, "without search results"),
    ],
)
def test_malformed_or_error_replies_are_service_failures(payload: object, message: str) -> None:
    with pytest.raises(ServiceFailed, match=message):
        parse_lens(payload)


def test_matches_without_a_link_are_dropped() -> None:
    reply = lens_reply(PICTURE_URL)
    reply["visual_matches"].append({"position": 3, "title": "no link"})
    reply["visual_matches"].append("junk")
    _, _, matches, _ = parse_lens(reply)
    assert len(matches) == 2


def test_missing_key_is_a_config_error_before_any_request(
    make_settings: Callable[..., Settings], serpapi: FakeSerpApi
) -> None:
    harness = ServiceHarness(make_settings(), {"serpapi.com": serpapi})
    with pytest.raises(Exception, match="SERPAPI_API_KEY is not set"):
        search(harness, PICTURE_URL)
    assert serpapi.requests == []


# --- the command ---------------------------------------------------------------------------------


def test_cli_json_then_cached_note_and_exit_codes(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    serpapi: FakeSerpApi,
    tmp_path: Path,
) -> None:
    with serve(serpapi) as url:
        monkeypatch.setenv("SERPAPI_URL", url)
        monkeypatch.setenv("SERPAPI_API_KEY", VALID_KEY)
        metrics = tmp_path / "lens.prom"
        assert run(["lens", PICTURE_URL, "--json", "--metrics-file", str(metrics)]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["status"] == "found" and data["cached"] is False
        assert data["visual_matches"][0]["source"] == "IMDb"
        assert data["knowledge_graph"][0]["title"] == "The Dark Knight"
        text = metrics.read_text()
        assert (
            'coverctl_service_requests_total{command="lens",outcome="ok",service="serpapi"} 1.0'
            in text
        )

        assert run(["lens", PICTURE_URL]) == 0
        out, err = capsys.readouterr()
        assert "answered from the cache" in err
        assert "IMDb" in out and "knowledge graph: The Dark Knight (2008 film)" in out

        assert run(["lens", "https://example.org/nothing.jpg", "--json"]) == 3
        out, err = capsys.readouterr()
        assert json.loads(out)["status"] == "not_found"
        assert "Google Lens found nothing" in err

        monkeypatch.setenv("SERPAPI_API_KEY", "bad-key-5678")
        assert run(["lens", "https://example.org/other.jpg"]) == 4
        out, err = capsys.readouterr()
        assert "SerpApi rejected the API key" in err and "SERPAPI_API_KEY" in err
        assert "bad-key-5678" not in out + err


def test_cli_unreadable_file_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SERPAPI_API_KEY", VALID_KEY)
    page = tmp_path / "page.jpg"
    page.write_bytes(b"<!DOCTYPE html><html><body>not a picture</body></html>")
    assert run(["lens", str(page)]) == 2
    assert "page.jpg" in capsys.readouterr().err
    assert run(["lens", str(tmp_path / "missing.jpg")]) == 2
