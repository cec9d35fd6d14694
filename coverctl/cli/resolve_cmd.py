"""`coverctl resolve`: the best image for one character."""

from __future__ import annotations

import typer

from coverctl.errors import ExitCode


def register(app: typer.Typer) -> None:
    @app.command(
        "resolve",
        epilog='Example: coverctl resolve "Bruce Wayne" --title "The Dark Knight" --year 2008\n\n'
        "By id (no search): coverctl resolve Joker --title 'The Dark Knight' --media-type movie "
        "--tmdb-id 155 --tmdb-person-id 1810",
    )
    def resolve(
        character: str = typer.Argument(
            ..., metavar="CHARACTER", help="Character name, e.g. 'Bruce Wayne'."
        ),
        title: str = typer.Option(..., "--title", "-t", help="Movie, series or book title."),
        year: int | None = typer.Option(None, "--year", "-y", help="Release year."),
        media_type: str | None = typer.Option(
            None, "--media-type", "-m", help="movie, tv or book (default: try all)."
        ),
        actor: str | None = typer.Option(None, "--actor", help="Only accept this actor."),
        tmdb_id: str | None = typer.Option(
            None, "--tmdb-id", help="TMDB id of the movie or series (needs --media-type)."
        ),
        tvdb_id: str | None = typer.Option(None, "--tvdb-id", help="TVDB id of the series."),
        hardcover_id: str | None = typer.Option(
            None, "--hardcover-id", help="Hardcover id of the book."
        ),
        tmdb_person_id: str | None = typer.Option(
            None, "--tmdb-person-id", help="TMDB id of the actor (with --tmdb-id)."
        ),
        credit_id: str | None = typer.Option(
            None, "--credit-id", help="TMDB credit id of the role (24 hex characters)."
        ),
        tvdb_character_id: str | None = typer.Option(
            None, "--tvdb-character-id", help="TVDB id of the character."
        ),
        refresh: bool = typer.Option(False, "--refresh", help="Ignore cached answers."),
        no_network: bool = typer.Option(
            False, "--no-network", help="Only local files, the store and the cache."
        ),
        generate: bool = typer.Option(
            False, "--generate", help="Generate an AI image when nothing else is found (costs)."
        ),
        verify: bool | None = typer.Option(
            None,
            "--verify/--no-verify",
            help="--verify: download and check every source's picture before accepting it "
            "(TMDB's too; the score then reflects the picture). --no-verify: check none "
            "(faster, but a dead TVDB artwork or Hardcover cover may be served); web search "
            "results are always checked, they are strangers' pictures. Default: check the "
            "pictures of TVDB and Hardcover, whose URLs are often dead or truncated.",
            show_default=False,
        ),
        explain: bool = typer.Option(False, "--explain", help="Show every source tried and why."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> int:
        """Find the best image for one character."""
        import asyncio

        from coverctl.cli.common import load_settings, print_json, print_notices
        from coverctl.resolver import (
            ResolveOptions,
            checks_from_flag,
            close_resolver,
            open_resolver,
        )
        from coverctl.validation import query_from_fields

        settings = load_settings()
        # The one query validator: a bad field is the sentence a batch row would get (exit 2).
        query = query_from_fields(
            {
                "character_name": character,
                "title": title,
                "year": year,
                "media_type": media_type,
                "actor": actor,
                "tmdb_id": tmdb_id,
                "tvdb_id": tvdb_id,
                "hardcover_id": hardcover_id,
                "tmdb_person_id": tmdb_person_id,
                "credit_id": credit_id,
                "tvdb_character_id": tvdb_character_id,
            }
        )
        options = ResolveOptions(
            refresh=refresh,
            network=not no_network,
            generate=generate,
            verify=checks_from_flag(verify),
        )

        async def run():
            resolver = open_resolver(settings, refresh=refresh)
            try:
                return await resolver.resolve(query, options), list(resolver.notices)
            finally:
                await close_resolver(resolver)

        resolution, notices = asyncio.run(run())
        if as_json:
            data = resolution.to_json()
            if explain:
                data["attempts"] = resolution.explain()
            print_json(data)
        else:
            print_notices(notices)
            _print_human(resolution, explain)
        return ExitCode.OK if resolution.status == "resolved" else ExitCode.INCOMPLETE


def _print_human(resolution, explain: bool) -> None:
    from rich.table import Table

    from coverctl.cli.common import stdout_console

    console = stdout_console()
    query = resolution.query
    label = f"{query.character_name} in {query.title}" + (f" ({query.year})" if query.year else "")
    if resolution.status == "resolved":
        candidate = resolution.candidate
        who = candidate.matched.person
        console.print(f"[bold green]found[/] {label}", markup=True)
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        table.add_row("image", candidate.image_url)
        table.add_row("source", f"{candidate.source} (quality {candidate.quality_score})")
        if who:
            table.add_row("matched", f"{who} as {candidate.matched.character or '?'}")
        elif candidate.matched.character:
            table.add_row("matched", f"character {candidate.matched.character!r}")
        if resolution.cache_hit:
            table.add_row("cache", "hit")
        console.print(table)
    else:
        console.print(f"[bold red]not found[/] {label}: {resolution.error}", markup=True)
    if resolution.unavailable_sources:
        console.print(f"unavailable: {', '.join(resolution.unavailable_sources)}")
    if explain:
        table = Table(title="sources tried", title_justify="left")
        table.add_column("source")
        table.add_column("outcome")
        table.add_column("why")
        for attempt in resolution.attempts:
            table.add_row(attempt.source, attempt.outcome, attempt.reason)
        console.print(table)
