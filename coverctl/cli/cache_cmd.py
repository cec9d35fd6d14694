"""`coverctl cache clear|stats`: cache maintenance (the disk cache, or Redis when configured)."""

from __future__ import annotations

import typer

from coverctl.errors import UsageError

cache_app = typer.Typer(
    help="Cache maintenance (on disk, or in Redis with COVERCTL_REDIS_URL).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


@cache_app.command("clear", epilog="Example: coverctl cache clear --expired")
def clear(
    expired: bool = typer.Option(False, "--expired", help="Only entries past their lifetime."),
    source: str | None = typer.Option(
        None, "--source", help="Only entries of one source or provider (e.g. tmdb)."
    ),
    all_tiers: bool = typer.Option(False, "--all", help="Everything, every tier."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Remove cached answers (by default: everything except web search results).

    --expired removes only entries past their lifetime, in every tier; --source removes one
    source's or provider's entries in every tier; --all empties every tier, web search
    results included. Emptying a tier also restarts its hit/miss counts.
    """
    from coverctl.cli.common import load_settings, print_json, stdout_console
    from coverctl.store import open_cache
    from coverctl.store.cache import TIERS

    if expired and source:
        # Expiry is per tier, not per source: expired entries of every source go anyway.
        raise UsageError("Use --expired or --source, not both (--expired covers every source).")
    settings = load_settings()
    cache = open_cache(settings)
    try:
        tiers = (
            list(TIERS) if (all_tiers or expired or source) else [t for t in TIERS if t != "search"]
        )
        if source:
            from coverctl.sources.registry import cache_tags_for

            removed = sum(cache.clear(tiers=tiers, tag=tag) for tag in cache_tags_for(source))
        else:
            removed = cache.clear(tiers=tiers, expired_only=expired)
    finally:
        cache.close()
    if as_json:
        print_json({"removed": removed, "tiers": tiers, "source": source, "expired_only": expired})
    else:
        stdout_console().print(f"removed {removed} cache entries")


@cache_app.command("stats", epilog="Example: coverctl cache stats --json")
def stats(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Entries, bytes and hit rate per cache tier (hits and misses since the tier was last
    emptied)."""
    from rich.table import Table

    from coverctl.cli.common import load_settings, print_json, stdout_console
    from coverctl.store import open_cache

    settings = load_settings()
    cache = open_cache(settings)
    shared = settings.redis_url is not None
    try:
        tiers = cache.stats()
    finally:
        cache.close()
    if as_json:
        hits = sum(t.hits for t in tiers)
        misses = sum(t.misses for t in tiers)
        print_json(
            {
                "directory": None if shared else cache.location,
                "backend": "redis" if shared else "disk",
                "location": cache.location,
                "total": {
                    "entries": sum(t.entries for t in tiers),
                    "bytes": sum(t.bytes for t in tiers),
                    "hits": hits,
                    "misses": misses,
                    "hit_rate": hits / (hits + misses) if hits + misses else None,
                },
                "tiers": [
                    {
                        "tier": t.tier,
                        "entries": t.entries,
                        "bytes": t.bytes,
                        "hits": t.hits,
                        "misses": t.misses,
                        "hit_rate": t.hit_rate,
                    }
                    for t in tiers
                ],
            }
        )
        return
    table = Table(title=f"cache: {cache.location}")
    for column in ("tier", "entries", "bytes", "hits", "misses", "hit rate"):
        table.add_column(column, justify="left" if column == "tier" else "right")
    for t in tiers:
        rate = f"{t.hit_rate:.0%}" if t.hit_rate is not None else "-"
        table.add_row(t.tier, str(t.entries), str(t.bytes), str(t.hits), str(t.misses), rate)
    hits, misses = sum(t.hits for t in tiers), sum(t.misses for t in tiers)
    table.add_row(
        "all",
        str(sum(t.entries for t in tiers)),
        str(sum(t.bytes for t in tiers)),
        str(hits),
        str(misses),
        f"{hits / (hits + misses):.0%}" if hits + misses else "-",
        style="bold",
    )
    stdout_console().print(table)
