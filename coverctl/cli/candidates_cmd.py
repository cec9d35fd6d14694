"""`coverctl candidates`: every picture the sources offer for one character, numbered."""

from __future__ import annotations

import typer

from coverctl.cli.curation_options import CHARACTER, JSON, MEDIA_TYPE, TITLE
from coverctl.errors import ExitCode

EPILOG = (
    'Example: coverctl candidates "Bruce Wayne" --title "The Dark Knight" --year 2008\n\n'
    'Then: coverctl pin "Bruce Wayne" --title "The Dark Knight" --candidate N. '
    "Exit codes: 0 candidates listed; 3 no source offers any."
)


def register(app: typer.Typer) -> None:
    @app.command("candidates", epilog=EPILOG)
    def candidates(
        character: str = CHARACTER,
        title: str = TITLE,
        year: int | None = typer.Option(None, "--year", "-y", help="Release year."),
        media_type: str | None = MEDIA_TYPE,
        as_json: bool = JSON,
    ) -> int:
        """List every candidate picture (the matched person's other TMDB photos, the TVDB
        character art and actor photo, Hardcover's cover, web results), numbered, with size and
        score; marks the one served now, the pin and rejected ones."""
        import asyncio

        from coverctl.cli.common import load_settings, print_json
        from coverctl.cli.curation_options import query
        from coverctl.curation.service import open_curator

        settings = load_settings()

        async def run():
            async with open_curator(settings) as curator:
                return await curator.candidates(
                    query(character, title, year, media_type), sizes=True
                )

        listing = asyncio.run(run())
        if as_json:
            print_json(listing.to_json())
        else:
            _print_human(listing)
        return ExitCode.OK if listing.candidates else ExitCode.INCOMPLETE


def _print_human(listing) -> None:
    from rich.table import Table

    from coverctl.cli.common import stdout_console

    console = stdout_console()
    q = listing.query
    label = f"{q.character_name} in {q.title}" + (f" ({q.year})" if q.year else "")
    if not listing.candidates:
        console.print(f"no candidates for {label}")
    else:
        table = Table(title=f"candidates for {label}", title_justify="left")
        for column in ("#", "source", "size", "score", "who", "", "url"):
            table.add_column(column, overflow="fold")
        for item in listing.candidates:
            c = item.candidate
            size = f"{item.width}×{item.height}" if item.width and item.height else "?"
            marks = [
                mark
                for mark, on in (
                    ("served", item.served),
                    ("pinned", item.pinned),
                    ("rejected", item.rejection is not None),
                    (item.problem or "", bool(item.problem)),
                )
                if on
            ]
            table.add_row(
                str(item.number),
                c.source,
                size,
                str(c.quality_score),
                c.matched.person or c.matched.character or "",
                ", ".join(marks),
                c.image_url,
            )
        console.print(table)
    for note in listing.notes:
        console.print(f"[dim]{note}[/]", markup=True)
