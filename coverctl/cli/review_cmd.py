"""`coverctl review`: a local web page to look at the chosen pictures, pin and reject them."""

from __future__ import annotations

from pathlib import Path

import typer

from coverctl.constants import REVIEW_DEFAULT_LIMIT
from coverctl.errors import ExitCode, UsageError

EPILOG = (
    "Example: coverctl review out/movies.jsonl\n\n"
    "The page listens on 127.0.0.1 only, on a free port (or --port), and needs the token in the "
    "address it prints. Keys: a accept (pin), r reject, j/n next, k previous, o alternatives. "
    "Ctrl-C stops it (exit 130). Needs the review extra: pip install 'coverctl[review]'."
)


def register(app: typer.Typer) -> None:
    @app.command("review", epilog=EPILOG)
    def review(
        results: Path | None = typer.Argument(
            None,
            metavar="[RESULTS.jsonl]",
            help="A batch's JSONL output to review (default: the store's recent rows).",
        ),
        since: str | None = typer.Option(
            None, "--since", help="Store rows changed since then: 7d, 12h, 2026-01-31."
        ),
        problems: bool = typer.Option(
            False, "--problems", help="The audit's problem rows (worst first)."
        ),
        limit: int = typer.Option(
            REVIEW_DEFAULT_LIMIT, "--limit", help="At most this many cards from the store."
        ),
        port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (default: a free one)."),
        allow_private: bool = typer.Option(
            False,
            "--allow-private",
            help="Also fetch pictures from loopback and private addresses (a self-hosted "
            "backend); refused by default.",
        ),
        by: str | None = typer.Option(None, "--by", help="Who decides (default: your login)."),
        as_json: bool = typer.Option(
            False, "--json", help="Print the address and card count as one JSON object."
        ),
    ) -> int:
        """Open a local page showing each row's picture, to pin (accept) or reject it.

        Cards show the picture, character, work, matched person and credit, source, score and
        problems, with filters; a panel shows every candidate side by side, and choosing one
        pins it; rejecting re-resolves the row and shows the new answer. Every change goes
        through the same store as `coverctl pin` / `reject`.
        """
        from coverctl.cli.common import load_settings, print_json, stdout_console

        if results is not None and (since or problems):
            raise UsageError("Review a results file, or the store (--since, --problems): not both.")
        if limit < 1:
            raise UsageError("--limit must be at least 1.")
        try:
            from coverctl.curation.review.server import ReviewServer
        except ModuleNotFoundError as exc:
            if exc.name not in ("starlette", "uvicorn"):
                raise
            from coverctl.errors import ConfigError

            raise ConfigError(
                "coverctl review needs Starlette and uvicorn: pip install 'coverctl[review]'."
            ) from None
        settings = load_settings()
        cards, label = _load(settings, results, since, problems, limit)
        if not cards:
            message = "nothing to review"
            if as_json:
                print_json({"url": None, "cards": 0, "message": message})
            else:
                stdout_console().print(message)
            return ExitCode.OK
        server = ReviewServer(
            settings, cards, origin_label=label, port=port, by=by, allow_private=allow_private
        )
        if as_json:
            print_json({"url": server.url, "port": server.port, "cards": len(cards)})
        else:
            console = stdout_console()
            console.print(f"reviewing {len(cards)} cards ({label})")
            console.print(f"open {server.url}")
            console.print("Ctrl-C stops it.")
        try:
            server.run()
        except KeyboardInterrupt:
            if not as_json:
                stdout_console().print("review stopped")
            return ExitCode.INTERRUPTED
        return ExitCode.OK


def _load(settings, results, since, problems, limit):
    """(cards, a label saying where they come from)."""
    from coverctl.curation.review.cards import (
        cards_from_audit,
        cards_from_results,
        cards_from_store,
    )

    if results is not None:
        return cards_from_results(results), str(results)
    from coverctl.push.publish import parse_since
    from coverctl.store import open_store

    moment = parse_since(since) if since else None
    store = open_store(settings)
    try:
        if problems:
            label = "audit problems" + (f" since {since}" if since else "")
            return cards_from_audit(store, settings, since=moment, limit=limit), label
        label = f"store rows changed since {since}" if since else "the store's recent rows"
        return cards_from_store(store, since=moment, limit=limit), label
    finally:
        store.close()
