"""`batch --dry-run`: what a batch would cost, found without a single network call.

Every row is read and validated; each distinct question is looked up where `resolve` would look
first (override files, stored AI images, the resolution cache). What is left is priced with the
provider calls each step makes per title (TMDB: a search and a details-with-credits request) or
per question (web search, generation), and timed at the configured rates: providers are paced
independently, so the slowest one sets the time. Rows with ids are priced per work (or per
credit or character when that is the only id): one request each, no search.

Picture downloads are counted apart from API calls: one per question whose answer comes from a
source whose picture is checked (`resolver.step_checks_pictures`: TVDB and Hardcover by default,
every source with --verify, none but web search with --no-verify), more at most (TVDB's actor
photo when the artwork is broken, each web result checked). They go to the image hosts, each
paced by its own gate at the `image_fetch` rate, never to the API's.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from coverctl.batch.engine import CAST_STEPS, query_key
from coverctl.batch.inputs import RowStream
from coverctl.batch.options import BatchOptions
from coverctl.config import Settings
from coverctl.constants import PictureChecks
from coverctl.errors import ConfigError, CoverctlError
from coverctl.models import Query
from coverctl.names import normalize
from coverctl.net.pictures import IMAGE_FETCH_PROVIDER
from coverctl.resolver import (
    ResolveOptions,
    Resolver,
    close_resolver,
    open_resolver,
    picture_checks,
    provider_steps,
    step_checks_pictures,
)
from coverctl.sources import registry

MAX_ERRORS_SHOWN = 10


class NoNetworkTransport(httpx.AsyncBaseTransport):
    """Fails any request: the dry run must not make one."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"--dry-run tried to call {request.url.host}")


@dataclass
class BatchPlan:
    input_rows: int = 0  # the rows this run would process (with --shard: the shard's)
    all_input_rows: int = 0  # every row of the file
    shard: str | None = None  # "K/N" with --shard
    valid_rows: int = 0
    error_rows: int = 0
    errors: list[str] = field(default_factory=list)  # the first few
    cast_rows: int = 0  # title-only rows --cast expands (up to N output rows each)
    unique_queries: int = 0
    duplicate_rows: int = 0  # rows asking a question another row asks
    unique_titles: int = 0
    answered: Counter[str] = field(default_factory=Counter)  # where, per distinct question
    to_resolve: int = 0  # distinct questions that need providers
    expected_calls: Counter[str] = field(default_factory=Counter)  # first source answers
    max_calls: Counter[str] = field(default_factory=Counter)  # every source is asked
    # Picture downloads by source label (each source's pictures come from its own image host).
    picture_checks: str = PictureChecks.DEFAULT.value
    expected_downloads: Counter[str] = field(default_factory=Counter)
    max_downloads: Counter[str] = field(default_factory=Counter)
    rates: dict[str, float] = field(default_factory=dict)
    generations: int = 0  # at most: a generation runs only when every other source fails
    generation_cost: str | None = None  # estimate for `generations`, with --generate
    notices: list[str] = field(default_factory=list)

    def seconds(self, calls: Counter[str], downloads: Counter[str] | None = None) -> float:
        """The time `calls` take at the configured rates, and `downloads` at the image hosts'
        rate (each source's host paced apart): gates run side by side, the slowest sets it."""
        download_rate = self.rates.get(IMAGE_FETCH_PROVIDER, 10.0)
        api = (count / self.rates.get(p, 10.0) for p, count in calls.items() if count)
        pictures = (count / download_rate for count in (downloads or Counter()).values() if count)
        return max((*api, *pictures), default=0.0)

    @property
    def cached_hits(self) -> int:
        return sum(self.answered.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "shard": self.shard,
            "all_input_rows": self.all_input_rows,
            "input_rows": self.input_rows,
            "valid_rows": self.valid_rows,
            "error_rows": self.error_rows,
            "errors": list(self.errors),
            "cast_rows": self.cast_rows,
            "unique_queries": self.unique_queries,
            "duplicate_rows": self.duplicate_rows,
            "unique_titles": self.unique_titles,
            "cached_hits": self.cached_hits,
            "answered_without_providers": dict(self.answered),
            "to_resolve": self.to_resolve,
            "expected_calls": dict(self.expected_calls),
            "max_calls": dict(self.max_calls),
            "rates": dict(self.rates),
            "picture_checks": self.picture_checks,
            "expected_downloads": dict(self.expected_downloads),
            "max_downloads": dict(self.max_downloads),
            "expected_seconds": round(
                self.seconds(self.expected_calls, self.expected_downloads), 1
            ),
            "max_seconds": round(self.seconds(self.max_calls, self.max_downloads), 1),
            "generations": self.generations,
            "generation_cost": self.generation_cost,
            "notices": list(self.notices),
        }


def plan_batch(
    path: Path, settings: Settings, options: BatchOptions, *, transport: Any = None
) -> BatchPlan:
    """Validate every row of `path` and estimate the run's provider calls and time."""
    options.validate()
    if options.rates:
        settings = settings.with_rates(options.rates)
    stream = RowStream(path, options.input_format)
    try:
        return asyncio.run(_plan(stream, settings, options, transport or NoNetworkTransport()))
    finally:
        stream.close()


async def _plan(
    stream: RowStream, settings: Settings, options: BatchOptions, transport: Any
) -> BatchPlan:
    resolver = open_resolver(settings, refresh=options.refresh, transport=transport)
    checks = picture_checks(options.verify)
    plan = BatchPlan(rates=dict(settings.rates), picture_checks=checks.value)
    shard = options.shard
    plan.shard = str(shard) if shard else None
    resolve_options = ResolveOptions(
        refresh=options.refresh,
        network=options.network,
        generate=options.generate,
        verify=checks,
    )
    seen_queries: set[int] = set()
    seen_titles: set[int] = set()
    priced: set[int] = set()
    generations = 0
    try:
        for row in stream:
            plan.all_input_rows += 1
            if shard is not None and not shard.holds(row):
                continue  # another shard's row
            plan.input_rows += 1
            if row.query is None and options.cast and row.title_only is not None:
                plan.valid_rows += 1
                plan.cast_rows += 1
                title = row.title_only
                steps = [s for s in CAST_STEPS.get(title.media_type, ()) if _runnable(resolver, s)]
                _price(plan, steps, title.title, title.year, None, priced, seen_titles)
                # Each listed role is then resolved as a question of its own.
                roles = provider_steps(title.media_type, generate=False)
                roles = [s for s in roles if _runnable(resolver, s)]
                for _ in range(options.cast or 0):
                    _price_downloads(plan, roles, checks)
                continue
            if row.query is None:
                _error(plan, row.error or f"Row {row.row} is not valid.")
                continue
            try:
                result = await resolver.plan(row.query, resolve_options)
            except ConfigError:
                raise  # e.g. Redis lost: not this row's fault, and every later row would say so
            except CoverctlError as exc:
                _error(plan, f"Row {row.row}: {exc.message}")
                continue
            plan.valid_rows += 1
            key = hash(query_key(result.query))
            if key in seen_queries:
                plan.duplicate_rows += 1
                continue
            seen_queries.add(key)
            plan.unique_queries += 1
            if result.answered_by is not None:
                plan.answered[result.answered_by] += 1
                continue
            plan.to_resolve += 1
            if not options.network:
                continue
            query = result.query
            if query.ids:
                _price_ids(plan, result.steps, query, key, priced, seen_titles)
            else:
                _price(plan, result.steps, query.title, query.year, key, priced, seen_titles)
            _price_downloads(plan, result.steps, checks)
            if "generate" in result.steps:
                generations += 1
    finally:
        plan.notices.extend(resolver.notices)
        await close_resolver(resolver)
    if options.generate:
        limit = options.max_generations
        plan.generations = generations if limit is None else min(generations, limit)
        from coverctl.sources.generate import estimate_cost

        plan.generation_cost = estimate_cost(plan.generations, settings.replicate_model)
    if not options.network:
        plan.notices.append("--no-network: rows not answered locally would come out not_found.")
    return plan


def _runnable(resolver: Resolver, step: str) -> bool:
    source = resolver.source(step)
    return source is not None and not resolver.unavailable_reason(step, source)


def _calls(step: str) -> tuple[str, str, int, int]:
    """(provider, what the calls are shared by, calls expected, calls at most) for `step`, as
    its spec estimates them (sources/spec.CallEstimate)."""
    spec = registry.spec_for(step)
    if spec is None:
        return step, "query", 1, 1
    return spec.provider, spec.calls.per, spec.calls.expected, spec.calls.at_most


def _error(plan: BatchPlan, message: str) -> None:
    plan.error_rows += 1
    if len(plan.errors) < MAX_ERRORS_SHOWN:
        plan.errors.append(message)


def _price(
    plan: BatchPlan,
    steps: list[str],
    title: str,
    year: int | None,
    query: int | None,
    priced: set[int],
    seen_titles: set[int],
) -> None:
    title_key = hash((normalize(title), year))
    if title_key not in seen_titles:
        seen_titles.add(title_key)
        plan.unique_titles += 1
    for index, step in enumerate(steps):
        provider, per, expected, at_most = _calls(step)
        unit = hash((step, title_key)) if per == "title" else hash((step, query))
        if unit in priced:
            continue
        priced.add(unit)
        plan.max_calls[provider] += at_most
        if index == 0:
            plan.expected_calls[provider] += expected


def _price_downloads(plan: BatchPlan, steps: list[str], checks: PictureChecks) -> None:
    """The picture downloads one question costs: its first step's when that step's pictures are
    checked (expected), every checked step's at most (its spec's `downloads`). Verdicts are
    cached by URL, so a question asked again costs none; generation always checks its picture."""
    for index, step in enumerate(steps):
        spec = registry.spec_for(step)
        if spec is None or not (spec.downloads.always or step_checks_pictures(step, checks)):
            continue
        plan.max_downloads[spec.source] += spec.downloads.at_most
        if index == 0:
            plan.expected_downloads[spec.source] += spec.downloads.expected


def id_lookup(step: str, query: Query) -> tuple[tuple[str, ...], int, int] | None:
    """What an id row's `step` asks for (the work, credit or character: rows asking for the same
    one share the request), with the calls expected and at most; None when it has no id for it.

    TMDB: the work's details with its credits, or `/credit/{id}` for a credit alone (the movie
    and TV steps share it). TVDB: the series' extended record, or the character, plus the series
    record when the character's series is known there by another title. Hardcover: the book."""
    ids = query.ids
    if step in ("tmdb_movie", "tmdb_tv"):
        if ids.tmdb_id is not None:
            return ("tmdb", step, str(ids.tmdb_id)), 1, 1
        if ids.credit_id is not None:
            return ("tmdb", "credit", ids.credit_id), 1, 1
    if step == "tvdb":
        if ids.tvdb_id is not None:
            return ("tvdb", "series", str(ids.tvdb_id)), 1, 1
        if ids.tvdb_character_id is not None:
            return ("tvdb", "character", str(ids.tvdb_character_id)), 1, 2
    if step == "hardcover" and ids.hardcover_id is not None:
        return ("hardcover", "book", str(ids.hardcover_id)), 1, 1
    return None


def _price_ids(
    plan: BatchPlan,
    steps: list[str],
    query: Query,
    key: int,
    priced: set[int],
    seen_titles: set[int],
) -> None:
    """`_price` for a row with ids: each work, credit or character is one request, shared by
    every row asking for it, and counts as a title; a step with no id for the row (generation)
    is priced per question as `_price` does."""
    for index, step in enumerate(steps):
        lookup = id_lookup(step, query)
        if lookup is None:
            provider, _, expected, at_most = _calls(step)
            unit = hash((step, key))
        else:
            unit_key, expected, at_most = lookup
            provider, unit = unit_key[0], hash(unit_key)
            if index == 0 and unit not in seen_titles:
                seen_titles.add(unit)
                plan.unique_titles += 1
        if unit in priced:
            continue
        priced.add(unit)
        plan.max_calls[provider] += at_most
        if index == 0:
            plan.expected_calls[provider] += expected
