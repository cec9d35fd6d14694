"""coverctl.push.supabase against a strict in-process fake of PostgREST (httpx.MockTransport).

The fake checks every request the way PostgREST and Supabase's gateway would (path, on_conflict,
apikey, Authorization, Content-Type, Prefer, body shape) and raises on anything unexpected, so a
wrong request fails the test instead of being answered.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from coverctl.config import Secret
from coverctl.errors import (
    ConfigError,
    CoverctlError,
    CredentialRejected,
    InputRowError,
    ServiceUnreachable,
)
from coverctl.push.rows import CONFLICT_COLUMNS as CONFLICT
from coverctl.push.rows import PUSH_COLUMNS, to_push_row
from coverctl.push.supabase import (
    BACKOFF_INITIAL,
    BACKOFF_JITTER,
    RETRY_AFTER_CAP,
    push_rows,
)

URL = "https://abcdefghijklmnop.supabase.co"
KEY = "eyJhbGciOiJIUzI1NiJ9.service-role-SECRET-value.c2lnbmF0dXJl"
SOURCES = ("character_specific", "ai_generated", "tvdb", "tmdb", "hardcover", "web_search")

Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


class FakePostgREST:
    """Stores upserted rows by unique key; scripted replies are served first, in order."""

    def __init__(self, key: str = KEY, host: str = "abcdefghijklmnop.supabase.co") -> None:
        self.key = key
        self.host = host
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.batch_sizes: list[int] = []
        self.script: list[Reply] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.check(request)
        if self.script:
            reply = self.script.pop(0)
            return reply(request) if callable(reply) else reply
        body = json.loads(request.content)
        self.batch_sizes.append(len(body))
        for row in body:
            self.rows[(row["character_name"], row["movie_title"], row["source"])] = row
        return httpx.Response(201)

    def check(self, request: httpx.Request) -> None:
        url = request.url
        assert request.method == "POST", f"unexpected {request.method} {url}"
        assert url.host == self.host, f"unexpected host {url.host}"
        assert url.path == "/rest/v1/character_images", f"unexpected path {url.path}"
        assert dict(url.params) == {"on_conflict": "character_name,movie_title,source"}, url
        headers = request.headers
        assert headers["apikey"] == self.key
        assert headers["authorization"] == f"Bearer {self.key}"
        assert headers["content-type"] == "application/json"
        prefer = {p.strip() for p in headers["prefer"].split(",")}
        assert "resolution=merge-duplicates" in prefer, prefer
        assert "return=minimal" in prefer, prefer
        body = json.loads(request.content)
        assert isinstance(body, list) and body, "body must be a non-empty JSON array"
        for row in body:
            assert tuple(row) == PUSH_COLUMNS, f"unexpected keys {sorted(row)}"


def make_row(i: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(uuid.UUID(int=i + 1)),
        "character_name": f"Character {i}",
        "movie_title": f"Movie {i % 11}",
        "image_url": f"https://img.example/{i}.jpg",
        "source": SOURCES[i % len(SOURCES)],
        "external_character_id": None if i % 4 == 0 else str(i),
        "quality_score": 30 + i % 70,
        "created_at": "2026-11-27T08:00:00+00:00",
        "updated_at": "2026-11-27T08:00:00+00:00",
        "status": "resolved",
        "elapsed_ms": 12,
    }
    row.update(changes)
    return row


def error(status: int, code: str, message: str, **extra: Any) -> httpx.Response:
    body = {"code": code, "details": None, "hint": None, "message": message, **extra}
    return httpx.Response(status, json=body)


@pytest.fixture
def fake() -> FakePostgREST:
    return FakePostgREST()


@pytest.fixture
def client(fake: FakePostgREST) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(fake))


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The waits stamina scheduled before each retry, read from its instrumentation hooks;
    none is slept (tenacity, under stamina, sleeps through time.sleep)."""
    scheduled: list[float] = []

    def record(details: RetryDetails) -> None:
        scheduled.append(details.wait_for)

    before = get_on_retry_hooks()
    set_on_retry_hooks([record])
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    yield scheduled
    set_on_retry_hooks(before)


def push(client: httpx.Client, rows: list[dict[str, Any]], **kwargs: Any) -> Any:
    return push_rows(URL, Secret(KEY), rows, client=client, **kwargs)


# --- success paths -------------------------------------------------------------------------------


def test_rows_are_sent_in_batches_each_row_once(fake: FakePostgREST, client: httpx.Client) -> None:
    rows = [make_row(i) for i in range(1201)]
    report = push(client, rows, batch_size=500)

    assert fake.batch_sizes == [500, 500, 201]
    assert (report.rows_sent, report.batches, report.retries) == (1201, 3, 0)
    sent = [tuple(row[c] for c in CONFLICT) for r in fake.requests for row in json.loads(r.content)]
    assert len(sent) == len(set(sent)) == 1201
    assert len(fake.rows) == 1201
    stored = fake.rows[("Character 7", "Movie 7", SOURCES[7 % 6])]
    assert stored == {c: to_push_row(make_row(7))[c] for c in PUSH_COLUMNS}
    assert "status" not in stored and stored["quality_score"] == 37


def test_pushing_twice_is_idempotent(fake: FakePostgREST, client: httpx.Client) -> None:
    rows = [make_row(i) for i in range(20)]
    push(client, rows)
    push(client, rows)
    assert len(fake.rows) == 20 and len(fake.requests) == 2


def test_duplicate_keys_in_one_push_keep_the_last(
    fake: FakePostgREST, client: httpx.Client
) -> None:
    report = push(client, [make_row(1, quality_score=10), make_row(1, quality_score=90)])
    assert (report.rows_sent, report.duplicates_dropped) == (1, 1)
    assert [row["quality_score"] for row in fake.rows.values()] == [90]


@pytest.mark.parametrize("url", [URL + "/", URL + "/rest/v1", URL + "/rest/v1/"])
def test_project_url_variants(fake: FakePostgREST, client: httpx.Client, url: str) -> None:
    push_rows(url, Secret(KEY), [make_row(1)], client=client)
    assert len(fake.rows) == 1


@pytest.mark.parametrize("status", [200, 204])
def test_other_success_statuses(fake: FakePostgREST, client: httpx.Client, status: int) -> None:
    fake.script = [httpx.Response(status)]
    assert push(client, [make_row(1)]).batches == 1


def test_no_rows_sends_nothing(fake: FakePostgREST, client: httpx.Client) -> None:
    report = push(client, [])
    assert (report.rows_sent, report.batches, fake.requests) == (0, 0, [])


# --- retries -------------------------------------------------------------------------------------


def test_429_waits_for_retry_after_then_succeeds(
    fake: FakePostgREST, client: httpx.Client, waits: list[float]
) -> None:
    fake.script = [httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"})]
    report = push(client, [make_row(i) for i in range(3)])

    assert waits == [7.0]  # exactly what the server asked for, no backoff or jitter
    assert report.retries == 1 and report.rows_sent == 3
    assert len(fake.requests) == 2 and len(fake.rows) == 3
    assert fake.requests[0].content == fake.requests[1].content


def test_a_long_retry_after_is_capped(
    fake: FakePostgREST, client: httpx.Client, waits: list[float]
) -> None:
    fake.script = [httpx.Response(429, headers={"Retry-After": "86400"})]
    push(client, [make_row(1)])
    assert waits == [RETRY_AFTER_CAP]


def test_503_backs_off_then_succeeds(
    fake: FakePostgREST, client: httpx.Client, waits: list[float]
) -> None:
    fake.script = [
        httpx.Response(503, text="upstream unavailable"),
        httpx.Response(429),  # no Retry-After: backed off like a 5xx
    ]
    report = push(client, [make_row(1)])
    assert len(waits) == 2 and all(waited_backoff(n, w) for n, w in enumerate(waits))
    assert report.retries == 2 and len(fake.rows) == 1


def waited_backoff(retry: int, waited: float) -> bool:
    """Whether `waited` is the exponential backoff (with jitter) before retry number `retry`."""
    shortest = BACKOFF_INITIAL * 2**retry
    return shortest <= waited <= shortest + BACKOFF_JITTER


def test_connection_errors_and_timeouts_are_retried(
    fake: FakePostgREST, client: httpx.Client, waits: list[float]
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def time_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    fake.script = [refuse, time_out]
    report = push(client, [make_row(1)])
    assert len(waits) == 2 and all(waited_backoff(n, w) for n, w in enumerate(waits))
    assert report.retries == 2 and len(fake.rows) == 1


def test_backoff_grows_and_gives_up_after_max_retries(
    fake: FakePostgREST, client: httpx.Client, waits: list[float]
) -> None:
    fake.script = [httpx.Response(502) for _ in range(10)]
    with pytest.raises(ServiceUnreachable) as caught:
        push(client, [make_row(1)], max_retries=3)

    assert len(fake.requests) == 4
    assert len(waits) == 3 and all(waited_backoff(n, w) for n, w in enumerate(waits))
    message = str(caught.value)
    assert "abcdefghijklmnop.supabase.co" in message and "502" in message and "4 tries" in message
    assert KEY not in message


def test_no_retries_when_max_retries_is_zero(
    fake: FakePostgREST, client: httpx.Client, waits: list[float]
) -> None:
    fake.script = [httpx.Response(503)]
    with pytest.raises(ServiceUnreachable, match="after 1 tries"):
        push(client, [make_row(1)], max_retries=0)
    assert waits == [] and len(fake.requests) == 1


def test_second_batch_failure_reports_what_was_saved(
    fake: FakePostgREST, client: httpx.Client
) -> None:
    def ok_then_fail(request: httpx.Request) -> httpx.Response:
        fake.script = [error(400, "22P02", "invalid input syntax for type uuid")]
        body = json.loads(request.content)
        for row in body:
            fake.rows[(row["character_name"], row["movie_title"], row["source"])] = row
        return httpx.Response(201)

    fake.script = [ok_then_fail]
    with pytest.raises(CoverctlError) as caught:
        push(client, [make_row(i) for i in range(7)], batch_size=5)
    message = str(caught.value)
    assert "22P02" in message and "batch 2 of 2" in message
    assert "5 rows in 1 earlier batches were saved" in message
    assert len(fake.rows) == 5


# --- errors --------------------------------------------------------------------------------------


def test_401_is_credential_rejected_without_the_key(
    fake: FakePostgREST, client: httpx.Client
) -> None:
    # A server that echoes the token must not get it into our message either.
    fake.script = [error(401, "PGRST301", f"JWSError JWSInvalidSignature for {KEY}")]
    with pytest.raises(CredentialRejected) as caught:
        push(client, [make_row(1)])

    error_ = caught.value
    assert (error_.provider, error_.env_var) == ("Supabase", "SUPABASE_KEY")
    assert "PGRST301" in str(error_)
    assert KEY not in str(error_) and "SECRET" not in str(error_)
    assert KEY not in repr(error_.args)
    assert len(fake.requests) == 1  # no retry with a rejected key


def test_403_permission_denied_is_credential_rejected(
    fake: FakePostgREST, client: httpx.Client
) -> None:
    fake.script = [error(403, "42501", 'permission denied for table "character_images"')]
    with pytest.raises(CredentialRejected, match="42501"):
        push(client, [make_row(1)])


def test_400_check_violation_quotes_code_and_message(
    fake: FakePostgREST, client: httpx.Client
) -> None:
    fake.script = [
        error(
            400,
            "23514",
            'new row for relation "character_images" violates check constraint '
            '"character_images_source_check"',
            details="Failing row contains (...).",
        )
    ]
    with pytest.raises(CoverctlError) as caught:
        push(client, [make_row(1)])
    assert not isinstance(caught.value, ConfigError)
    message = str(caught.value)
    assert "23514" in message and "character_images_source_check" in message
    assert "HTTP 400" in message and KEY not in message
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("PGRST205", "Could not find the table 'public.character_images' in the schema cache"),
        ("42P01", 'relation "public.character_images" does not exist'),
    ],
)
def test_404_missing_table_points_to_the_sql_file(
    fake: FakePostgREST, client: httpx.Client, code: str, message: str
) -> None:
    fake.script = [error(404, code, message)]
    with pytest.raises(ConfigError) as caught:
        push(client, [make_row(1)])
    assert "sql/character_images.sql" in str(caught.value)
    assert code in str(caught.value)
    assert len(fake.requests) == 1


def test_missing_unique_index_points_to_the_sql_file(
    fake: FakePostgREST, client: httpx.Client
) -> None:
    fake.script = [
        error(
            400,
            "42P10",
            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
        )
    ]
    with pytest.raises(ConfigError, match=r"sql/character_images\.sql"):
        push(client, [make_row(1)])


def test_non_json_error_body(fake: FakePostgREST, client: httpx.Client) -> None:
    fake.script = [httpx.Response(418, text="<html>I'm a teapot</html>")]
    with pytest.raises(CoverctlError, match="HTTP 418"):
        push(client, [make_row(1)])


def test_malformed_row_sends_nothing(fake: FakePostgREST, client: httpx.Client) -> None:
    with pytest.raises(InputRowError, match="quality_score"):
        push(client, [make_row(1), make_row(2, quality_score="high")])
    assert fake.requests == []


@pytest.mark.parametrize("url", ["", "abcdefghijklmnop.supabase.co", "ftp://x.example"])
def test_bad_url_is_config_error(client: httpx.Client, url: str) -> None:
    with pytest.raises(ConfigError, match="SUPABASE_URL"):
        push_rows(url, Secret(KEY), [make_row(1)], client=client)


def test_empty_key_is_config_error(client: httpx.Client) -> None:
    with pytest.raises(ConfigError, match="SUPABASE_KEY"):
        push_rows(URL, Secret(""), [make_row(1)], client=client)


def test_real_connection_refused_is_service_unreachable(waits: list[float]) -> None:
    # No fake here: a real socket to a closed loopback port, retried (without sleeping).
    from tests.services import free_port

    with pytest.raises(ServiceUnreachable) as caught:
        push_rows(f"http://127.0.0.1:{free_port()}", Secret(KEY), [make_row(1)], max_retries=2)
    assert len(waits) == 2
    assert "127.0.0.1" in str(caught.value) and KEY not in str(caught.value)


# --- the row shape -------------------------------------------------------------------------------


def test_to_push_row_keeps_and_normalises_the_push_columns() -> None:
    row = to_push_row(
        make_row(
            3,
            id="8B2F8C3E-0D7A-4A53-9A77-2F1F5E0D1A01",  # the store's: never pushed
            character_name="  Batman ",
            external_character_id=42,
            quality_score=70.0,
            created_at="2026-11-27T08:00:00Z",
            updated_at="2026-11-27T09:00:00",
        )
    )
    assert tuple(row) == PUSH_COLUMNS and "id" not in row
    assert row["character_name"] == "Batman"
    assert row["external_character_id"] == "42"
    assert row["quality_score"] == 70 and isinstance(row["quality_score"], int)
    assert row["created_at"] == "2026-11-27T08:00:00+00:00"
    assert row["updated_at"] == "2026-11-27T09:00:00+00:00"


def test_to_push_row_fills_missing_timestamps_and_never_an_id() -> None:
    base = {k: v for k, v in make_row(1).items() if k not in {"id", "created_at", "updated_at"}}
    row = to_push_row(base)
    assert "id" not in row
    assert row["created_at"].endswith("+00:00") and row["updated_at"].endswith("+00:00")
    # Whatever id the store gave its row (a uuid, a bigint, a natural key): not sent.
    for store_id in ("12345", "key:WyJhIiwiYiIsInRtZGIiXQ==", "not-a-uuid"):
        assert "id" not in to_push_row({**base, "id": store_id})


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"source": "imdb"}, "source"),
        ({"quality_score": True}, "quality_score"),
        ({"quality_score": None}, "quality_score"),
        ({"character_name": ""}, "character_name"),
        ({"image_url": None}, "image_url"),
        ({"created_at": "yesterday"}, "created_at"),
    ],
)
def test_to_push_row_rejects_bad_values(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(InputRowError, match=problem):
        to_push_row(make_row(1, **changes))
