"""`coverctl doctor`: check the configuration and every configured service.

The checks live in coverctl.maintenance.doctor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from coverctl.errors import ExitCode

if TYPE_CHECKING:
    from coverctl.maintenance.doctor import DoctorReport

STATUS_STYLE = {"ok": "bold green", "skipped": "dim", "failed": "bold red"}


def register(app: typer.Typer) -> None:
    @app.command("doctor", epilog="Example: coverctl doctor --json")
    def doctor(
        timeout: float = typer.Option(
            5.0, "--timeout", min=0.1, help="Seconds each service may take to answer."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> int:
        """Check the configuration and every configured service.

        The store, the cache directory, local images, and one cheap authenticated request per
        configured provider (TMDB, TVDB, Hardcover, Replicate, Supabase, Azure Blob), all at
        once. Unconfigured providers are skipped. Exit 0 when nothing configured failed, 4
        otherwise: fit for a CI smoke check.
        """
        from coverctl.cli.common import load_settings, print_json
        from coverctl.maintenance.doctor import run_doctor

        report = run_doctor(load_settings(), timeout=timeout)
        if as_json:
            print_json(report.as_dict())
        else:
            _print_table(report)
        return ExitCode.OK if report.ok else ExitCode.CONFIG


def _print_table(report: DoctorReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    from coverctl.cli.common import stdout_console

    table = Table(title="coverctl doctor", title_justify="left")
    table.add_column("component")
    table.add_column("status")
    table.add_column("latency", justify="right")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        status = "not configured" if check.status == "skipped" else check.status
        latency = f"{check.latency_ms} ms" if check.latency_ms is not None else "-"
        detail = escape(check.detail)
        if check.fix:
            detail += f"\n[yellow]fix:[/] {escape(check.fix)}"
        style = STATUS_STYLE[check.status]
        table.add_row(check.component, f"[{style}]{status}[/]", latency, detail)
    console = stdout_console()
    console.print(table)
    failed = sum(1 for check in report.checks if check.status == "failed")
    if failed:
        console.print(f"[bold red]{failed} failed[/]: see the fix lines above.")
    else:
        console.print("[bold green]all configured components are fine[/]")
