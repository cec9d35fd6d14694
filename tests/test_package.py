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
