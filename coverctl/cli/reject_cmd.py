"""`coverctl reject` / `coverctl unreject`: never serve this picture for this character."""

from __future__ import annotations

import typer

from coverctl.cli.curation_options import BY, CHARACTER, JSON, MEDIA_TYPE, NOTE, TITLE, YEAR
from coverctl.errors import ExitCode

REJECT_EPILOG = (
    'Example: coverctl reject "Bruce Wayne" --title "The Dark Knight" --note "a fan edit"\n\n'
    "Exit codes: 0 rejected (the new answer is printed, found or not); 2 nothing to reject, or "
    "the picture is pinned."
)
UNREJECT_EPILOG = (
    'Example: coverctl unreject "Bruce Wayne" --title "The Dark Knight" --url URL\n\n'
    "Exit codes: 0 rejection lifted; 3 there was none."
)
URL = typer.Option(None, "--url", help="The picture to reject (default: the one served now).")


def register(app: typer.Typer) -> None:
    @app.command("reject", epilog=REJECT_EPILOG)
    def reject(
        character: str = CHARACTER,
        title: str = TITLE,
        url: str | None = URL,
        year: int | None = YEAR,
        media_type: str | None = MEDIA_TYPE,
        note: str | None = NOTE,
        by: str | None = BY,
        as_json: bool = JSON,
    ) -> int:
        """Reject a picture for a character: it is never served for them again (by URL, and by
        perceptual hash when it can be fetched), and the character is resolved again at once."""
        import asyncio

        from coverctl.cli.common import load_settings, print_json, stdout_console
        from coverctl.cli.curation_options import describe_resolution, query
        from coverctl.curation.service import open_curator

        settings = load_settings()

        async def run():
            async with open_curator(settings, by=by) as curator:
                return await curator.reject(
                    query(character, title, year, media_type), url, note=note
                )

        outcome = asyncio.run(run())
        if as_json:
            print_json(outcome.to_json())
        else:
            console = stdout_console()
            console.print(f"rejected {outcome.decision.image_url}")
            console.print(describe_resolution(outcome.resolution))
        return ExitCode.OK

    @app.command("unreject", epilog=UNREJECT_EPILOG)
    def unreject(
        character: str = CHARACTER,
        title: str = TITLE,
        url: str | None = typer.Option(
            None, "--url", help="Only this picture's rejection (default: every one)."
        ),
        year: int | None = YEAR,
        media_type: str | None = MEDIA_TYPE,
        as_json: bool = JSON,
    ) -> int:
        """Lift rejections of a character's pictures: they may be served again."""
        import asyncio

        from coverctl.cli.common import load_settings
        from coverctl.cli.curation_options import query, report_lifted
        from coverctl.curation.service import open_curator

        settings = load_settings()

        async def run():
            async with open_curator(settings) as curator:
                return await curator.unreject(query(character, title, year, media_type), url)

        removed = asyncio.run(run())
        return report_lifted(
            removed,
            "unrejected",
            as_json,
            f"no rejection to lift for {character} in {title}",
        )
