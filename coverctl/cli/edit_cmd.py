"""`coverctl edit`: edit a character's picture with a prompt (coverctl.services.edit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from coverctl.errors import ExitCode


def register(app: typer.Typer) -> None:
    @app.command(
        "edit",
        epilog=(
            'Example: coverctl edit "Bruce Wayne" --title "The Dark Knight" '
            '--prompt "as a pencil sketch"'
        ),
    )
    def edit(
        character: str = typer.Argument(..., help="Character name."),
        title: str = typer.Option(..., "--title", help="Movie, series or book title."),
        prompt: str = typer.Option(..., "--prompt", help="How to change the picture."),
        replace: bool = typer.Option(
            False,
            "--replace",
            help="Make the edit the character's stored picture (resolve then serves it).",
        ),
        year: int | None = typer.Option(None, "--year", help="Release year of the title."),
        media_type: str | None = typer.Option(None, "--media-type", help="movie, tv or book."),
        metrics_file: Path | None = typer.Option(
            None, "--metrics-file", help="Write Prometheus metrics to this file."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> int:
        """Edit a character's stored picture with a prompt (Gemini's image model, billed).

        The picture `coverctl resolve` serves is sent with the prompt; the edited picture is
        checked like any picture and kept as anonymous_{uuid} (Azure container images when
        AZURE_STORAGE_CONNECTION_STRING is set, else the static dir's generated/). The original
        stays what resolve serves unless --replace. Needs GEMINI_API_KEY. Exit 0 edited, 3 no
        picture or a refusal, 4 configuration or service problems.
        """
        from coverctl.cli.common import print_json, stdout_console
        from coverctl.cli.service_run import run_service
        from coverctl.services.edit import edit_picture

        def work(resolver: Any) -> Any:
            return edit_picture(
                resolver,
                character,
                title,
                prompt,
                year=year,
                media_type=media_type,
                replace=replace,
            )

        result = run_service("edit", work, as_json=as_json, metrics_file=metrics_file)
        if as_json:
            print_json({"status": "edited", **result.as_dict()})
            return ExitCode.OK
        out = stdout_console()
        out.print(f"original: {result.original_url}", markup=False)
        out.print(
            f"edited: {result.edited_url} ({result.width}x{result.height}, {result.content_type})",
            markup=False,
        )
        out.print(f"cost: {result.estimate}", markup=False)
        if result.replaced:
            out.print("now the character's stored picture (source ai_generated)", markup=False)
        else:
            out.print(
                "kept as a candidate; the original is unchanged (--replace to use it)", markup=False
            )
        return ExitCode.OK
