"""`coverctl upload`: check pictures and upload them to Azure Blob Storage.

The work is done by coverctl.push.publish.
"""

from __future__ import annotations

from pathlib import Path

import typer

from coverctl.errors import ExitCode


def register(app: typer.Typer) -> None:
    @app.command(
        "upload",
        epilog=(
            'Example: coverctl upload batman.jpg --character "Bruce Wayne" '
            '--title "The Dark Knight"'
        ),
    )
    def upload(
        paths: list[Path] = typer.Argument(
            ...,
            metavar="PATH",
            help="Picture files (JPEG, PNG or WebP; at most 10 MB each).",
        ),
        kind: str = typer.Option(
            "character",
            "--kind",
            help="character (container 'images', anonymous_{uuid}) or avatar "
            "(container 'avatars', avatar_{user}_{uuid}).",
        ),
        user: str | None = typer.Option(None, "--user", help="The avatar's owner (--kind avatar)."),
        character: str | None = typer.Option(
            None, "--character", help="Record the picture for this character (with --title)."
        ),
        title: str | None = typer.Option(
            None, "--title", help="Movie, series or book title of --character."
        ),
        variants: list[str] = typer.Option(
            [],
            "--variant",
            help="Also upload this encoding beside the original: webp or avif (repeatable; "
            "avif only where Pillow supports it).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file."),
    ) -> int:
        """Check pictures and upload them to Azure Blob Storage.

        Each file is checked by its content (not its name): corrupt, truncated, HTML and
        oversized files are refused and nothing of them is uploaded. With --character and
        --title the picture is also recorded in the store (source ai_generated, quality 80).
        Needs AZURE_STORAGE_CONNECTION_STRING. Exit 0 when every file was uploaded, 3 when some
        failed, 4 for configuration problems.
        """
        from coverctl.cli.common import load_settings, print_json, stderr_console, stdout_console
        from coverctl.push.publish import UploadRequest, upload_files

        settings = load_settings()
        wanted = tuple(v.strip().upper() for v in variants)
        unknown = [v for v in wanted if v not in {"WEBP", "AVIF"}]
        if unknown:
            from coverctl.errors import UsageError

            raise UsageError(f"--variant takes webp or avif, got {', '.join(unknown).lower()}.")
        request = UploadRequest(
            kind=kind, user=user, character=character, title=title, variants=wanted
        )
        out, err = stdout_console(), stderr_console()
        uploaded = failed = 0
        for result in upload_files(paths, request, settings):
            if result.ok:
                uploaded += 1
            else:
                failed += 1
            if as_json:
                print_json(result.as_dict())
            elif result.ok:
                out.print(f"uploaded {result.path} -> {result.url}", markup=False)
                if result.recorded:
                    recorded = result.recorded
                    line = (
                        f"  recorded {recorded['character_name']!r} in "
                        f"{recorded['movie_title']!r} as {recorded['source']} "
                        f"(quality {recorded['quality_score']})"
                    )
                    if result.replaced_url:
                        line += f", replacing {result.replaced_url}"
                    out.print(line, markup=False)
                for mime, url in result.variant_urls.items():
                    out.print(f"  {mime} variant -> {url}", markup=False)
                for problem in result.variant_errors:
                    err.print(f"  note: {problem}", markup=False, soft_wrap=True)
            else:
                err.print(
                    f"[bold red]failed[/] {_escape(result.error or '')}",
                    markup=True,
                    soft_wrap=True,
                )
        if not as_json and len(paths) > 1:
            err.print(f"{uploaded} uploaded, {failed} failed", markup=False, soft_wrap=True)
        return ExitCode.INCOMPLETE if failed else ExitCode.OK


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
