"""The cascade: ask sources in priority order, take the first certain answer, store it.

Order (design notes): a curator's pin (100) -> local override files (100) -> stored AI images
(80) -> the resolution cache -> providers chosen by media type (cli-contract.md) -> web image
search -> AI generation (opt-in). Pins, local files and the store are read live on every call, so
a curator's new pin or file wins at once. A picture a curator rejected is dropped from every
step's candidates (and a cached answer serving it is ignored): the cascade moves on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from coverctl.config import Settings
from coverctl.constants import PictureChecks, PictureTrust, Source
from coverctl.curation.rules import (
    CURATOR_REJECTED,
    applicable,
    describe_rejection,
    rejection_of,
    work_key,
)
from coverctl.errors import (
    ConfigError,
    IdentityMismatch,
    ImageRejected,
    ProviderError,
    ProviderUnavailable,
    UsageError,
)
from coverctl.identity import answers_ids
from coverctl.models import Attempt, Candidate, ExternalIds, Match, Query, Resolution
from coverctl.names import normalize, question_key
from coverctl.net.http import HttpClient, scrub
from coverctl.sources import registry
from coverctl.sources.base import ImageSource, SourceAnswer, SourceContext, Switchable
from coverctl.store import open_cache, open_store
from coverctl.store.cache import CacheBackend, cache_key
from coverctl.store.interfaces import ImageStore, store_call
from coverctl.store.records import REJECTED, Decision, ImageRecord
from coverctl.validation import validate_query

PINNED_STEP = "pinned"  # asked before the live steps; a miss is not an attempt worth listing
LIVE_STEPS = ("local", "stored_ai")


def provider_steps(
    media_type: str | None, *, generate: bool, ids: ExternalIds | None = None
) -> list[str]:
    """The remote steps a query consults, in order (cli-contract.md; each step's spec says which
    media types it serves and where it stands). A query with ids consults only the providers it
    has ids for (identity.py), then generation when asked."""
    return [
        spec.step
        for spec in registry.specs_for_media(media_type)
        if (generate if spec.opt_in else not ids or answers_ids(spec.step, ids))
    ]


def checks_picture(source: str, checks: PictureChecks) -> bool:
    """Whether an answer from `source` (a source label) has its picture checked under `checks`."""
    trust = registry.picture_trust(source)
    if checks is PictureChecks.ALL or trust is PictureTrust.ALWAYS_CHECKED:
        return True
    return checks is PictureChecks.DEFAULT and trust is PictureTrust.UNRELIABLE


def step_checks_pictures(step: str, checks: PictureChecks) -> bool:
    """Whether `step`'s answer costs a picture download under `checks` (see `checks_picture`)."""
    spec = registry.spec_for(step)
    return spec is not None and checks_picture(spec.source, checks)


def picture_checks(value: PictureChecks | str | bool) -> PictureChecks:
    """A PictureChecks from what callers pass: a member or its value, or the older boolean
    `verify` (True: --verify, every picture; False: the default checks)."""
    if isinstance(value, bool):
        return PictureChecks.ALL if value else PictureChecks.DEFAULT
    try:
        return PictureChecks(value)
    except ValueError:
        choices = ", ".join(c.value for c in PictureChecks)
        raise UsageError(f"Unknown picture check policy {value!r}; use one of {choices}.") from None


def checks_from_flag(flag: bool | None) -> PictureChecks:
    """The policy the `--verify/--no-verify` flag asks for (None: neither was given)."""
    if flag is None:
        return PictureChecks.DEFAULT
    return PictureChecks.ALL if flag else PictureChecks.NONE


class GenerationBudget:
    """How many AI generations a run may still request (`batch --max-generations N`).

    Shared by every resolution of a batch; a slot is taken just before the generate step runs,
    so concurrent rows can never request more than N between them.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self) -> bool:
        if self.used >= self.limit:
            return False
        self.used += 1
        return True


@dataclass
class ResolveOptions:
    refresh: bool = False
    network: bool = True
    generate: bool = False
    # Record the answer in the store (False: `audit --fix`, which first decides whether the new
    # answer is better, then writes `image_record(query, candidate)` itself).
    record: bool = True
    # Whose pictures are downloaded and checked (images.inspect_image) before an answer is
    # accepted: "default" (the sources their spec's picture_trust does not trust), "all" (--verify;
    # True is accepted for it) or "none" (--no-verify). Web search and generation always check.
    verify: PictureChecks | str | bool = PictureChecks.DEFAULT
    generation_budget: GenerationBudget | None = None  # None: no limit

    def __post_init__(self) -> None:
        self.verify = picture_checks(self.verify)

    @property
    def checks(self) -> PictureChecks:
        return picture_checks(self.verify)


@dataclass
class ResolutionPlan:
    """What resolving a query would do, found without any network call (`batch --dry-run`)."""

    query: Query
    # "pinned", "local", "stored_ai", "cache" or "negative_cache"; None: the providers.
    answered_by: str | None
    # The remote steps it would consult, in order, when not answered (none with --no-network).
    steps: list[str]


@dataclass
class Prepared:
    """What `Resolver._prepare` decided before any provider is asked."""

    answered_by: str | None  # as ResolutionPlan.answered_by
    attempts: list[Attempt]  # the pin's and local steps' outcomes (and a rejected cached answer)
    candidate: Candidate | None = None  # the pinned, local or cached answer
    missed: str | None = None  # why the question was not found earlier (negative_cache)
    # The remote steps in order, each with the reason it is skipped (None: it runs); empty when
    # a pin or a local step answered.
    plan: list[tuple[str, Attempt | None]] = field(default_factory=list)
    key: str | None = None  # the resolution cache key (None when a pin or local step answered)
    rejected_cached: bool = False  # the cached answer serves a picture a curator rejected

    @property
    def steps(self) -> list[str]:
        """The remote steps that would run, in order."""
        return [step for step, skipped in self.plan if skipped is None]


@dataclass
class Resolver:
    """Holds the sources and shared state for many resolutions (one per process or batch)."""

    settings: Settings
    http: HttpClient
    cache: CacheBackend
    store: ImageStore
    notices: list[str] = field(default_factory=list)
    _sources: dict[str, ImageSource] = field(default_factory=dict)
    _noticed: set[str] = field(default_factory=set)

    @property
    def context(self) -> SourceContext:
        return SourceContext(self.settings, self.http, self.cache, self.store)

    def source(self, step: str) -> ImageSource | None:
        """The step's source (made on first use); None when this build lacks the step."""
        found = self._sources.get(step)
        if found is None:
            source_class = registry.source_class(step)
            if source_class is None:
                return None
            found = self._sources[step] = source_class()
        return found

    def unavailable_reason(self, step: str, source: ImageSource) -> str | None:
        """Why `step` cannot run with these settings (its spec's key variable is unset, or its
        source says why), or None."""
        spec = registry.spec_for(step)
        missing = spec.missing_key(self.settings) if spec is not None else None
        return missing or source.unavailable_reason(self.settings)

    def loaded_source(self, step: str) -> ImageSource | None:
        """The source instance for `step` if this resolver has used it (no import otherwise)."""
        return self._sources.get(step)

    def _notice(self, message: str) -> None:
        if message not in self._noticed:
            self._noticed.add(message)
            self.notices.append(message)

    def _resolution_key(
        self, query: Query, steps: Sequence[str], checks: PictureChecks = PictureChecks.NONE
    ) -> str:
        # Answers are kept apart by the checks they passed: an unchecked picture must not be
        # served where a check is due. --verify adds "verified"; the default checks add
        # "checked" only when a step they check is asked (TVDB, Hardcover), so a TMDB movie
        # question keeps the key it had before default checks existed, and --no-verify, which
        # checks what the old default did, keeps the old keys.
        parts: list[object] = [
            question_key(query.character_name),
            question_key(query.title),
            query.year,
            query.media_type,
            normalize(query.actor or ""),
            ",".join(steps),
        ]
        if checks is PictureChecks.ALL:
            parts.append("verified")
        elif checks is PictureChecks.DEFAULT and any(
            step_checks_pictures(step, checks)
            and not step_checks_pictures(step, PictureChecks.NONE)
            for step in steps
        ):
            parts.append("checked")
        if query.ids:
            # Rows with ids are other questions than the same names without (or with others).
            parts.append(sorted(query.ids.as_dict().items()))
        return cache_key("resolution", *parts)

    async def resolve(self, query: Query, options: ResolveOptions | None = None) -> Resolution:
        options = options or ResolveOptions()
        started = time.perf_counter()
        query = validate_query(query)
        resolution = await self._resolve(query, options)
        resolution.elapsed_ms = round((time.perf_counter() - started) * 1000)
        return resolution

    async def _prepare(
        self, query: Query, options: ResolveOptions, *, dry_run: bool = False
    ) -> Prepared:
        """What is decided before any provider is asked: a curator's pin or a local answer,
        else the remote steps, the cache key and the cached answer. The one place both
        `resolve` and `plan` decide it, so a dry run predicts what a run then does.

        Nothing is written. A dry run downloads nothing: a cached answer is judged against the
        curators' rejections by what is known of its picture (URL, stored hash).
        """
        attempts: list[Attempt] = []
        ctx = self.context
        pinned = await self._pinned(query, ctx, attempts)
        if pinned is not None:
            return Prepared(PINNED_STEP, attempts, candidate=pinned)
        for step in LIVE_STEPS:
            found = await self._try_step(step, query, ctx, attempts, [])
            if found is not None:
                return Prepared(step, attempts, candidate=found)

        plan = self._step_plan(query, options)
        # The cache answers for the steps as they run with the network on, so --no-network
        # (which runs none) still finds what an earlier resolve found.
        online = plan
        if not options.network:
            online = self._step_plan(query, dataclasses.replace(options, network=True))
        key_steps = [step for step, skipped in online if skipped is None]
        key = self._resolution_key(query, key_steps, options.checks)
        prepared = Prepared(None, attempts, plan=plan, key=key)
        if options.refresh:
            return prepared
        cached = self.cache.get("resolution", key)
        if cached is not None:
            candidate = _candidate_from(cached)
            if await self._curator_rejected(
                "cache", query, candidate, ctx, attempts, fetch=not dry_run
            ):
                prepared.rejected_cached = True  # it serves a picture a curator rejected
            else:
                prepared.answered_by, prepared.candidate = "cache", candidate
                return prepared
        missed = self.cache.get("negative", key)
        if missed is not None:
            prepared.answered_by, prepared.missed = "negative_cache", missed
        return prepared

    async def _resolve(self, query: Query, options: ResolveOptions) -> Resolution:
        prepared = await self._prepare(query, options)
        attempts, answer = prepared.attempts, prepared.candidate
        if prepared.answered_by in (PINNED_STEP, *LIVE_STEPS) and answer is not None:
            # A pin is the curator's answer: recorded like a provider's; of the local steps,
            # only an override file is (a stored AI picture is in the store already).
            recorded = prepared.answered_by == PINNED_STEP or (
                answer.source == Source.CHARACTER_SPECIFIC
            )
            if recorded and options.record:
                await self._record(query, answer)
            return Resolution(query, "resolved", answer, attempts=attempts)
        plan, key = prepared.plan, prepared.key
        assert key is not None
        if prepared.rejected_cached:
            self.cache.delete("resolution", key)
        if prepared.answered_by is not None:
            attempts.extend(skipped for _, skipped in plan if skipped is not None)
            if answer is not None:
                attempts.append(Attempt("cache", "accepted", "resolved earlier (cached)"))
                return Resolution(query, "resolved", answer, True, attempts=attempts)
            missed = prepared.missed
            attempts.append(Attempt("cache", "accepted", f"not found earlier: {missed}"))
            return Resolution(query, "not_found", None, True, error=missed, attempts=attempts)

        ctx = self.context
        unavailable: list[str] = []
        budget_spent = False
        for step, skipped in plan:
            if skipped is not None:
                attempts.append(skipped)  # in plan order, so --explain reads top to bottom
                continue
            budget = options.generation_budget
            if step == "generate" and budget is not None and not budget.take():
                attempts.append(Attempt(step, "skipped", "the --max-generations budget is spent"))
                budget_spent = True
                continue
            try:
                found = await self._try_step(
                    step, query, ctx, attempts, unavailable, checks=options.checks
                )
            except IdentityMismatch as exc:
                # The row contradicts its own ids: no later source may answer it by name.
                attempts.append(Attempt(step, "rejected", exc.message))
                return Resolution(
                    query,
                    "error",
                    None,
                    error=exc.message,
                    attempts=attempts,
                    unavailable_sources=unavailable,
                )
            if found is not None:
                if options.record:
                    await self._record(query, found)
                self.cache.set("resolution", key, _candidate_to(found), tag=found.source)
                return Resolution(
                    query, "resolved", found, attempts=attempts, unavailable_sources=unavailable
                )

        reason = _not_found_reason(attempts, unavailable)
        curated = any(a.reason.startswith(CURATOR_REJECTED) for a in attempts)
        if not unavailable and not budget_spent and prepared.steps and not curated:
            # Only a clean miss is remembered: an outage must not hide a picture for a day, and
            # a miss a curator's rejection caused must not outlive an `unreject`.
            self.cache.set("negative", key, reason, tag="negative")
        return Resolution(
            query,
            "not_found",
            None,
            error=reason,
            attempts=attempts,
            unavailable_sources=unavailable,
        )

    async def plan(self, query: Query, options: ResolveOptions | None = None) -> ResolutionPlan:
        """What `resolve` would do for `query`, without calling any provider.

        Decided by the same `_prepare` as `resolve`: pins, local steps (override files, stored
        AI images) and the caches are read as `resolve` reads them; UsageError for an invalid
        query.
        """
        options = options or ResolveOptions()
        query = validate_query(query)
        prepared = await self._prepare(query, options, dry_run=True)
        steps = prepared.steps if prepared.answered_by is None else []
        return ResolutionPlan(query, prepared.answered_by, steps)

    def _step_plan(self, query: Query, options: ResolveOptions) -> list[tuple[str, Attempt | None]]:
        """The remote steps in order, each with the reason it is skipped (None: it runs)."""
        plan: list[tuple[str, Attempt | None]] = []
        for step in provider_steps(query.media_type, generate=options.generate, ids=query.ids):
            source = self.source(step)
            if source is None:
                continue
            if not options.network:
                plan.append((step, Attempt(step, "skipped", "network disabled (--no-network)")))
                continue
            reason = self.unavailable_reason(step, source)
            if reason:
                plan.append((step, Attempt(step, "skipped", reason)))
                if not (isinstance(source, Switchable) and source.turned_off(self.settings)):
                    self._notice(f"{reason}: {source.provider or step} is skipped.")
                continue
            plan.append((step, None))
        return plan

    async def _try_step(
        self,
        step: str,
        query: Query,
        ctx: SourceContext,
        attempts: list[Attempt],
        unavailable: list[str],
        *,
        checks: PictureChecks | None = None,
    ) -> Candidate | None:
        """The step's best answer, or None (the reason recorded in `attempts`). With `checks`
        (remote steps), pictures are checked as that policy says; None: taken as they are (the
        local steps: override files, and stored AI pictures checked when they were made)."""
        source = self.source(step)
        if source is None:
            return None
        reason = self.unavailable_reason(step, source)
        if reason:
            attempts.append(Attempt(step, "skipped", reason))
            return None
        try:
            answer = await source.find(query, ctx)
        except ConfigError:
            raise
        except ProviderError as exc:
            message = scrub(exc.message, self.settings.secrets())
            attempts.append(Attempt(step, "unavailable", message))
            unavailable.append(step)
            return None
        answer = await self._without_rejected(step, query, answer, ctx, attempts)
        if not answer.candidates:
            attempts.append(Attempt(step, "no_match", answer.reason or "nothing found"))
            return None
        if checks is None:
            best: Candidate | None = max(answer.candidates, key=lambda c: c.quality_score)
        else:
            best = await self._best_passing(
                step, answer.candidates, ctx, attempts, unavailable, checks
            )
        if best is None:
            return None
        attempts.append(Attempt(step, "accepted", _describe(best)))
        return best

    async def _best_passing(
        self,
        step: str,
        candidates: Sequence[Candidate],
        ctx: SourceContext,
        attempts: list[Attempt],
        unavailable: list[str],
        checks: PictureChecks,
    ) -> Candidate | None:
        """The best candidate whose picture passes the checks `checks` asks for; each rejection
        is recorded in `attempts`.

        Candidates are tried best base score first (among equals, in the source's order: TVDB's
        character artwork, then the actor's TVDB photo), so a broken picture falls back to the
        same source's next candidate before the cascade moves on, and a download is spent only
        while a later candidate could still win. A checked picture gets its hash and size; with
        --verify its score is adjusted by its quality (images.combined_score, at most MAX_BONUS
        up), otherwise it keeps the source's score. Local files and pictures the source checked
        itself (web search) pass as they are. When nothing passes and a download failed (an
        outage, not a verdict), the step is unavailable, so the miss is not remembered.
        """
        from coverctl.images import MAX_BONUS, combined_score
        from coverctl.net.pictures import check_image, image_use, is_remote

        rescored = checks is PictureChecks.ALL
        headroom = MAX_BONUS if rescored else 0  # how far a checked score may rise
        best: Candidate | None = None
        failed: list[str] = []
        for candidate in sorted(candidates, key=lambda c: -c.quality_score):
            if best is not None and best.quality_score >= candidate.quality_score + headroom:
                break  # nothing left can beat it
            checked = candidate
            if (
                candidate.image_hash is None
                and is_remote(candidate.image_url)
                and checks_picture(candidate.source, checks)
            ):
                try:
                    info = await check_image(ctx, candidate.image_url, image_use(candidate.source))
                except ImageRejected as exc:
                    reason = f"rejected: {_describe(candidate)}: {exc.message}"
                    attempts.append(Attempt(step, "rejected", reason))
                    continue
                except ProviderError as exc:
                    failed.append(scrub(exc.message, self.settings.secrets()))
                    continue
                checked = replace(
                    candidate,
                    quality_score=(
                        combined_score(candidate.quality_score, info)
                        if rescored
                        else candidate.quality_score
                    ),
                    image_hash=info.phash,
                    image_width=info.width,
                    image_height=info.height,
                )
            if best is None or checked.quality_score > best.quality_score:
                best = checked
        if best is None and failed:
            # Not a verdict on the picture: the step must not count as a clean miss.
            attempts.append(
                Attempt(
                    step, "unavailable", f"could not download the image to check it: {failed[0]}"
                )
            )
            unavailable.append(step)
        return best

    async def _pinned(
        self, query: Query, ctx: SourceContext, attempts: list[Attempt]
    ) -> Candidate | None:
        """A curator's pinned picture for `query`, or None (then nothing is added to attempts)."""
        source = self.source(PINNED_STEP)
        answer = await source.find(query, ctx) if source is not None else None
        if answer is None or not answer.candidates:
            return None
        attempts.append(Attempt(PINNED_STEP, "accepted", _describe(answer.candidates[0])))
        return answer.candidates[0]

    async def _rejections(self, query: Query) -> list[Decision]:
        """The curators' rejections that apply to `query` (read live: a new one counts at once)."""
        found = await store_call(
            self.store,
            self.store.decisions.for_work,
            *work_key(query.character_name, query.title),
            REJECTED,
        )
        return applicable(found, query) if found else []

    async def _curator_rejected(
        self,
        step: str,
        query: Query,
        candidate: Candidate,
        ctx: SourceContext,
        attempts: list[Attempt],
        rejections: list[Decision] | None = None,
        *,
        fetch: bool = True,
    ) -> bool:
        """Whether a curator rejected `candidate` for `query` (recorded in `attempts` if so).

        By URL, then by perceptual hash: a remote picture without a hash is fetched through the
        24 h picture-check cache when a rejection has a hash to compare with (only for the few
        characters with rejections); a picture that cannot be fetched (or with `fetch` False,
        a dry run) is judged by URL alone.
        """
        rejections = await self._rejections(query) if rejections is None else rejections
        if not rejections:
            return False
        image_hash = candidate.image_hash
        found = rejection_of(candidate.image_url, image_hash, rejections)
        if fetch and found is None and image_hash is None and any(r.image_hash for r in rejections):
            image_hash = await self._picture_hash(candidate, ctx)
            found = rejection_of(candidate.image_url, image_hash, rejections)
        if found is None:
            return False
        attempts.append(
            Attempt(step, "rejected", f"{describe_rejection(found)}: {_describe(candidate)}")
        )
        return True

    async def _picture_hash(self, candidate: Candidate, ctx: SourceContext) -> str | None:
        from coverctl.net.pictures import check_image, image_use, is_remote

        if not is_remote(candidate.image_url):
            return None
        try:
            info = await check_image(ctx, candidate.image_url, image_use(candidate.source))
        except (ImageRejected, ProviderError):
            return None
        return info.phash

    async def _without_rejected(
        self,
        step: str,
        query: Query,
        answer: SourceAnswer,
        ctx: SourceContext,
        attempts: list[Attempt],
    ) -> SourceAnswer:
        """`answer` without the pictures a curator rejected for `query`."""
        rejections = await self._rejections(query) if answer.candidates else []
        if not rejections:
            return answer
        kept = [
            candidate
            for candidate in answer.candidates
            if not await self._curator_rejected(step, query, candidate, ctx, attempts, rejections)
        ]
        if len(kept) == len(answer.candidates):
            return answer
        if not kept:
            return SourceAnswer.none("every picture it offers was rejected by a curator")
        return SourceAnswer(kept, answer.reason)

    async def _record(self, query: Query, candidate: Candidate) -> None:
        await store_call(self.store, self.store.upsert, image_record(query, candidate))


def image_record(query: Query, candidate: Candidate) -> ImageRecord:
    """The store row for `candidate` as the answer to `query`."""
    return ImageRecord(
        character_name=query.character_name,
        movie_title=query.title,
        character_key=normalize(query.character_name),
        title_key=normalize(query.title),
        image_url=candidate.image_url,
        source=candidate.source,
        quality_score=candidate.quality_score,
        external_character_id=candidate.matched.external_id,
        person_name=candidate.matched.person,
        matched_character=candidate.matched.character,
        media_type=candidate.media_type or query.media_type,
        year=candidate.year or query.year,
        image_hash=candidate.image_hash,
        image_width=candidate.image_width,
        image_height=candidate.image_height,
    )


def _describe(candidate: Candidate) -> str:
    who = candidate.matched.person or candidate.matched.character or "an image"
    role = f" as {candidate.matched.character!r}" if candidate.matched.person else ""
    return f"{who}{role} (quality {candidate.quality_score})"


def _not_found_reason(attempts: list[Attempt], unavailable: list[str]) -> str:
    tried = [a for a in attempts if a.outcome in ("no_match", "unavailable", "rejected")]
    if unavailable and len(unavailable) == len(tried):
        return "No source could be reached (" + "; ".join(a.reason for a in tried) + ")."
    if not tried:
        return (
            "No local override file matched and no provider could be asked "
            "(set TMDB_API_KEY or TVDB_API_KEY, or add a file to the static directory)."
        )
    return "; ".join(f"{a.source}: {a.reason}" for a in tried)


def _candidate_to(candidate: Candidate) -> dict[str, Any]:
    return {
        "image_url": candidate.image_url,
        "source": candidate.source,
        "quality_score": candidate.quality_score,
        "matched": candidate.matched.as_dict(),
        "media_type": candidate.media_type,
        "year": candidate.year,
        "title": candidate.title,
        "image_hash": candidate.image_hash,
        "image_width": candidate.image_width,
        "image_height": candidate.image_height,
    }


def _candidate_from(data: dict[str, Any]) -> Candidate:
    return Candidate(
        image_url=data["image_url"],
        source=data["source"],
        quality_score=data["quality_score"],
        matched=Match(**data.get("matched") or {}),
        media_type=data.get("media_type"),
        year=data.get("year"),
        title=data.get("title"),
        image_hash=data.get("image_hash"),
        image_width=data.get("image_width"),
        image_height=data.get("image_height"),
    )


def open_resolver(
    settings: Settings,
    *,
    refresh: bool = False,
    transport: Any = None,
    policy: Any = None,
    guarded_transport: Any = None,
) -> Resolver:
    """A Resolver with its store, cache and HTTP client. Close with `close_resolver`.

    With COVERCTL_REDIS_URL the cache, the pacing and the single-flight of provider answers are
    shared by every worker (coverctl.fleet); RedisUnavailable when Redis does not answer.
    `transport` and `guarded_transport` are for tests (see HttpClient)."""
    from coverctl.fleet import open_fleet

    cache = open_cache(settings, refresh=refresh)
    http = HttpClient(
        rates=settings.rates,
        bursts=settings.bursts,
        timeout=settings.http_timeout,
        transport=transport,
        guarded_transport=guarded_transport,
        policy=policy,
        secrets=settings.secrets(),
        fleet=open_fleet(settings),
    )
    return Resolver(
        settings=settings,
        http=http,
        cache=cache,
        store=open_store(settings),
    )


async def close_resolver(resolver: Resolver) -> None:
    await resolver.http.aclose()
    resolver.cache.close()
    resolver.store.close()


def resolve_character(
    query: Query,
    settings: Settings,
    options: ResolveOptions | None = None,
    *,
    transport: Any = None,
) -> Resolution:
    """Resolve one query synchronously (library entry point)."""
    options = options or ResolveOptions()

    async def run() -> Resolution:
        resolver = open_resolver(settings, refresh=options.refresh, transport=transport)
        try:
            return await resolver.resolve(query, options)
        finally:
            await close_resolver(resolver)

    return asyncio.run(run())


__all__ = [
    "GenerationBudget",
    "PictureChecks",
    "ProviderUnavailable",
    "ResolutionPlan",
    "ResolveOptions",
    "Resolver",
    "checks_from_flag",
    "checks_picture",
    "close_resolver",
    "image_record",
    "open_resolver",
    "picture_checks",
    "provider_steps",
    "resolve_character",
    "step_checks_pictures",
]
