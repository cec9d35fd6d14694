from __future__ import annotations

import subprocess
import sys

import coverctl


def test_public_names_resolve_lazily() -> None:
    for name in coverctl.__all__:
        assert getattr(coverctl, name) is not None


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, io, contextlib\n"
        "from coverctl.cli.app import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    run(['--help'])\n"
        "heavy = ['PIL', 'httpx', 'azure', 'replicate', 'diskcache', 'sqlite_utils', 'rich', "
        "'psycopg', 'rapidfuzz', 'imagehash', 'prometheus_client', 'asyncio']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def _package_sources() -> dict[str, str]:
    from pathlib import Path

    root = Path(coverctl.__file__).parent
    return {p.relative_to(root).as_posix(): p.read_text("utf-8") for p in root.rglob("*.py")}


def test_no_private_httpx_pool_attribute_is_used() -> None:
    """The network guard pins connections through httpcore's public network_backend; nothing
    reads or replaces httpx's private `_pool` (it would break silently on an httpx upgrade)."""
    import re

    # An attribute named `_pool` (psycopg_pool, the PostgreSQL store's pool library, is not one).
    private = re.compile(r"\._pool\b")
    assert [name for name, text in _package_sources().items() if private.search(text)] == []


def test_address_vetting_lives_in_one_module() -> None:
    import re

    vetting = re.compile(r"\bis_(private|loopback|link_local|reserved)\b")
    modules = [name for name, text in _package_sources().items() if vetting.search(text)]
    assert modules == ["net/guard.py"]


def test_no_sql_and_no_database_driver_outside_the_store() -> None:
    """The store is the one home of SQL (issue: one home per concern): every other module asks
    it through coverctl.store.interfaces, whatever the engine."""
    import re
    from pathlib import Path

    package = Path(coverctl.__file__).parent
    forbidden = re.compile(
        r"import sqlite3|^\s*import psycopg|from psycopg|\.execute(many)?\(|"
        r"\b(SELECT \S.* FROM|INSERT INTO|DELETE FROM|UPDATE \w+ SET|"
        r"CREATE (UNIQUE )?(TABLE|INDEX)|ALTER TABLE)\b"
    )
    found = [
        f"{path.relative_to(package)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if path.relative_to(package).parts[0] != "store"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if forbidden.search(line)
    ]
    assert found == []
