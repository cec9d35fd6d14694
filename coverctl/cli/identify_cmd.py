"""`coverctl identify`: which film or series a frame is from (coverctl.services.identify)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from coverctl.errors import ExitCode


def register(app: typer.Typer) -> None:
    @app.command(
        "identify",
        epilog='Example: coverctl identify frame.png --character "Bruce Wayne"',
    )
    def identify(
        screenshot: Path = typer.Argument(
            ..., metavar="SCREENSHOT", help="A frame, poster or screenshot (JPEG, PNG, WebP)."
        ),
        reader: str = typer.Option(
            "ocr",
            "--reader",
            help="ocr: offline OCR (the ocr extra); vision: an OpenAI-compatible vision model "
            "(COVERCTL_VISION_URL, COVERCTL_VISION_MODEL).",
        ),
        character: str | None = typer.Option(
            None, "--character", help="Then resolve this character in the identified work."
        ),
        year: int | None = typer.Option(
            None, "--year", help="Only a work from this year (±1): tells remakes apart."
        ),
        media_type: str | None = typer.Option(None, "--media-type", help="movie or tv."),
        metrics_file: Path | None = typer.Option(
            None, "--metrics-file", help="Write Prometheus metrics to this file."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> int:
        """Which film or series is this frame from?

        The title is read off the picture (offline OCR by default, or a vision model), then
        searched on TMDB; a work is accepted only when its title matches the text read at 95%
        or better, so a misread or invented title is never taken. With --character the
        character is then resolved in that work like `coverctl resolve`. Needs TMDB_API_KEY.
        Exit 0 identified (and resolved), 3 no work matched (or the character was not found),
        4 configuration or service problems.
        """
        from coverctl.cli.common import print_json, stdout_console
        from coverctl.cli.service_run import run_service
        from coverctl.services.identify import identify_frame, read_screenshot, resolve_in_work

        data = read_screenshot(screenshot)

        async def work(resolver: Any) -> tuple[Any, dict[str, Any] | None]:
            found = await identify_frame(
                resolver.context, data, reader=reader, year=year, media_type=media_type
            )
            resolved = await resolve_in_work(resolver, character, found) if character else None
            return found, resolved

        found, resolved = run_service("identify", work, as_json=as_json, metrics_file=metrics_file)
        code = ExitCode.OK
        if resolved is not None and resolved["status"] != "resolved":
            code = ExitCode.INCOMPLETE
        if as_json:
            data_out = {"status": "identified", **found.as_dict()}
            if resolved is not None:
                data_out["character"] = resolved
            print_json(data_out)
            return code
        out = stdout_console()
        result = found.as_dict()
        tmdb = result["tmdb_result"]
        out.print(
            f"text read ({found.reading.reader}): {' | '.join(found.reading.text)}", markup=False
        )
        out.print(
            f"identified: {tmdb['title']} ({tmdb['year'] or 'year unknown'}), "
            f"{tmdb['media_type']} {tmdb['id']} on TMDB, title match {result['score']:.0f}%",
            markup=False,
        )
        if tmdb["poster_url"]:
            out.print(f"poster: {tmdb['poster_url']}", markup=False)
        if found.note:
            out.print(f"note: {found.note}", markup=False)
        if resolved is not None:
            if resolved["status"] == "resolved":
                out.print(
                    f"{character}: {resolved['image_url']} ({resolved['source']}, quality "
                    f"{resolved['quality_score']})",
                    markup=False,
                )
            else:
                out.print(f"{character}: not found ({resolved['error']})", markup=False)
        return code
