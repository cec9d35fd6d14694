"""`coverctl animate`: a character's picture as a short video (coverctl.services.animate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from coverctl.errors import ExitCode


def register(app: typer.Typer) -> None:
    from coverctl import constants as defaults

    @app.command(
        "animate",
        epilog='Example: coverctl animate "Bruce Wayne" --title "The Dark Knight" --dry-run',
    )
    def animate(
        character: str = typer.Argument(..., help="Character name."),
        title: str = typer.Option(..., "--title", help="Movie, series or book title."),
        prompt: str = typer.Option(
            defaults.ANIMATE_DEFAULT_PROMPT, "--prompt", help="What should move."
        ),
        model: str = typer.Option(
            defaults.ANIMATE_DEFAULT_MODEL, "--model", help="ray-2 or ray-flash-2."
        ),
        duration: str = typer.Option(
            defaults.ANIMATE_DEFAULT_DURATION, "--duration", help="5s or 9s."
        ),
        resolution: str = typer.Option(
            defaults.ANIMATE_DEFAULT_RESOLUTION, "--resolution", help="540p, 720p, 1080p or 4k."
        ),
        aspect_ratio: str = typer.Option(
            defaults.ANIMATE_DEFAULT_ASPECT_RATIO,
            "--aspect-ratio",
            help="3:4, 1:1, 16:9, 9:16, ...",
        ),
        year: int | None = typer.Option(None, "--year", help="Release year of the title."),
        media_type: str | None = typer.Option(None, "--media-type", help="movie, tv or book."),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Show the picture and the cost estimate; generate nothing."
        ),
        max_cost: float | None = typer.Option(
            None, "--max-cost", min=0, help="Refuse when the estimate is over this many US dollars."
        ),
        new: bool = typer.Option(
            False, "--new", help="Generate again even if an earlier run already made this video."
        ),
        metrics_file: Path | None = typer.Option(
            None, "--metrics-file", help="Write Prometheus metrics to this file."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> int:
        """Turn a character's picture into a short video with Luma Dream Machine (billed).

        The picture is the one `coverctl resolve` serves; the video is stored in the Azure
        container videos-produced. The job is recorded as soon as Luma accepts it: after
        Ctrl-C or a crash, the same command polls the same job again instead of paying twice.
        Needs LUMAAI_API_KEY and AZURE_STORAGE_CONNECTION_STRING. Exit 0 stored, 3 no picture
        or a failed job, 4 configuration or service problems.
        """
        from coverctl.cli.common import print_json, stdout_console
        from coverctl.cli.service_run import run_service
        from coverctl.services import animate as service

        options = service.AnimateOptions(prompt, model, duration, resolution, aspect_ratio)
        animator = service.Animator()

        def work(resolver: Any) -> Any:
            return animator.run(
                resolver,
                character,
                title,
                options,
                year=year,
                media_type=media_type,
                dry_run=dry_run,
                max_cost=max_cost,
                new=new,
            )

        result = run_service("animate", work, as_json=as_json, metrics_file=metrics_file)
        if as_json:
            print_json(
                {"status": "planned" if result.dry_run else result.state, **result.as_dict()}
            )
            return ExitCode.OK
        out = stdout_console()
        out.print(f"picture: {result.picture_url}", markup=False)
        out.print(f"cost: {result.estimate}", markup=False)
        for note in result.notes:
            out.print(f"note: {note}", markup=False)
        if result.dry_run:
            out.print("dry run: nothing was generated.", markup=False)
            return ExitCode.OK
        if result.reused:
            out.print(
                f"already made by an earlier run (generation {result.generation_id}); "
                "--new makes another",
                markup=False,
            )
        elif result.resumed:
            out.print(f"resumed generation {result.generation_id}", markup=False)
        out.print(f"video: {result.video_url}", markup=False)
        return ExitCode.OK
