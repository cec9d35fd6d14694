"""`coverctl pin` / `coverctl unpin`: a curator's chosen picture, served before every source."""

from __future__ import annotations

import typer

from coverctl.cli.curation_options import BY, CHARACTER, JSON, MEDIA_TYPE, NOTE, TITLE, YEAR
from coverctl.errors import ExitCode, UsageError

PIN_EPILOG = (
    'Example: coverctl pin "Bruce Wayne" --title "The Dark Knight" --candidate 3 '
    '--note "the cowl shot"\n\n'
    "Exit codes: 0 pinned; 2 bad arguments; 3 the picture is dead, not an image or too small; "
    "4 its host could not be reached."
)
UNPIN_EPILOG = (
    'Example: coverctl unpin "Bruce Wayne" --title "The Dark Knight"\n\n'
    "Exit codes: 0 unpinned; 3 nothing was pinned."
)


def register(app: typer.Typer) -> None:
    @app.command("pin", epilog=PIN_EPILOG)
    def pin(
        character: str = CHARACTER,
        picture: str | None = typer.Argument(
            None, metavar="[URL|FILE]", help="The picture: an http(s) URL or a picture file."
        ),
        title: str = TITLE,
        candidate: int | None = typer.Option(
            None, "--candidate", "-c", help="Pin the N-th picture `coverctl candidates` lists."
        ),
        year: int | None = YEAR,
        media_type: str | None = MEDIA_TYPE,
        note: str | None = NOTE,
        by: str | None = BY,
        as_json: bool = JSON,
    ) -> int:
        """Pin a picture: `resolve` and `batch` serve it first, as source "pinned" (quality 100).

        The picture is downloaded and checked first (a dead link, a web page or a picture below
        the minimum size is refused). A file is copied into the static directory's pinned/
        folder. Pinning a picture you rejected earlier lifts that rejection.
        """
        import asyncio
        from pathlib import Path

        from coverctl.cli.common import load_settings, print_json, stdout_console
        from coverctl.cli.curation_options import describe_resolution, query
        from coverctl.curation.service import open_curator

        if (picture is None) == (candidate is None):
            raise UsageError("Give the picture to pin: a URL, a file, or --candidate N.")
        how: dict[str, object] = {"note": note}
        if candidate is not None:
            how["number"] = candidate
        elif picture is not None and picture.startswith(("http://", "https://")):
            how["url"] = picture
        else:
            how["path"] = Path(picture or "")
        settings = load_settings()

        async def run():
            async with open_curator(settings, by=by) as curator:
                return await curator.pin(query(character, title, year, media_type), **how)

        outcome = asyncio.run(run())
        if as_json:
            print_json(outcome.to_json())
        else:
            d = outcome.decision
            console = stdout_console()
            console.print(f"pinned {d.image_url} for {d.character_name} in {d.movie_title}")
            console.print(describe_resolution(outcome.resolution))
        return ExitCode.OK

    @app.command("unpin", epilog=UNPIN_EPILOG)
    def unpin(
        character: str = CHARACTER,
        title: str = TITLE,
        year: int | None = YEAR,
        media_type: str | None = MEDIA_TYPE,
        as_json: bool = JSON,
    ) -> int:
        """Remove the pin of a character: the cascade decides again."""
        import asyncio

        from coverctl.cli.common import load_settings
        from coverctl.cli.curation_options import query, report_lifted
        from coverctl.curation.service import open_curator

        settings = load_settings()

        async def run():
            async with open_curator(settings) as curator:
                return curator.unpin(query(character, title, year, media_type))

        removed = asyncio.run(run())
        return report_lifted(
            removed,
            "unpinned",
            as_json,
            f"nothing is pinned for {character} in {title}",
        )
