"""Adding a provider takes one spec and one source class: nothing else is edited.

"FakePics" is a provider coverctl has never heard of: a source class, one `ProviderSpec` and a
`registry.registered(...)` block, served by an HTTP fake. `doctor` probes it, `batch --dry-run`
prices its calls, `config show` lists its variables (the key redacted), `audit` knows its score
and image host, and `resolve` asks it for the media type it serves, in its place in the cascade.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from coverctl.cli.app import run
from coverctl.config import Secret, Settings
from coverctl.constants import MediaType, PictureTrust
from coverctl.errors import CredentialRejected
from coverctl.models import Candidate, Match, Query
from coverctl.resolver import provider_steps
from coverctl.sources import registry
from coverctl.sources.base import SourceAnswer, SourceContext, json_body
from coverctl.sources.spec import (
    CallEstimate,
    HttpProbe,
    PictureHosts,
    ProviderSpec,
    Variable,
    probe_json,
)
from coverctl.store.db import SqliteStore
from tests.fakes.base import FakeService, json_response, serve
from tests.seed import seed_row

API_KEY = "fp_live_2b7d4c1e9a8f6350"
IMAGE_HOST = "img.fakepics.test"
LYRA = f"https://{IMAGE_HOST}/characters/lyra.jpg"


# --- the new provider: one source class and one spec ------------------------------------------


class FakePicsSource:
    """Looks a character up by name and book title; answers with FakePics' portrait."""

    name: ClassVar[str] = "fakepics"
    provider: ClassVar[str | None] = "fakepics"

    def unavailable_reason(self, settings: Settings) -> str | None:
        return None  # the spec's key variable is all it needs

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        key = ctx.settings.setting("FAKEPICS_API_KEY")
        assert isinstance(key, Secret)
        response = await ctx.http.request(
            "fakepics",
            "GET",
            f"{ctx.settings.setting('FAKEPICS_API_URL')}/v1/characters",
            params={"name": query.character_name, "title": query.title},
            headers={"X-Api-Key": key.reveal()},
        )
        if response.status_code == 401:
            raise CredentialRejected("FakePics", "FAKEPICS_API_KEY")
        found = json_body(response, "fakepics").get("characters") or []
        if not found:
            return SourceAnswer.none("FakePics has no such character")
        match = Match(character=found[0]["name"], external_id=str(found[0]["id"]))
        return SourceAnswer([Candidate(found[0]["portrait"], "fakepics", 55, match)])


def fakepics_probe(settings: Settings) -> HttpProbe:
    key = settings.setting("FAKEPICS_API_KEY")
    url = str(settings.setting("FAKEPICS_API_URL"))
    request = None
    if isinstance(key, Secret):
        request = httpx.Request("GET", f"{url}/v1/me", headers={"X-Api-Key": key.reveal()})
    return HttpProbe(
        "fakepics",
        "FakePics",
        "FAKEPICS_API_KEY",
        "FAKEPICS_API_URL",
        url,
        request,
        lambda response: f"API key accepted (plan {probe_json(response)['plan']})",
        "Check FAKEPICS_API_KEY on your FakePics account page.",
    )


FAKEPICS = ProviderSpec(
    step="fakepics",
    source="fakepics",
    source_class=FakePicsSource,
    provider="fakepics",
    rate=5.0,
    variables=(
        Variable("FAKEPICS_API_KEY", "FakePics API key", secret=True),
        Variable("FAKEPICS_API_URL", "FakePics API base URL", url=True, default="https://x.test"),
    ),
    key_variable="FAKEPICS_API_KEY",
    media_types=frozenset({MediaType.BOOK}),
    priority=45,  # after Hardcover, before web search
    calls=CallEstimate("title", 1, 2),
    scores=(55,),
    picture_trust=PictureTrust.TRUSTED,
    hosts=PictureHosts((IMAGE_HOST,)),
    probe=fakepics_probe,
)


class FakePicsApi(FakeService):
    name = "FakePics"

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", r"/v1/me", self._me)
        self.route("GET", r"/v1/characters", self._characters)

    def _authorised(self, request: httpx.Request) -> bool:
        return request.headers.get("x-api-key") == API_KEY

    def _me(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if not self._authorised(request):
            return json_response(401, {"message": "Invalid API key"})
        return json_response(200, {"plan": "hobby"})

    def _characters(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if not self._authorised(request):
            return json_response(401, {"message": "Invalid API key"})
        known = request.url.params["name"] == "Lyra Belacqua"
        lyra = {"id": 7, "name": "Lyra Belacqua", "portrait": LYRA}
        return json_response(200, {"characters": [lyra] if known else []})


@pytest.fixture
def fakepics(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePicsApi]:
    """FakePics registered and served, its variables set (and the other providers' not)."""
    api = FakePicsApi()
    with registry.registered(FAKEPICS), serve(api) as url:
        monkeypatch.setenv("FAKEPICS_API_URL", url)
        monkeypatch.setenv("FAKEPICS_API_KEY", API_KEY)
        monkeypatch.setenv("COVERCTL_WEB_SEARCH", "0")
        yield api
    assert registry.spec_for("fakepics") is None  # the registry is as it was


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    assert API_KEY not in out + err
    return code, out


# --- what picks it up ---------------------------------------------------------------------------


def test_resolve_asks_it_for_the_media_type_it_serves_in_its_place(
    fakepics: FakePicsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert provider_steps(MediaType.BOOK, generate=False) == ["hardcover", "fakepics", "web_search"]
    assert "fakepics" not in provider_steps(MediaType.MOVIE, generate=False)
    assert "fakepics" not in provider_steps(None, generate=False)

    args = ["resolve", "Lyra Belacqua", "--title", "Northern Lights", "--media-type", "book"]
    code, out = cli(capsys, *args, "--json", "--explain")
    answer = json.loads(out)
    assert code == 0 and answer["status"] == "resolved"
    assert (answer["image_url"], answer["source"], answer["quality_score"]) == (
        LYRA,
        "fakepics",
        55,
    )
    steps = [(a["source"], a["outcome"]) for a in answer["attempts"]]
    assert ("hardcover", "skipped") in steps and steps[-1] == ("fakepics", "accepted")
    [request] = fakepics.requests
    assert request.url.params["title"] == "Northern Lights"

    # A film is not its business: it is never asked.
    code, out = cli(capsys, "resolve", "Lyra Belacqua", "--title", "The Golden Compass", "--json")
    assert code == 3 and json.loads(out)["status"] == "not_found"
    assert len(fakepics.requests) == 1


def test_resolve_skips_it_without_its_key_and_says_which_variable(
    fakepics: FakePicsApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKEPICS_API_KEY")
    args = ["resolve", "Lyra Belacqua", "--title", "Northern Lights", "--media-type", "book"]
    code, out = cli(capsys, *args, "--json", "--explain")
    attempts = {a["source"]: a for a in json.loads(out)["attempts"]}
    assert code == 3 and attempts["fakepics"]["outcome"] == "skipped"
    assert attempts["fakepics"]["reason"] == "FAKEPICS_API_KEY is not set"
    assert fakepics.requests == []


def test_doctor_probes_it_and_reports_a_rejected_key_with_its_own_fix(
    fakepics: FakePicsApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = cli(capsys, "doctor", "--json")
    checks = {check["component"]: check for check in json.loads(out)["checks"]}
    assert checks["fakepics"]["status"] == "ok"
    assert checks["fakepics"]["detail"] == "API key accepted (plan hobby)"
    assert fakepics.paths() == ["/v1/me"]

    monkeypatch.setenv("FAKEPICS_API_KEY", "fp_live_wrong_wrong_wrong")
    code, out = cli(capsys, "doctor", "--json")
    check = {check["component"]: check for check in json.loads(out)["checks"]}["fakepics"]
    assert code == 4 and check["status"] == "failed"
    assert check["detail"] == "FakePics rejected the key (HTTP 401: Invalid API key)"
    assert check["fix"] == "Check FAKEPICS_API_KEY on your FakePics account page."
    assert "fp_live_wrong_wrong_wrong" not in out

    monkeypatch.delenv("FAKEPICS_API_KEY")
    code, out = cli(capsys, "doctor", "--json")
    check = {check["component"]: check for check in json.loads(out)["checks"]}["fakepics"]
    assert check["status"] == "skipped" and check["detail"] == "FAKEPICS_API_KEY is not set"


def test_batch_dry_run_counts_its_calls_at_its_rate(
    fakepics: FakePicsApi, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = tmp_path / "books.csv"
    with rows.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["character_name", "title", "media_type"])
        writer.writerow(["Lyra Belacqua", "Northern Lights", "book"])
        writer.writerow(["Iorek Byrnison", "Northern Lights", "book"])
        writer.writerow(["Will Parry", "The Subtle Knife", "book"])
        writer.writerow(["Bruce Wayne", "The Dark Knight", "movie"])

    code, out = cli(capsys, "batch", str(rows), "--dry-run", "--json", "--rate", "fakepics=2")
    plan = json.loads(out)
    assert code == 0
    # Priced per title, as its spec says: 1 call expected, 2 at most, for each of two books.
    assert plan["expected_calls"] == {"fakepics": 2}
    assert plan["max_calls"] == {"fakepics": 4}
    assert plan["rates"]["fakepics"] == 2.0  # --rate knows it too
    assert fakepics.requests == []  # a dry run asks nothing


def test_config_show_lists_its_variables_with_the_key_redacted(
    fakepics: FakePicsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(capsys, "config", "show", "--json")
    rows = {row["name"]: row for row in json.loads(out)["settings"]}
    assert code == 0
    assert rows["FAKEPICS_API_KEY"] == {
        "name": "FAKEPICS_API_KEY",
        "value": "set",
        "origin": "environment",
        "description": "FakePics API key",
    }
    assert rows["FAKEPICS_API_URL"]["value"].startswith("http://127.0.0.1:")

    # `config set` takes its variables, checks the URL one, and keeps the key out of the file.
    assert cli(capsys, "config", "set", "FAKEPICS_API_URL", "ftp://nope")[0] == 4
    assert cli(capsys, "config", "set", "FAKEPICS_API_URL", "https://fakepics.example/")[0] == 0


def test_settings_read_its_variables_and_scrub_its_key(
    fakepics: FakePicsApi, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(FAKEPICS_API_KEY=API_KEY, FAKEPICS_API_URL="https://api.fp.test/")
    assert settings.setting("FAKEPICS_API_URL") == "https://api.fp.test"  # checked, no slash
    assert settings.setting("FAKEPICS_API_KEY") == Secret(API_KEY)
    assert API_KEY in settings.secrets()
    assert API_KEY not in repr(settings)
    assert make_settings().setting("FAKEPICS_API_URL") == "https://x.test"  # the spec's default


def test_audit_knows_its_score_and_its_image_host(
    fakepics: FakePicsApi,
    capsys: pytest.CaptureFixture[str],
    make_settings: Callable[..., Settings],
) -> None:
    store = SqliteStore(make_settings().db_path)
    try:
        fine = seed_row(store, "Lyra Belacqua", "Northern Lights", LYRA, "fakepics", 55)
        will = f"https://{IMAGE_HOST}/characters/will.jpg"
        boasts = seed_row(store, "Will Parry", "The Subtle Knife", will, "fakepics", 90)
        pan = f"https://{IMAGE_HOST}/characters/pan.jpg"
        local = seed_row(store, "Pan", "Northern Lights", pan, "character_specific", 100)
    finally:
        store.close()

    code, out = cli(capsys, "audit", "--json", "--min-quality", "0")
    report = json.loads(out)
    details = {row["row_id"]: row["details"] for row in report["rows"]}
    assert code == 3 and fine not in details
    assert details[boasts] == ["Quality 90 is more than fakepics can score (60)."]
    assert details[local] == ["A FAKEPICS image URL is recorded as character_specific."]

    code, out = cli(capsys, "audit", "--json", "--source", "fakepics", "--min-quality", "0")
    assert json.loads(out)["rows_scanned"] == 2
