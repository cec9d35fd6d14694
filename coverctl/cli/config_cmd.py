"""`coverctl config set|unset|show`: the config file for keys and base URLs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from coverctl.config import Settings

config_app = typer.Typer(
    help="Keys and settings kept in COVERCTL_HOME/config.toml.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("set", epilog="Example: coverctl config set TMDB_API_KEY")
def set_value(
    name: str = typer.Argument(..., help="Setting name, e.g. TMDB_API_KEY."),
    value: str | None = typer.Argument(
        None, help="Value; omit it to be prompted (keeps keys out of shell history)."
    ),
) -> None:
    """Store a setting (file readable by you only). Environment variables still win."""
    from coverctl.config import (
        config_file_path,
        secret_variables,
        validate_value,
        write_config_value,
    )

    if value is None:
        value = typer.prompt(name, hide_input=name.upper() in secret_variables())
    validate_value(name, value)  # a bad value is refused here, not found by every later command
    path = config_file_path()
    write_config_value(path, name, value)
    print(f"saved {name.upper()} in {path}")


@config_app.command("unset", epilog="Example: coverctl config unset TVDB_PIN")
def unset_value(name: str = typer.Argument(..., help="Setting name.")) -> None:
    """Remove a setting from the config file."""
    from coverctl.config import config_file_path, write_config_value

    path = config_file_path()  # works even when a bad value in the file breaks other commands
    write_config_value(path, name, None)
    print(f"removed {name.upper()} from {path}")


@config_app.command("show", epilog="Example: coverctl config show --json")
def show(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Show where settings come from; secrets are shown only as set / not set."""
    import os

    from coverctl.cli.common import load_settings, print_json
    from coverctl.config import known_variables, read_config_file, secret_variables
    from coverctl.redact import redact_url

    settings = load_settings()
    from_file = read_config_file(settings.config_file)
    rows = []
    secrets = secret_variables()
    for name, description in known_variables().items():
        if os.environ.get(name):
            origin, value = "environment", os.environ[name]
        elif name in from_file:
            origin, value = "config file", from_file[name]
        else:
            origin, value = "default", ""
        shown = ("set" if value else "not set") if name in secrets else redact_url(value)
        rows.append({"name": name, "value": shown, "origin": origin, "description": description})
    info = {
        "home": str(settings.home),
        "database": str(settings.db_path),
        "cache": _cache_location(settings),
        "config_file": str(settings.config_file),
        "static_dir": str(settings.static_dir),
        "settings": rows,
    }
    if as_json:
        print_json(info)
        return
    for key in ("home", "database", "cache", "config_file", "static_dir"):
        print(f"{key:12} {info[key]}")
    for row in rows:
        print(f"{row['name']:32} {row['value'] or '-':40} {row['origin']}")


def _cache_location(settings: Settings) -> str:
    """The cache directory, or the Redis URL (password hidden) when the cache is in Redis."""
    if settings.redis_url is not None:
        from coverctl.fleet.connection import describe

        return describe(settings.redis_url.reveal())
    return str(settings.cache_dir)
