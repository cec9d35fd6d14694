"""Real test services, started once per session on free loopback ports in temporary directories.

- `azurite`: the Azurite blob emulator (npm package, `<repo>/node_modules/.bin/azurite-blob`, else
  PATH). Gives `.connection_string` and `.blob_endpoint` for the well-known devstoreaccount1.
- `postgres`: a throw-away PostgreSQL cluster (Debian's binaries in /usr/lib/postgresql/*/bin; run
  as the `postgres` user when the suite runs as root). `pg_dsn` gives each test a fresh database.
- `redis_server`: Debian's `redis-server` on loopback, no persistence, with a password (so tests
  see that it never leaks). `redis_url` gives each test an emptied database; `running_redis()`
  starts one of a test's own (to kill it part-way).

A missing binary skips the test with a hint to run `bash scripts/services.sh`; when the environment
variable CI is set (non-empty) it fails instead, so CI never passes by skipping these.
Use with `pytest_plugins = ["tests.services"]` in conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = "run `bash scripts/services.sh` to install it"

AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's fixed, publicly documented development key (not a secret).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT = 20.0


def missing_service(what: str, hint: str = INSTALL_HINT) -> NoReturn:
    """Skip the test, or fail it when CI is set: CI must never silently skip a real service."""
    message = f"{what} is not installed: {hint}."
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None, log: Path, timeout: float = START_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- Azurite -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AzuriteService:
    host: str
    port: int
    account_name: str = AZURITE_ACCOUNT
    account_key: str = AZURITE_KEY

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )


def find_azurite() -> str | None:
    local = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("azurite-blob")


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteService]:
    binary = find_azurite()
    if binary is None:
        missing_service("Azurite (azurite-blob, npm package azurite)")
    workdir = Path(tempfile.mkdtemp(prefix="coverctl-azurite-"))
    log = workdir / "azurite.log"
    port = free_port()
    command = [
        binary,
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(workdir / "data"),
        "--silent",
        "--loose",
        "--skipApiVersionCheck",
        "--disableTelemetry",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir
        )
    try:
        wait_for_port(port, proc, log)
        yield AzuriteService(host="127.0.0.1", port=port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


# --- PostgreSQL ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresService:
    host: str
    port: int
    user: str = "postgres"

    def dsn_for(self, dbname: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def dsn(self) -> str:
        """The maintenance database; tests should use `pg_dsn` (a database of their own)."""
        return self.dsn_for("postgres")


def find_postgres_bin() -> Path | None:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: _version_key(p.parent.name),
        reverse=True,
    )
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresService]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (fsync off), stopped and removed on exit."""
    bindir = find_postgres_bin()
    if bindir is None:
        missing_service("PostgreSQL (initdb, pg_ctl: Debian package postgresql)")
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:
        runuser = shutil.which("runuser")
        try:
            import pwd

            owner = pwd.getpwnam("postgres")
        except KeyError:
            owner = None
        if runuser is None or owner is None:
            missing_service("the `postgres` user (or runuser)")
        prefix = [runuser, "-u", "postgres", "--"]

    # Under /tmp (not pytest's 0700 tmp dir) so the postgres user can reach it.
    workdir = Path(tempfile.mkdtemp(prefix="coverctl-pg-"))
    data, log = workdir / "data", workdir / "postgres.log"
    if as_root:
        shutil.chown(workdir, user="postgres", group="postgres")
    port = free_port()
    pg_ctl = str(bindir / "pg_ctl")

    def run(*args: str) -> None:
        result = subprocess.run(
            [*prefix, *args],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{_tail(log)}"
            )

    started = False
    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "30", "start")
        started = True
        wait_for_port(port, None, log)
        yield PostgresService(host="127.0.0.1", port=port)
    finally:
        if started:
            with contextlib.suppress(Exception):
                run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresService]:
    with running_postgres() as service:
        yield service


@pytest.fixture
def pg_dsn(postgres: PostgresService) -> Iterator[str]:
    """A DSN to a new, empty database, dropped after the test."""
    import psycopg

    name = f"test_{uuid.uuid4().hex}"
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield postgres.dsn_for(name)
    finally:
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


# --- Redis ---------------------------------------------------------------------------------------


# Not a real secret: the throw-away test servers' password, which no output may show.
REDIS_PASSWORD = "fleet-pw-5c1e7"


@dataclass
class RedisService:
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    password: str = REDIS_PASSWORD

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    def kill(self) -> None:
        """Stop the server at once (SIGKILL), as a crashed or unplugged Redis would."""
        self.proc.kill()
        self.proc.wait(timeout=10)


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)),
        None,
    )


@contextlib.contextmanager
def running_redis(port: int | None = None) -> Iterator[RedisService]:
    """A redis-server on 127.0.0.1 with nothing written to disk; stopped (if still up) on exit."""
    binary = find_redis_server()
    if binary is None:
        missing_service("Redis (redis-server: Debian package redis-server)")
    workdir = Path(tempfile.mkdtemp(prefix="coverctl-redis-"))
    log = workdir / "redis.log"
    port = port or free_port()
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--logfile",
        str(log),
        "--daemonize",
        "no",
        "--requirepass",
        REDIS_PASSWORD,
    ]
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, proc, log)
        yield RedisService(host="127.0.0.1", port=port, proc=proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisService]:
    with running_redis() as service:
        yield service


@pytest.fixture
def redis_url(redis_server: RedisService) -> str:
    """The session's Redis, emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushdb()
    finally:
        client.close()
    return redis_server.url
