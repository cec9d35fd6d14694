"""`coverctl edit` against a Gemini fake with the real generateContent shapes: the edit is
checked, kept, recorded as a candidate and served only with --replace; refusals, bad keys,
rate limits, server errors and malformed replies each end in one sentence."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.errors import CredentialRejected, NoResult, ServiceFailed
from coverctl.names import normalize
from coverctl.services.edit import edit_picture, parse_edit_reply
from coverctl.store.db import ImageRecord, SqliteStore
from tests.fakes.base import parse_json_body, serve
from tests.fakes.gemini import (
    RESOURCE_EXHAUSTED_BODY,
    UNAVAILABLE_BODY,
    VALID_KEY,
    FakeGemini,
    blocked_prompt_reply,
    image_reply,
    refused_reply,
)
from tests.fakes.images import html_page, sharp_photo
from tests.imagegen import png_bytes
from tests.servicing import FAST_SERVICE_RATES, ServiceHarness

EDITED = png_bytes(512, 768, "scene", seed=21)
HOST = "generativelanguage.googleapis.com"


@pytest.fixture
def original(static_dir: Path, make_settings: Callable[..., Settings]) -> Path:
    """An uploaded picture of Lyra, stored as the design stores uploads (ai_generated)."""
    path = static_dir / "generated" / "anonymous_original.jpg"
    path.parent.mkdir(parents=True)
    path.write_bytes(sharp_photo())
    store = SqliteStore(make_settings().db_path)
    try:
        store.upsert(
            ImageRecord(
                character_name="Lyra Belacqua",
                movie_title="Northern Lights",
                character_key=normalize("Lyra Belacqua"),
                title_key=normalize("Northern Lights"),
                image_url=str(path.resolve()),
                source="ai_generated",
                quality_score=80,
            )
        )
    finally:
        store.close()
    return path


@pytest.fixture
def gemini() -> FakeGemini:
    fake = FakeGemini()
    fake.reply = image_reply(EDITED, text="Here is the picture as a pencil sketch.")
    return fake


@pytest.fixture
def make_harness(
    make_settings: Callable[..., Settings], gemini: FakeGemini, original: Path
) -> Callable[..., ServiceHarness]:
    def build(**env: str) -> ServiceHarness:
        values = {"GEMINI_API_KEY": VALID_KEY, "COVERCTL_WEB_SEARCH": "0", **FAST_SERVICE_RATES}
        return ServiceHarness(make_settings(**{**values, **env}), {HOST: gemini})

    return build


@pytest.fixture
def harness(make_harness: Callable[..., ServiceHarness]) -> ServiceHarness:
    return make_harness()


def edit(harness: ServiceHarness, prompt: str = "as a pencil sketch", **kwargs: Any) -> Any:
    return harness.run(
        lambda r: edit_picture(r, "Lyra Belacqua", "Northern Lights", prompt, **kwargs)
    )


def served(harness: ServiceHarness) -> str:
    store = SqliteStore(harness.settings.db_path)
    try:
        (row,) = store.find(normalize("Lyra Belacqua"), normalize("Northern Lights"))
        return str(row["image_url"])
    finally:
        store.close()


def test_the_edit_is_kept_and_recorded_but_the_original_is_still_served(
    harness: ServiceHarness, gemini: FakeGemini, original: Path, static_dir: Path
) -> None:
    result = edit(harness)
    edited = Path(result.edited_url)
    assert edited.parent == (static_dir / "generated").resolve()
    assert edited.name.startswith("anonymous_") and edited.suffix == ".png"
    assert edited.read_bytes() == EDITED
    assert (result.width, result.height, result.content_type) == (512, 768, "image/png")
    assert result.replaced is False and result.original_url == str(original.resolve())
    assert result.model_text == "Here is the picture as a pencil sketch."
    assert served(harness) == str(original.resolve())
    (request,) = gemini.requests
    assert request.url.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert request.headers["x-goog-api-key"] == VALID_KEY
    assert VALID_KEY not in str(request.url)
    body = parse_json_body(request)
    picture, text = body["contents"][0]["parts"]
    assert base64.b64decode(picture["inline_data"]["data"]) == sharp_photo()
    assert picture["inline_data"]["mime_type"] == "image/jpeg"
    assert text == {"text": "as a pencil sketch"}
    assert body["generationConfig"] == {"responseModalities": ["IMAGE"]}
    import sqlite3

    conn = sqlite3.connect(harness.settings.db_path)
    try:
        rows = conn.execute("SELECT provider, state, result_url FROM service_jobs").fetchall()
    finally:
        conn.close()
    assert rows == [("gemini", "completed", result.edited_url)]


def test_replace_makes_the_edit_the_stored_picture(harness: ServiceHarness) -> None:
    result = edit(harness, replace=True)
    assert result.replaced and served(harness) == result.edited_url


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            refused_reply("IMAGE_SAFETY"),
            r"safety filters refused the edited picture \(IMAGE_SAFETY\)",
        ),
        (refused_reply("PROHIBITED_CONTENT"), "prohibited content"),
        (blocked_prompt_reply("PROHIBITED_CONTENT"), "prohibited content"),
        (
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": "I can't edit photos of real people."}]},
                        "finishReason": "STOP",
                    }
                ]
            },
            "without a picture: I can't edit photos of real people",
        ),
    ],
)
def test_refusals_are_one_sentence_and_keep_nothing(
    harness: ServiceHarness, gemini: FakeGemini, original: Path, reply: Any, message: str
) -> None:
    gemini.reply = reply
    with pytest.raises(NoResult, match=message):
        edit(harness)
    assert served(harness) == str(original.resolve())
    assert sorted(p.name for p in original.parent.iterdir()) == [original.name]


def test_an_edit_that_is_not_a_picture_is_rejected(
    harness: ServiceHarness, gemini: FakeGemini
) -> None:
    gemini.reply = image_reply(html_page(), mime="image/png")
    with pytest.raises(NoResult, match="Gemini's picture was rejected"):
        edit(harness)


def test_invalid_key_is_a_credential_error(
    make_harness: Callable[..., ServiceHarness], gemini: FakeGemini
) -> None:
    harness = make_harness(GEMINI_API_KEY="AIza-wrong")
    with pytest.raises(CredentialRejected, match="GEMINI_API_KEY") as caught:
        edit(harness)
    assert "AIza-wrong" not in caught.value.message


def test_429_with_retry_after_is_waited_out(harness: ServiceHarness, gemini: FakeGemini) -> None:
    gemini.fail_next(
        "generateContent", 429, RESOURCE_EXHAUSTED_BODY, headers={"Retry-After": "0.02"}
    )
    assert edit(harness).width == 512
    assert len(gemini.requests) == 2 and harness.stats["gemini"]["rate_limited"] == 1


def test_5xx_is_retried_then_unavailable(harness: ServiceHarness, gemini: FakeGemini) -> None:
    gemini.fail_next("generateContent", 503, UNAVAILABLE_BODY, times=3)
    with pytest.raises(ServiceFailed, match=r"Gemini is unavailable \(server error \(HTTP 503\)"):
        edit(harness)
    gemini.fail_next("generateContent", 503, UNAVAILABLE_BODY)
    assert edit(harness).width == 512  # one 5xx, then the retry


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "not a JSON object"),
        ({"usageMetadata": {}}, "without candidates"),
        ({"candidates": [{"content": {"parts": [{"inlineData": {"data": "@@@"}}]}}]}, "base64"),
    ],
)
def test_malformed_replies_are_service_failures(payload: object, message: str) -> None:
    with pytest.raises(ServiceFailed, match=message):
        parse_edit_reply(payload)


def test_snake_case_inline_data_is_read_too() -> None:
    payload = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "inline_data": {
                                "mime_type": "image/png",
                                "data": base64.b64encode(b"png").decode(),
                            }
                        }
                    ]
                }
            }
        ]
    }
    assert parse_edit_reply(payload)[:2] == (b"png", "image/png")


def test_no_picture_to_edit_is_no_result(
    make_settings: Callable[..., Settings], gemini: FakeGemini
) -> None:
    harness = ServiceHarness(
        make_settings(GEMINI_API_KEY=VALID_KEY, COVERCTL_WEB_SEARCH="0"), {HOST: gemini}
    )
    with pytest.raises(NoResult, match="no picture of Lyra Belacqua"):
        edit(harness)
    assert gemini.requests == []


def test_cli_edit_json_and_exit_codes(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    gemini: FakeGemini,
    original: Path,
) -> None:
    with serve(gemini) as url:
        monkeypatch.setenv("GEMINI_API_URL", f"{url}/v1beta")
        monkeypatch.setenv("GEMINI_API_KEY", VALID_KEY)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        args = ["edit", "Lyra Belacqua", "--title", "Northern Lights", "--prompt", "in winter"]
        assert run([*args, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["status"] == "edited" and data["replaced"] is False
        assert data["edited_url"].endswith(".png") and "$0.039" in data["estimate"]
        gemini.reply = refused_reply("SAFETY")
        assert run(args) == 3
        out, err = capsys.readouterr()
        assert "safety filters refused the edit (SAFETY)" in err
        monkeypatch.setenv("GEMINI_API_KEY", "AIza-bad-key")
        assert run(args) == 4
        out, err = capsys.readouterr()
        assert "Gemini rejected the API key" in err and "AIza-bad-key" not in out + err
