"""The `coverctl` Typer application and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys

import typer

try:  # Typer >= 0.20 vendors click; its exceptions are the ones raised at run time.
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older Typer on top of click
    from click import exceptions as click_errors  # type: ignore[no-redef]

from coverctl import __version__
from coverctl.errors import CoverctlError, ExitCode

app = typer.Typer(
    name="coverctl",
    help=(
        "Find, check, store and publish the best picture for a fictional character.\n\n"
        'Example: coverctl resolve "Bruce Wayne" --title "The Dark Knight"'
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"coverctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Find, check, store and publish the best picture for a fictional character."""


def _register() -> None:
    from coverctl.cli import batch_cmd, cache_cmd, config_cmd, resolve_cmd

    resolve_cmd.register(app)
    batch_cmd.register(app)
    cache_cmd.register(app)
    config_cmd.register(app)
    for module_name in (
        "audit_cmd",
        "dead_links_cmd",
        "upload_cmd",
        "push_cmd",
        "doctor_cmd",
        "candidates_cmd",
        "pin_cmd",
        "reject_cmd",
        "review_cmd",
    ):
        try:
            module = __import__(f"coverctl.cli.{module_name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"coverctl.cli.{module_name}":
                raise
            continue
        module.register(app)
    # The image services (coverctl/services/): one module per command.
    for module_name in ("identify_cmd", "lens_cmd", "animate_cmd", "edit_cmd"):
        try:
            module = __import__(f"coverctl.cli.{module_name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"coverctl.cli.{module_name}":
                raise
            continue
        module.register(app)


_register()


def fail(message: str, code: int) -> int:
    print(f"coverctl: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map every outcome to an exit code (cli-contract.md)."""
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    try:
        result = app(args=argv, standalone_mode=False, prog_name="coverctl")
    except CoverctlError as exc:
        return fail(exc.message, exc.exit_code)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()
        return ExitCode.OK
    except click_errors.UsageError as exc:
        exc.show()
        return ExitCode.USAGE
    except click_errors.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        return fail("interrupted.", ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not our error.
        sys.stderr.close()
        return ExitCode.OK
    except OSError as exc:
        # A path that cannot be used: COVERCTL_HOME on a file, a full disk, a read-only place.
        where = f" ({exc.filename})" if exc.filename else ""
        return fail(
            f"{exc.strerror or exc}{where}. Check COVERCTL_HOME, the paths you gave and the "
            "free disk space.",
            ExitCode.CONFIG,
        )
    except Exception as exc:  # the last line of defence: never a traceback for users
        from coverctl.store import is_engine_error

        if is_engine_error(exc) and not os.environ.get("COVERCTL_DEBUG"):
            return fail(
                f"the store under COVERCTL_HOME cannot be used ({exc}); if the file is damaged, "
                "move coverctl.db away and run again.",
                ExitCode.CONFIG,
            )
        if os.environ.get("COVERCTL_DEBUG"):
            raise
        return fail(
            f"unexpected error ({type(exc).__name__}: {exc}); rerun with COVERCTL_DEBUG=1 "
            "for details and report it.",
            ExitCode.UNEXPECTED,
        )
    return int(result) if isinstance(result, int) else ExitCode.OK
