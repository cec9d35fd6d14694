"""`coverctl lens`: reverse image search with SerpApi Google Lens (coverctl.services.lens)."""

from __future__ import annotations

from pathlib import Path

import typer

from coverctl.errors import ExitCode


def register(app: typer.Typer) -> None:
    @app.command(
        "lens",
        epilog="Example: coverctl lens https://image.tmdb.org/t/p/w500/qJ2tW6WMUDux911r6m7haRef0WH.jpg",
    )
    def lens(
        image: str = typer.Argument(
            ..., metavar="IMAGE_OR_URL", help="A picture file (JPEG, PNG, WebP) or an http(s) URL."
        ),
        limit: int = typer.Option(10, "--limit", min=1, help="Visual matches shown (not --json)."),
        refresh: bool = typer.Option(
            False, "--refresh", help="Search again even when a cached answer exists (billed)."
        ),
        metrics_file: Path | None = typer.Option(
            None, "--metrics-file", help="Write Prometheus metrics to this file."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> int:
        """Reverse image search: where else does this picture appear, and what is it?

        Shows Google Lens's visual matches (title, source, link, thumbnail) and its knowledge
        graph entries. A local file is re-encoded to at most 500 KB and uploaded to SerpApi
        first. Every search is billed: answers are cached until `coverctl cache clear --all`
        (or --source serpapi), and a cached answer says so. Needs SERPAPI_API_KEY.
        Exit 0 with results, 3 when Google Lens found nothing, 4 for a missing or rejected key,
        an exhausted plan or an unavailable service.
        """
        from coverctl.cli.common import print_json, stderr_console, stdout_console
        from coverctl.cli.service_run import run_service
        from coverctl.services.lens import lens_search

        result = run_service(
            "lens",
            lambda resolver: lens_search(resolver.context, image, refresh=refresh),
            as_json=as_json,
            metrics_file=metrics_file,
        )
        if as_json:
            print_json({"status": "found", **result.as_dict()})
            return ExitCode.OK
        out = stdout_console()
        if result.cached:
            stderr_console().print(
                "note: answered from the cache (no new search billed; --refresh searches again)",
                markup=False,
            )
        for entry in result.knowledge_graph:
            subtitle = f" ({entry.subtitle})" if entry.subtitle else ""
            link = f"  {entry.link}" if entry.link else ""
            out.print(f"knowledge graph: {entry.title}{subtitle}{link}", markup=False)
        if result.visual_matches:
            from rich.table import Table

            table = Table(title=f"visual matches ({len(result.visual_matches)})")
            for column in ("#", "title", "source", "link", "thumbnail"):
                table.add_column(column, overflow="fold")
            for match in result.visual_matches[:limit]:
                table.add_row(
                    str(match.position or ""),
                    match.title,
                    match.source,
                    match.link,
                    match.thumbnail,
                )
            out.print(table)
        return ExitCode.OK
