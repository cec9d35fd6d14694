"""`coverctl identify`: a title read off a frame (offline OCR on real rendered frames, or a
vision model behind a chat-completions fake) is accepted only with a TMDB title match >= 95."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from coverctl.cli.app import run
from coverctl.config import Settings
from coverctl.errors import BillingError, CredentialRejected, NoResult, ServiceFailed
from coverctl.services.identify import Work, identify_frame, pick_work, title_score
from coverctl.services.readers import (
    OcrLine,
    TitleGuess,
    chat_request,
    parse_chat_reply,
    title_guesses,
)
from tests.fakes.base import parse_json_body, serve
from tests.fakes.tmdb import VALID_KEY as TMDB_KEY
from tests.fakes.tmdb_multi import FakeTmdbMulti
from tests.fakes.vision import (
    QUOTA_BODY,
    RATE_LIMIT_BODY,
    FakeVision,
    completion,
)
from tests.fakes.vision import (
    VALID_KEY as VISION_KEY,
)
from tests.framegen import Line, frame
from tests.servicing import FAST_SERVICE_RATES, ServiceHarness, require_ocr

VISION_URL = "https://vision.example/v1"


@pytest.fixture
def tmdb_multi() -> FakeTmdbMulti:
    return FakeTmdbMulti()


@pytest.fixture
def vision() -> FakeVision:
    return FakeVision()


@pytest.fixture
def harness(
    make_settings: Callable[..., Settings], tmdb_multi: FakeTmdbMulti, vision: FakeVision
) -> ServiceHarness:
    settings = make_settings(
        TMDB_API_KEY=TMDB_KEY,
        COVERCTL_VISION_URL=VISION_URL,
        COVERCTL_VISION_MODEL="gpt-4o-mini",
        COVERCTL_VISION_API_KEY=VISION_KEY,
        COVERCTL_WEB_SEARCH="0",
        **FAST_SERVICE_RATES,
    )
    return ServiceHarness(settings, {"api.themoviedb.org": tmdb_multi, "vision.example": vision})


def identify(harness: ServiceHarness, data: bytes, **kwargs: object):  # type: ignore[no-untyped-def]
    return harness.run(lambda r: identify_frame(r.context, data, **kwargs))  # type: ignore[arg-type]


PLAIN_FRAME = frame((Line("", 10, 0.5),), seed=5)  # no text: the vision tests do not need any


# --- choosing the work (pure) --------------------------------------------------------------------


def work(id_: str, title: str, year: int | None, votes: int = 1000, kind: str = "movie") -> Work:
    return Work(id_, kind, title, title, year, f"/p{id_}.jpg", votes, int(id_) % 7)


LION_KINGS = [
    work("8587", "The Lion King", 1994, 18100),
    work("420818", "The Lion King", 2019, 10200),
]


def test_an_exact_title_is_accepted_and_a_near_miss_is_not() -> None:
    works = [work("155", "The Dark Knight", 2008), work("49026", "The Dark Knight Rises", 2012)]
    picked = pick_work(TitleGuess("THE DARK KNIGHT"), works, year=None, media_type=None)
    assert not isinstance(picked, str) and picked[0].id == "155" and picked[1] == 100.0
    missed = pick_work(TitleGuess("The Dark Kingdom"), works, year=None, media_type=None)
    assert isinstance(missed, str) and "no TMDB work is titled 'The Dark Kingdom'" in missed


def test_the_threshold_is_95() -> None:
    knight = work("155", "The Dark Knight", 2008)
    assert title_score("The Dark Kniqht", knight) < 95  # one misread letter in 12 is too many
    assert title_score("the  DARK knight", knight) == 100.0  # case and spacing do not count
    assert title_score("Dark Knight", knight) == 100.0  # a leading article does not count


def test_same_title_works_need_a_year_unless_one_is_far_better_known() -> None:
    ambiguous = pick_work(TitleGuess("The Lion King"), LION_KINGS, year=None, media_type=None)
    assert isinstance(ambiguous, str) and "ambiguous" in ambiguous and "give --year" in ambiguous
    picked = pick_work(TitleGuess("The Lion King"), LION_KINGS, year=2019, media_type=None)
    assert not isinstance(picked, str) and picked[0].id == "420818"
    short = [work("155", "The Dark Knight", 2008, 34000), work("9", "The Dark Knight", 2011, 3)]
    dominant = pick_work(TitleGuess("The Dark Knight"), short, year=None, media_type=None)
    assert not isinstance(dominant, str) and dominant[0].id == "155"
    assert dominant[2] is not None and "far better-known" in dominant[2]


def test_a_year_that_fits_no_matching_work_is_not_accepted() -> None:
    picked = pick_work(TitleGuess("The Lion King"), LION_KINGS, year=2005, media_type=None)
    assert isinstance(picked, str) and "not from 2005" in picked


def test_ocr_lines_become_title_guesses_tallest_and_stacked_first() -> None:
    lines = [
        OcrLine("THE LORD OF THE RINGS", 0.99, 260, 320, 300),
        OcrLine("THE FELLOWSHIP OF THE RING", 0.98, 338, 392, 280),
        OcrLine("New Line Cinema", 1.0, 650, 678, 40),  # small print
        OcrLine("TH3 L0RD", 0.41, 100, 160, 40),  # not confident
        OcrLine("2001", 0.99, 420, 470, 600),  # no letters
    ]
    assert [g.title for g in title_guesses(lines)] == [
        "THE LORD OF THE RINGS THE FELLOWSHIP OF THE RING",
        "THE LORD OF THE RINGS",
        "THE FELLOWSHIP OF THE RING",
    ]


# --- the chat-completions reply (pure) -----------------------------------------------------------


def test_fenced_json_is_read() -> None:
    reply = completion(
        '```json\n{"title": "Breaking Bad", "year": "2008", "media_type": "tv"}\n```'
    )
    assert parse_chat_reply(reply) == TitleGuess("Breaking Bad", 2008, "tv")


def test_null_title_means_nothing_was_read() -> None:
    assert parse_chat_reply(completion('{"title": null, "year": null, "media_type": null}')) is None


def test_refusal_and_content_filter_are_no_result() -> None:
    with pytest.raises(NoResult, match="declined"):
        parse_chat_reply(completion(None, refusal="I'm sorry, I can't help with that."))
    with pytest.raises(NoResult, match="content filter"):
        parse_chat_reply(completion(None, finish="content_filter"))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"object": "chat.completion", "choices": []}, "without choices"),
        (completion("The title is The Dark Knight."), "not the JSON asked for"),
        (completion("[1, 2]"), "not a JSON object"),
        (completion(""), "empty answer"),
        ("oops", "not a JSON object"),
    ],
)
def test_malformed_chat_replies_are_service_failures(payload: object, message: str) -> None:
    with pytest.raises(ServiceFailed, match=message):
        parse_chat_reply(payload)


def test_the_request_asks_for_json_with_the_picture_as_a_data_url() -> None:
    body = chat_request("llava", "data:image/jpeg;base64,AAAA")
    assert body["model"] == "llava" and body["response_format"] == {"type": "json_object"}
    text, image = body["messages"][0]["content"]
    assert "JSON" in text["text"] and image["image_url"]["url"] == "data:image/jpeg;base64,AAAA"


# --- the vision reader against the fake ----------------------------------------------------------


def test_vision_reader_finds_the_work_on_tmdb(
    harness: ServiceHarness, vision: FakeVision, tmdb_multi: FakeTmdbMulti
) -> None:
    found = identify(harness, PLAIN_FRAME, reader="vision")
    assert (found.work.id, found.work.media_type, found.work.year) == ("155", "movie", 2008)
    assert found.score == 100.0 and found.reading.text == ["The Dark Knight"]
    assert found.poster_url == "https://image.tmdb.org/t/p/w500/poster155.jpg"
    # The year the model gave removed the 2011 short of the same name without a note.
    assert found.note is None
    (request,) = vision.requests
    assert request.headers["authorization"] == f"Bearer {VISION_KEY}"
    assert parse_json_body(request)["model"] == "gpt-4o-mini"
    assert tmdb_multi.multi_searches() == ["The Dark Knight"]


def test_an_invented_title_is_never_accepted(harness: ServiceHarness, vision: FakeVision) -> None:
    vision.reply = completion('{"title": "The Dark Knight Returns Again", "year": 2030}')
    with pytest.raises(NoResult, match="No TMDB film or series matches"):
        identify(harness, PLAIN_FRAME, reader="vision")


def test_vision_401_names_the_key_variable(harness: ServiceHarness, vision: FakeVision) -> None:
    vision.key = "another-key"
    with pytest.raises(CredentialRejected, match="COVERCTL_VISION_API_KEY") as caught:
        identify(harness, PLAIN_FRAME, reader="vision")
    assert VISION_KEY not in caught.value.message


def test_vision_429_with_retry_after_is_waited_out(
    harness: ServiceHarness, vision: FakeVision
) -> None:
    vision.fail_next("/chat/completions", 429, RATE_LIMIT_BODY, headers={"Retry-After": "0.02"})
    assert identify(harness, PLAIN_FRAME, reader="vision").work.id == "155"
    assert len(vision.requests) == 2 and harness.stats["vision"]["rate_limited"] == 1


def test_vision_quota_429_is_a_billing_error(harness: ServiceHarness, vision: FakeVision) -> None:
    vision.fail_next("/chat/completions", 429, QUOTA_BODY, times=3)
    with pytest.raises(BillingError, match="exceeded your current quota"):
        identify(harness, PLAIN_FRAME, reader="vision")
    assert len(vision.requests) == 1


def test_vision_5xx_is_retried_then_unavailable(
    harness: ServiceHarness, vision: FakeVision
) -> None:
    vision.fail_next(
        "/chat/completions", 500, {"error": {"message": "The server had an error"}}, times=3
    )
    with pytest.raises(ServiceFailed, match="vision API is unavailable"):
        identify(harness, PLAIN_FRAME, reader="vision")
    assert len(vision.requests) == 3


def test_vision_without_url_is_a_config_error(
    make_settings: Callable[..., Settings], vision: FakeVision
) -> None:
    harness = ServiceHarness(make_settings(TMDB_API_KEY=TMDB_KEY), {"vision.example": vision})
    with pytest.raises(Exception, match="COVERCTL_VISION_URL is not set"):
        identify(harness, PLAIN_FRAME, reader="vision")


# --- OCR on rendered frames (the ocr extra) ------------------------------------------------------


@pytest.fixture
def no_network_but_tmdb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every real socket connection: the OCR models must come from the wheel (the TMDB
    fake is in-process, so it needs none)."""

    def refuse(self: socket.socket, *args: object) -> None:
        raise OSError("network refused by the test: OCR must run offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


FRAMES = {
    "dark_knight": (
        (Line("THE DARK KNIGHT", 84, 0.40), Line("Warner Bros. Pictures presents", 22, 0.88)),
        0,
    ),
    "breaking_bad": ((Line("Breaking Bad", 64, 0.30), Line("Season 1  Episode 3", 24, 0.5)), 1),
    "fellowship": (
        (
            Line("THE LORD OF THE RINGS", 60, 0.36),
            Line("THE FELLOWSHIP OF THE RING", 54, 0.47),
            Line("New Line Cinema", 20, 0.9),
        ),
        2,
    ),
    # Pillow's built-in scalable font, as on a machine without TrueType fonts.
    "pirates": (
        (Line("Pirates of the Caribbean", 58, 0.3), Line("The Curse of the Black Pearl", 50, 0.42)),
        -1,
    ),
}
EXPECTED = {
    "dark_knight": ("155", "movie"),
    "breaking_bad": ("1396", "tv"),
    "fellowship": ("120", "movie"),
    "pirates": ("285", "movie"),
}


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_ocr_identifies_rendered_frames_offline(
    name: str, harness: ServiceHarness, tmdb_multi: FakeTmdbMulti, no_network_but_tmdb: None
) -> None:
    require_ocr()
    lines, font_index = FRAMES[name]
    found = identify(harness, frame(lines, font_index=font_index, seed=len(name)))
    assert (found.work.id, found.work.media_type) == EXPECTED[name]
    assert found.score >= 95
    assert found.reading.reader == "ocr"
    assert len(tmdb_multi.multi_searches()) == 1  # the first (most prominent) guess matched


def test_ocr_says_when_two_works_share_the_title_and_takes_the_far_better_known(
    harness: ServiceHarness, no_network_but_tmdb: None
) -> None:
    require_ocr()
    lines, font_index = FRAMES["dark_knight"]
    found = identify(harness, frame(lines, font_index=font_index, seed=11))
    assert found.work.id == "155" and found.note and "far better-known" in found.note


def test_ocr_frame_of_an_unknown_title_is_not_matched(
    harness: ServiceHarness, no_network_but_tmdb: None
) -> None:
    require_ocr()
    data = frame((Line("THE QUIET ORCHARD", 72, 0.42), Line("a film by nobody", 22, 0.6)))
    with pytest.raises(NoResult, match=r"No TMDB film or series matches .*QUIET ORCHARD"):
        identify(harness, data)


def test_ocr_remake_title_needs_a_year(harness: ServiceHarness, no_network_but_tmdb: None) -> None:
    require_ocr()
    data = frame((Line("THE LION KING", 80, 0.4),), font_index=1, seed=3)
    with pytest.raises(NoResult, match="ambiguous"):
        identify(harness, data)
    assert identify(harness, data, year=1994).work.id == "8587"


def test_ocr_frame_without_text_says_nothing_was_read(
    harness: ServiceHarness, tmdb_multi: FakeTmdbMulti, no_network_but_tmdb: None
) -> None:
    require_ocr()
    with pytest.raises(NoResult, match="No title could be read"):
        identify(harness, PLAIN_FRAME)
    assert tmdb_multi.requests == []


# --- the command ---------------------------------------------------------------------------------


def test_cli_identifies_then_resolves_the_character(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmdb_multi: FakeTmdbMulti,
    vision: FakeVision,
    tmp_path: Path,
) -> None:
    shot = tmp_path / "frame.jpg"
    shot.write_bytes(PLAIN_FRAME)
    with serve(tmdb_multi, vision, prefixes=("/tmdb", "/vision")) as url:
        for name, value in {
            "TMDB_API_URL": f"{url}/tmdb/3",
            "TMDB_API_KEY": TMDB_KEY,
            "COVERCTL_VISION_URL": f"{url}/vision/v1",
            "COVERCTL_VISION_MODEL": "gpt-4o-mini",
            "COVERCTL_VISION_API_KEY": VISION_KEY,
            "COVERCTL_WEB_SEARCH": "0",
        }.items():
            monkeypatch.setenv(name, value)
        args = ["identify", str(shot), "--reader", "vision", "--character", "Bruce Wayne"]
        assert run([*args, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["status"] == "identified" and data["extracted_title"] == "The Dark Knight"
        assert data["tmdb_result"]["id"] == 155 and data["score"] == 100.0
        assert data["character"]["status"] == "resolved"
        assert data["character"]["matched"]["person"] == "Christian Bale"

        assert run(args) == 0
        out = capsys.readouterr().out
        assert "identified: The Dark Knight (2008), movie 155 on TMDB, title match 100%" in out

        assert run([*args[:-1], "Nobody At All", "--json"]) == 3
        assert json.loads(capsys.readouterr().out)["character"]["status"] == "not_found"

        vision.reply = completion('{"title": "Not A Real Film 3000"}')
        assert run(["identify", str(shot), "--reader", "vision", "--json"]) == 3
        out, err = capsys.readouterr()
        assert json.loads(out)["status"] == "not_found" and "No TMDB film" in err
        text = out + err
        assert VISION_KEY not in text and TMDB_KEY not in text


def test_cli_bad_screenshot_and_bad_reader_are_usage_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("TMDB_API_KEY", TMDB_KEY)
    page = tmp_path / "shot.png"
    page.write_bytes(b"<html>no</html>")
    assert run(["identify", str(page)]) == 2
    good = tmp_path / "good.jpg"
    good.write_bytes(PLAIN_FRAME)
    assert run(["identify", str(good), "--reader", "guess"]) == 2
    assert "--reader must be one of ocr, vision" in capsys.readouterr().err
