"""Options shared by the curation commands (pin, unpin, reject, unreject, candidates)."""

from __future__ import annotations

from typing import Any

import typer

CHARACTER = typer.Argument(..., metavar="CHARACTER", help="Character name, e.g. 'Bruce Wayne'.")
TITLE = typer.Option(..., "--title", "-t", help="Movie, series or book title.")
YEAR = typer.Option(
    None, "--year", "-y", help="Release year: the decision then applies to that work only."
)
MEDIA_TYPE = typer.Option(None, "--media-type", "-m", help="movie, tv or book.")
NOTE = typer.Option(None, "--note", help="Why: kept with the decision.")
BY = typer.Option(None, "--by", help="Who decides (default: your login name).")
JSON = typer.Option(False, "--json", help="Print one JSON object.")


def query(character: str, title: str, year: int | None, media_type: str | None) -> Any:
    from coverctl.models import Query

    return Query(character, title, year, media_type)


def describe_resolution(resolution: Any) -> str:
    """One line: what `resolve` serves now."""
    candidate = resolution.candidate
    if resolution.status != "resolved" or candidate is None:
        return f"now served: nothing ({resolution.error})"
    who = f", {candidate.matched.person}" if candidate.matched.person else ""
    return (
        f"now served: {candidate.image_url} ({candidate.source}, quality "
        f"{candidate.quality_score}{who})"
    )


def report_lifted(removed: list[Any], verb: str, as_json: bool, nothing: str) -> int:
    """Print the decisions `unpin`/`unreject` lifted (JSON `{verb: [...]}` or "VERB URL" lines,
    or `nothing` when there were none); exit 0 when any was lifted, 3 when none was."""
    from coverctl.cli.common import print_json, stdout_console
    from coverctl.errors import ExitCode

    if as_json:
        print_json({verb: [d.to_json() for d in removed]})
    elif removed:
        for d in removed:
            stdout_console().print(f"{verb} {d.image_url}")
    else:
        stdout_console().print(nothing)
    return ExitCode.OK if removed else ExitCode.INCOMPLETE
