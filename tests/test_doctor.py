"""`coverctl doctor` against served fakes that accept, reject and hang, and a real Azurite."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from coverctl.cli.app import run
from coverctl.config import Settings
from tests.fakes.base import FakeService, json_response, parse_json_body, serve
from tests.fakes.supabase import SERVICE_KEY, FakeSupabase
from tests.fakes.tmdb import VALID_KEY as TMDB_KEY
from tests.fakes.tmdb import FakeTmdb
from tests.fakes.tvdb import VALID_API_KEY as TVDB_KEY
from tests.fakes.tvdb import FakeTvdb
from tests.services import AzuriteService

HARDCOVER_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJoYXJkY292ZXIiOjF9.aGFyZGNvdmVyLXNpZ25hdHVyZQ"
REPLICATE_TOKEN = "r8_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zA7bC0"
PROVIDERS = ("tmdb", "tvdb", "hardcover", "replicate", "supabase")


class FakeHardcover(FakeService):
    """Hardcover's GraphQL endpoint (Hasura): a bad token is HTTP 200 with `errors[]`."""

    name = "Hardcover"

    def __init__(self) -> None:
        super().__init__()
        self.route("POST", r"/v1/graphql", self._graphql)

    def _graphql(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        body = parse_json_body(request)
        if request.headers.get("authorization") != f"Bearer {HARDCOVER_TOKEN}":
            return json_response(
                200,
                {
                    "errors": [
                        {
                            "message": "Could not verify JWT: JWSError JWSInvalidSignature",
                            "extensions": {"path": "$", "code": "invalid-jwt"},
                        }
                    ]
                },
            )
        assert "me" in body["query"]
        return json_response(200, {"data": {"me": [{"id": 4242}]}})


class FakeReplicate(FakeService):
    name = "Replicate"

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", r"/v1/account", self._account)

    def _account(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {REPLICATE_TOKEN}":
            return json_response(
                401,
                {
                    "title": "Unauthenticated",
                    "detail": "You did not pass a valid authentication token",
                    "status": 401,
                },
            )
        return json_response(200, {"type": "organization", "username": "coverctl-ci"})


@dataclass
class Services:
    tmdb: FakeTmdb
    tvdb: FakeTvdb
    hardcover: FakeHardcover
    replicate: FakeReplicate
    supabase: FakeSupabase


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """Every HTTP provider served on one local port, configured with keys they accept."""
    fakes = Services(FakeTmdb(), FakeTvdb(), FakeHardcover(), FakeReplicate(), FakeSupabase())
    prefixes = tuple(f"/{name}" for name in PROVIDERS)
    with serve(*(getattr(fakes, name) for name in PROVIDERS), prefixes=prefixes) as url:
        for name, value in {
            "TMDB_API_URL": f"{url}/tmdb/3",
            "TMDB_API_KEY": TMDB_KEY,
            "TVDB_API_URL": f"{url}/tvdb/v4",
            "TVDB_API_KEY": TVDB_KEY,
            "HARDCOVER_GRAPHQL_URL": f"{url}/hardcover/v1/graphql",
            "HARDCOVER_API_KEY": HARDCOVER_TOKEN,
            "REPLICATE_BASE_URL": f"{url}/replicate/v1",
            "REPLICATE_API_TOKEN": REPLICATE_TOKEN,
            "SUPABASE_URL": f"{url}/supabase",
            "SUPABASE_KEY": SERVICE_KEY,
        }.items():
            monkeypatch.setenv(name, value)
        yield fakes


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    code = run(["doctor", "--json", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out), out + err


def by_component(report: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {check["component"]: check for check in report["checks"]}


def test_every_configured_provider_accepts_and_exit_is_zero(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, text = doctor(capsys)
    assert code == 0
    assert report["ok"] is True
    checks = by_component(report)
    assert list(checks) == [
        "store",
        "cache",
        "static",
        "tmdb",
        "tvdb",
        "hardcover",
        "replicate",
        "supabase",
        "serpapi",
        "luma",
        "gemini",
        "vision",
        "azure",
        "redis",
    ]
    for check in report["checks"]:
        assert set(check) == {"component", "status", "detail", "latency_ms", "fix"}
    for name in PROVIDERS:
        assert checks[name]["status"] == "ok", checks[name]
        assert isinstance(checks[name]["latency_ms"], int) and checks[name]["fix"] is None
    assert checks["azure"]["status"] == "skipped"  # not configured
    assert "coverctl-ci" in checks["replicate"]["detail"]

    # One cheap request each, to the documented endpoint.
    assert services.tmdb.paths() == ["/3/configuration"]
    assert services.tvdb.paths("POST") == ["/v4/login"]
    assert services.hardcover.paths("POST") == ["/v1/graphql"]
    assert services.replicate.paths() == ["/v1/account"]
    assert services.supabase.paths() == ["/rest/v1/"]
    [supabase_request] = services.supabase.requests
    assert supabase_request.headers["apikey"] == SERVICE_KEY

    for secret in (TMDB_KEY, TVDB_KEY, HARDCOVER_TOKEN, REPLICATE_TOKEN, SERVICE_KEY):
        assert secret not in text


@pytest.mark.parametrize(
    ("component", "variable", "wrong", "detail"),
    [
        ("tmdb", "TMDB_API_KEY", "ffffffffffffffffffffffffffffffff", "Invalid API key"),
        ("tvdb", "TVDB_API_KEY", "tvdb-key-00000000-wrong-wrong-wrong", "InvalidAPIKey"),
        ("hardcover", "HARDCOVER_API_KEY", "eyJ.wrong-hardcover-token.sig", "verify JWT"),
        (
            "replicate",
            "REPLICATE_API_TOKEN",
            "r8_WrongWrongWrongWrongWrong00",
            "valid authentication",
        ),
        ("supabase", "SUPABASE_KEY", "eyJ.wrong-supabase-service-key.sig", "Invalid API key"),
    ],
)
def test_rejected_key_fails_with_a_fix_naming_the_variable_and_never_the_key(
    services: Services,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    component: str,
    variable: str,
    wrong: str,
    detail: str,
) -> None:
    monkeypatch.setenv(variable, wrong)
    code, report, text = doctor(capsys)
    assert code == 4
    assert report["ok"] is False
    checks = by_component(report)
    check = checks[component]
    assert check["status"] == "failed"
    assert "rejected the key" in check["detail"] and detail in check["detail"]
    assert variable in check["fix"]
    assert wrong not in text
    assert all(checks[other]["status"] == "ok" for other in PROVIDERS if other != component)

    code = run(["doctor"])  # the table for people says the same, without the key
    out, err = capsys.readouterr()
    assert code == 4 and variable in out and wrong not in out + err


def test_a_hanging_service_times_out_without_holding_up_the_others(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    services.tmdb.latency = 3.0
    services.tvdb.latency = 3.0
    started = time.monotonic()
    code, report, _ = doctor(capsys, "--timeout", "0.4")
    elapsed = time.monotonic() - started
    assert code == 4
    checks = by_component(report)
    for name, variable in (("tmdb", "TMDB_API_URL"), ("tvdb", "TVDB_API_URL")):
        assert checks[name]["status"] == "failed"
        assert "did not answer within 0.4 s" in checks[name]["detail"]
        assert variable in checks[name]["fix"]
        assert 300 <= checks[name]["latency_ms"] < 1500
    assert checks["replicate"]["status"] == "ok"
    assert elapsed < 1.5  # concurrent, bounded by the timeout: not 2 × 3 s


def test_unreachable_service_fails_naming_the_url_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.services import free_port

    monkeypatch.setenv("REPLICATE_API_TOKEN", REPLICATE_TOKEN)
    monkeypatch.setenv("REPLICATE_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    code, report, text = doctor(capsys)
    check = by_component(report)["replicate"]
    assert code == 4 and check["status"] == "failed"
    assert "Connection refused" in check["detail"] and "REPLICATE_BASE_URL" in check["fix"]
    assert REPLICATE_TOKEN not in text


def test_nothing_configured_skips_every_provider_and_exits_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report, _ = doctor(capsys)
    assert code == 0 and report["ok"] is True
    checks = by_component(report)
    for name in (*PROVIDERS, "azure"):
        assert checks[name]["status"] == "skipped"
        assert checks[name]["latency_ms"] is None
    assert "TMDB_API_KEY is not set" in checks["tmdb"]["detail"]
    assert "SUPABASE_URL and SUPABASE_KEY" in checks["supabase"]["detail"]
    assert checks["store"]["status"] == "ok" and "will be created" in checks["store"]["detail"]
    assert checks["cache"]["status"] == "ok"


def test_half_configured_supabase_fails_naming_the_missing_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_URL", "https://abcdefgh.supabase.co")
    code, report, _ = doctor(capsys)
    check = by_component(report)["supabase"]
    assert code == 4 and check["status"] == "failed"
    assert "SUPABASE_KEY" in check["fix"]


def test_store_schema_and_static_images_are_reported(
    capsys: pytest.CaptureFixture[str], static_dir: Path
) -> None:
    from coverctl.config import Settings
    from coverctl.store.db import SCHEMA_VERSION, SqliteStore

    SqliteStore(Settings.from_env().db_path).close()
    (static_dir / "bruce_wayne.jpg").write_bytes(b"x")
    (static_dir / "characters" / "joker.png").write_bytes(b"x")
    (static_dir / "notes.txt").write_text("not a picture")
    code, report, _ = doctor(capsys)
    checks = by_component(report)
    assert code == 0
    assert f"schema version {SCHEMA_VERSION}" in checks["store"]["detail"]
    assert "0 rows" in checks["store"]["detail"]
    assert checks["static"]["status"] == "ok" and "2 images" in checks["static"]["detail"]


def test_broken_local_state_fails_with_a_fix(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    isolated_environment: Path,
    tmp_path: Path,
) -> None:
    isolated_environment.mkdir(parents=True)
    (isolated_environment / "coverctl.db").write_bytes(b"this is not a SQLite database" * 100)
    (isolated_environment / "cache").write_text("a file where the cache directory belongs")
    monkeypatch.setenv("COVERCTL_STATIC_DIR", str(tmp_path / "missing"))
    code, report, _ = doctor(capsys)
    checks = by_component(report)
    assert code == 4
    assert checks["store"]["status"] == "failed" and "COVERCTL_HOME" in checks["store"]["fix"]
    assert checks["cache"]["status"] == "failed" and "not a directory" in checks["cache"]["detail"]
    assert checks["static"]["status"] == "failed"
    assert "COVERCTL_STATIC_DIR" in checks["static"]["fix"]


@pytest.mark.azurite
def test_azure_lists_containers_with_a_good_key_and_fails_with_a_wrong_one(
    azurite: AzuriteService, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        if not service.get_container_client("doctor-check").exists():
            service.create_container("doctor-check")

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    code, report, _ = doctor(capsys)
    check = by_component(report)["azure"]
    assert code == 0 and check["status"] == "ok"
    assert "doctor-check" in check["detail"] and isinstance(check["latency_ms"], int)

    wrong_key = "V3JvbmdXcm9uZ1dyb25nV3JvbmdXcm9uZ1dyb25nV3JvbmdXcm9uZ1dyb25nV3Jvbmc="
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        azurite.connection_string.replace(azurite.account_key, wrong_key),
    )
    code, report, text = doctor(capsys)
    check = by_component(report)["azure"]
    assert code == 4 and check["status"] == "failed"
    assert "rejected" in check["detail"]
    assert "AZURE_STORAGE_CONNECTION_STRING" in check["fix"]
    assert wrong_key not in text and azurite.account_key not in text


def test_a_key_cut_off_by_shortening_is_still_scrubbed() -> None:
    from coverctl.maintenance.doctor import CheckResult, _scrubbed

    secret = "abcdef0123456789abcdef0123456789"
    result = CheckResult("tmdb", "failed", "TMDB said: bad key " + secret[:12] + "…", fix=None)
    cleaned = _scrubbed(result, [secret])
    assert secret[:6] not in cleaned.detail and cleaned.detail.endswith("***…")


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        # A parse error mentions a "token" too: that is not a refused key (hardcover.py's rule).
        ({"message": "Unexpected token '}' in query", "extensions": {"code": "parse-failed"}}, ""),
        (
            {
                "message": "Malformed Authorization header",
                "extensions": {"code": "invalid-headers"},
            },
            "rejected",
        ),
    ],
)
def test_hardcover_probe_reads_an_answer_as_the_source_does(
    make_settings: Callable[..., Settings], error: dict[str, Any], verdict: str
) -> None:
    from coverctl.maintenance.doctor import run_doctor

    sent: list[str] = []

    def hardcover(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["authorization"])
        return json_response(200, {"errors": [error]})

    # Pasted as Hardcover's settings page shows it: with its "Bearer " prefix.
    settings = make_settings(HARDCOVER_API_KEY=f"Bearer {HARDCOVER_TOKEN}")
    report = run_doctor(settings, transport=httpx.MockTransport(hardcover))
    check = {c.component: c for c in report.checks}["hardcover"]
    assert sent == [f"Bearer {HARDCOVER_TOKEN}"]  # the source's header, one prefix
    assert check.status == "failed" and error["message"] in check.detail
    if verdict:
        assert check.detail.startswith("Hardcover rejected the key")
        assert check.fix is not None and "HARDCOVER_API_KEY" in check.fix
    else:
        assert check.detail.startswith("Hardcover: the test query failed")
        assert check.fix is not None and "HARDCOVER_GRAPHQL_URL" in check.fix
