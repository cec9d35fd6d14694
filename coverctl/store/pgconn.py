"""Talking to PostgreSQL (psycopg 3, the `postgres` extra): DSNs, errors, a pool with retries.

Shared by the PostgreSQL store (`postgres.py`) and `push postgres` (`pgexport.py`). Messages name
the server as `PostgreSQL at host:port (database d)`, never the password or the DSN itself: libpq
quotes pieces of a DSN in some of its errors, so every reason shown is scrubbed of them.

`PgDatabase` wraps a `psycopg_pool.ConnectionPool`. Each call runs on a pooled connection, in one
transaction when it has several statements. When the connection turns out to be lost (the server
restarted, a network blip), the call is tried again (stamina, coverctl/retrying.py) on a fresh
connection a few times within a few seconds: every write the store makes is idempotent (upserts
on a unique key, deletes, updates to given values), so a call whose COMMIT was sent but whose
answer was lost is safe to repeat. A server that refuses new connections is down: that is said at
once, as `StoreUnavailable` (exit 4), naming the variable that points at it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, TypeVar
from urllib.parse import quote

from coverctl.errors import (
    ConfigError,
    CoverctlError,
    ServiceUnreachable,
    StoreError,
    StoreUnavailable,
)
from coverctl.redact import scrub
from coverctl.retrying import retry_context

T = TypeVar("T")

CONNECT_TIMEOUT: Final = 10  # seconds for one connection attempt
ACQUIRE_TIMEOUT: Final = 5.0  # seconds to wait for a pooled connection (the server may be down)
ATTEMPTS: Final = 3  # tries of one call when its connection was lost
RETRY_PAUSE: Final = 0.5  # seconds before the first retry; doubles
POOL_MAX: Final = 8  # asyncio tasks share one thread; the rest is streams, locks and doctor
APPLICATION_NAME: Final = "coverctl"

# SQLSTATEs that mean "this connection is gone", not "this statement is wrong": class 08
# (connection exception), admin/crash shutdown and "cannot connect now" (the server restarting).
_CONNECTION_LOST_STATES: Final = frozenset({"57P01", "57P02", "57P03"})


def import_psycopg(purpose: str = "The PostgreSQL store") -> Any:
    """The psycopg module, or ConfigError saying how to install it."""
    try:
        import psycopg
        import psycopg.conninfo
        import psycopg.errors
        import psycopg.rows
    except ImportError:
        raise ConfigError(f"{purpose} needs psycopg: pip install 'coverctl[postgres]'.") from None
    return psycopg


def parse_dsn(dsn: str) -> dict[str, Any]:
    """The DSN's parameters. ConfigError (quoting nothing of it) when it cannot be parsed."""
    pg = import_psycopg()
    try:
        return dict(pg.conninfo.conninfo_to_dict(dsn))
    except pg.Error:
        # The parser's message may quote a piece of the DSN (a password): never show it.
        raise ConfigError(
            "The PostgreSQL DSN cannot be parsed: expected "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME or 'host=HOST port=PORT dbname=DBNAME'."
        ) from None


def describe_dsn(dsn: str) -> str:
    """`PostgreSQL at host:port (database d)` for messages. ConfigError if `dsn` is invalid."""
    params = parse_dsn(dsn)
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or ""
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or params.get("user") or ""
    if not host:
        place = f"the local socket, port {port}"
    elif host.startswith("/"):
        place = f"socket {host}, port {port}"
    else:
        place = f"{host}:{port}"
    return f"PostgreSQL at {place}" + (f" (database {dbname})" if dbname else "")


def dsn_secrets(dsn: str) -> list[str]:
    """The DSN and its password (plain and URL-quoted): what every message is scrubbed of."""
    secrets = [dsn]
    password = str(parse_dsn(dsn).get("password") or "")
    if password:
        secrets += [password, quote(password, safe="")]
    return [s for s in secrets if len(s) >= 3]


def reason(exc: BaseException, secrets: Iterable[str]) -> str:
    """libpq's own reason, without the server description we give ourselves, scrubbed."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    text = text.removeprefix("connection failed:").strip()
    text = re.sub(r"^connection to server (at|on) .*? failed:\s*", "", text)
    text = re.sub(r"^(FATAL|ERROR):\s*", "", text)
    return scrub(text, secrets).rstrip(".")


def connect_error(
    exc: BaseException, where: str, secrets: list[str], variable: str | None = None
) -> CoverctlError:
    """The error for a connection that could not be made. With `variable` (the store's
    COVERCTL_DATABASE_URL) the message names it and the error is a StoreError; without it (a
    --dsn given to `push`), ConfigError or ServiceUnreachable."""
    why = reason(exc, secrets)
    lowered = str(exc).lower()
    check = f"check {variable}" if variable else "check the DSN"
    if "authentication failed" in lowered or "no pg_hba.conf entry" in lowered:
        message = f"{where} rejected the login ({why}): {check} (user and password)."
        return StoreError(message) if variable else ConfigError(message)
    if "does not exist" in lowered and ("database" in lowered or "role" in lowered):
        message = f"{where}: {why}. C{check[1:]}."
        return StoreError(message) if variable else ConfigError(message)
    if variable:
        return StoreUnavailable(
            f"Cannot connect to {where} ({variable}): {why}. Check that the server is running "
            f"and that {variable} names the right host and port."
        )
    return ServiceUnreachable(
        f"Cannot connect to {where}: {why}. Check that the server is running and that the "
        "DSN names the right host and port."
    )


def connection_lost(pg: Any, exc: BaseException) -> bool:
    """True when `exc` says the connection (not the statement) failed."""
    if not isinstance(exc, pg.OperationalError):
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith("08") or state in _CONNECTION_LOST_STATES


class PgDatabase:
    """A pool of connections to one PostgreSQL database, for the store (see module docstring).

    `variable` names the setting that points here (COVERCTL_DATABASE_URL): every error says it.
    """

    def __init__(self, dsn: str, *, variable: str) -> None:
        self.pg = import_psycopg(f"{variable} (a PostgreSQL store)")
        self.dsn = dsn
        self.variable = variable
        try:
            self.where = describe_dsn(dsn)
            self.secrets = dsn_secrets(dsn)
        except ConfigError as exc:
            raise ConfigError(f"{variable}: {exc.message}") from None
        self._connections: Any = None
        self._down = False  # a call found the server gone: the next one checks first

    # --- connections -----------------------------------------------------------------------------

    def connect(self) -> Any:
        """One connection of its own (autocommit), not from the pool: for migrations and for
        session locks, which must die with their connection. StoreError when it cannot be made."""
        try:
            return self.pg.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name=APPLICATION_NAME,
            )
        except self.pg.Error as exc:
            raise connect_error(exc, self.where, self.secrets, self.variable) from None

    def open_pool(self) -> None:
        from psycopg_pool import ConnectionPool

        self._connections = ConnectionPool(
            self.dsn,
            min_size=1,
            max_size=POOL_MAX,
            kwargs={
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT,
                "application_name": APPLICATION_NAME,
            },
            timeout=ACQUIRE_TIMEOUT,
            name="coverctl-store",
            open=False,
        )
        # The server was just reached (migrations ran on a connection of their own): no wait.
        self._connections.open(wait=False)

    def close(self) -> None:
        if self._connections is not None:
            # Its threads may be busy reconnecting to a server that is gone: do not wait long.
            self._connections.close(timeout=0.5 if self._down else 5.0)
            self._connections = None

    # --- calls -----------------------------------------------------------------------------------

    def run(self, work: Callable[[Any], T], *, doing: str, transaction: bool = True) -> T:
        """`work(connection)`, tried again on a fresh connection when the connection was lost;
        `doing` says what it was for messages ("save the batch progress").

        In one transaction, unless `transaction` is False: then each statement commits on its
        own (autocommit), one round trip for a single read or write instead of three.
        """
        from psycopg_pool import PoolTimeout

        if self._down:
            # Gone a moment ago (the batch stopping records that it stopped): ask the server
            # once, instead of waiting out the pool's timeout for each call.
            if not self._reachable():
                raise self.lost(doing, "the server still refuses connections")
            self._down = False
        try:
            for attempt in retry_context(
                on=self._worth_retrying,
                attempts=ATTEMPTS,
                timeout=None,
                wait_initial=RETRY_PAUSE,
                wait_max=4 * RETRY_PAUSE,
                wait_jitter=RETRY_PAUSE / 5,
            ):
                with attempt, self._connections.connection() as conn:
                    if not transaction:
                        return work(conn)
                    with conn.transaction():
                        return work(conn)
        except PoolTimeout:
            # No connection for ACQUIRE_TIMEOUT seconds: the server is gone, not blinking.
            raise self.lost(doing, "no connection could be made") from None
        except self.pg.Error as exc:
            if connection_lost(self.pg, exc):
                raise self.lost(doing, reason(exc, self.secrets)) from None
            raise self.failed(doing, exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _worth_retrying(self, exc: Exception) -> bool:
        """A lost connection, while the server still accepts new ones (a restart, a blip): a
        server that refuses them is down, which is said at once rather than after retries."""
        return connection_lost(self.pg, exc) and self._reachable()

    def stream(self, sql: bytes, params: Iterable[Any] = (), *, doing: str) -> Iterator[Any]:
        """The rows of one query, fetched in chunks through a server-side cursor on a connection
        held while the caller iterates (writes elsewhere meanwhile do not disturb it: the cursor
        reads one snapshot). No retry once rows were handed out."""
        from psycopg_pool import PoolTimeout

        try:
            with (
                self._connections.connection() as conn,
                conn.transaction(),
                conn.cursor(name="coverctl_stream") as cursor,
            ):
                cursor.itersize = 2000
                cursor.execute(sql, list(params))
                yield from cursor
        except PoolTimeout:
            raise self.lost(doing, "no connection could be made") from None
        except self.pg.Error as exc:
            if connection_lost(self.pg, exc):
                raise self.lost(doing, reason(exc, self.secrets)) from None
            raise self.failed(doing, exc) from None

    def _reachable(self) -> bool:
        """Whether the server accepts a new connection right now."""
        try:
            self.pg.connect(self.dsn, connect_timeout=CONNECT_TIMEOUT).close()
        except self.pg.Error:
            return False
        return True

    def lost(self, doing: str, why: str) -> StoreUnavailable:
        self._down = True
        return StoreUnavailable(
            f"Lost the connection to {self.where} ({self.variable}) and could not {doing}: "
            f"{why}. What was saved before stays saved; run the command again once the "
            "server is back."
        )

    def failed(self, doing: str, exc: BaseException) -> StoreError:
        state = getattr(exc, "sqlstate", None)
        diag = getattr(exc, "diag", None)
        primary = getattr(diag, "message_primary", None) or reason(exc, self.secrets)
        code = f"{state}: " if state else ""
        return StoreError(
            f"{self.where} refused to {doing} ({code}{scrub(primary, self.secrets).rstrip('.')})."
        )
