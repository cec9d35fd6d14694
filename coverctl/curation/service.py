"""Pin, unpin, reject and unreject pictures: the one library under `coverctl pin`/`reject` and the
review page (every write of both goes through a `Curator`).

- **pin** a URL, a file or the N-th candidate: the picture is downloaded and checked first (a dead
  link, a web page or a picture below the minimum size is refused, ImageRejected), its perceptual
  hash and size are recorded with the decision, and `resolve` serves it at once as ``pinned``. A
  file is copied under the static directory (``pinned/``), so the pin does not depend on where the
  file was and BACKEND_URL serves it like a local override.
- **reject** a URL, or by default the picture `resolve` serves now: the decision records the
  picture's perceptual hash when it can be fetched (through the guarded download), the stored
  rows serving that picture for the character are deleted, and the query is resolved again: the
  cascade moves on to the next candidate (or says not found). The answer is returned.
- **unpin** / **unreject** remove the decisions that apply to the query (with `url`, only that
  picture's rejection); after an unreject the query is resolved afresh so a replacement found
  meanwhile does not outlive the decision in the resolution cache.
"""

from __future__ import annotations

import getpass
import hashlib
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coverctl.constants import PINNED_FILES_SUBDIR, MediaType, QualityScore, Source
from coverctl.errors import ImageRejected, ServiceUnreachable, UsageError
from coverctl.models import Candidate, Query, Resolution
from coverctl.names import filename_key, normalize
from coverctl.store.interfaces import ImageStore
from coverctl.store.records import PINNED, REJECTED, Decision, ImageRecord

if TYPE_CHECKING:
    from coverctl.config import Settings
    from coverctl.curation.candidates import CandidateList
    from coverctl.curation.thumbnails import Thumbnail
    from coverctl.images import Use
    from coverctl.resolver import Resolver

_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


def current_user() -> str:
    """Who is deciding, for the record: the login name, or "unknown"."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown"


@dataclass
class PinOutcome:
    decision: Decision
    resolution: Resolution  # what `resolve` serves now (the pin)

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision.to_json(), "resolution": self.resolution.to_json()}


@dataclass
class RejectOutcome:
    decision: Decision
    rows_removed: int
    resolution: Resolution  # the new answer, after the cascade moved on

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision.to_json(),
            "rows_removed": self.rows_removed,
            "resolution": self.resolution.to_json(),
        }


def _use_for(query: Query, origin: str | None) -> Use:
    from coverctl.images import Use

    book = origin == Source.HARDCOVER or query.media_type == MediaType.BOOK
    return Use.POSTER if book else Use.PROFILE


class Curator:
    """Curation on one resolver (its store, cache and HTTP client). `by` names who decides."""

    def __init__(self, resolver: Resolver, *, by: str | None = None) -> None:
        self.resolver = resolver
        self.by = by or current_user()

    @property
    def store(self) -> ImageStore:
        return self.resolver.store

    @property
    def settings(self) -> Settings:
        return self.resolver.settings

    # -- reading -------------------------------------------------------------------------------

    def decisions(self, query: Query) -> list[Decision]:
        """The pins and rejections that apply to `query`, newest first."""
        from coverctl.curation.rules import applicable
        from coverctl.validation import validate_query

        query = validate_query(query)
        found = self.store.decisions.for_work(
            normalize(query.character_name), normalize(query.title)
        )
        return applicable(found, query)

    async def candidates(self, query: Query, *, sizes: bool = False) -> CandidateList:
        from coverctl.curation.candidates import list_candidates

        return await list_candidates(self.resolver, query, sizes=sizes)

    async def resolve(self, query: Query, *, refresh: bool = False) -> Resolution:
        from coverctl.resolver import ResolveOptions

        return await self.resolver.resolve(query, ResolveOptions(refresh=refresh))

    # -- pinning -------------------------------------------------------------------------------

    async def pin_url(
        self,
        query: Query,
        url: str,
        *,
        note: str | None = None,
        candidate: Candidate | None = None,
        untrusted: bool = False,
    ) -> PinOutcome:
        """Pin the picture at `url` (checked first). `candidate` carries what a source knew
        about it (who is in it); `untrusted` applies the private-address guard to the download."""
        from coverctl.curation.thumbnails import UNREACHABLE, thumbnail
        from coverctl.validation import validate_query

        query = validate_query(query)
        url = url.strip()
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"{url!r} is not an http(s) URL; give a URL, a file or --candidate N.")
        origin = candidate.source if candidate else "url"
        # A URL the curator typed may be on their own network; a source's is held to the guard.
        preview = await thumbnail(
            self.resolver.context, url, untrusted=untrusted, allow_private=origin == "url"
        )
        problem = preview.problem_for(_use_for(query, origin))
        if problem is not None:
            kind, detail = problem
            if kind == UNREACHABLE:
                raise ServiceUnreachable(
                    f"Could not download {url} to check it ({detail}); nothing was pinned. "
                    "Try again when the host answers."
                )
            raise ImageRejected(f"Not pinned: {url} is {kind}. {detail}")
        decision = self._pin(query, url, url, preview, origin, candidate, note)
        return PinOutcome(decision, await self.resolve(query))

    async def pin_file(self, query: Query, path: Path, *, note: str | None = None) -> PinOutcome:
        """Pin a picture file: checked, then copied under the static directory (`pinned/`)."""
        import asyncio

        from coverctl.images import inspect_file
        from coverctl.sources.local import local_image_url
        from coverctl.validation import validate_query

        query = validate_query(query)
        if not path.is_file():
            raise UsageError(f"{path} is not a file; give a picture file, a URL or --candidate N.")
        info = await asyncio.to_thread(inspect_file, path, _use_for(query, None))
        extension = _EXTENSIONS.get(info.mime, ".jpg" if info.format == "JPEG" else ".png")
        if info.mime not in _EXTENSIONS:
            raise ImageRejected(
                f"{path} is {info.format}; pin a JPEG, PNG or WebP file (browsers show those)."
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        name = f"{filename_key(query.character_name)}__{filename_key(query.title)}_{digest}"
        target_dir = self.settings.static_dir / PINNED_FILES_SUBDIR
        target_dir.mkdir(parents=True, exist_ok=True)
        target = (target_dir / f"{name}{extension}").resolve()
        if not target.exists():
            shutil.copyfile(path, target)
        from coverctl.curation.thumbnails import Thumbnail

        measured = Thumbnail(
            str(target), width=info.width, height=info.height, image_hash=info.phash
        )
        served = local_image_url(target, self.settings)
        decision = self._pin(query, str(target), served, measured, "file", None, note)
        return PinOutcome(decision, await self.resolve(query))

    async def pin_candidate(
        self, query: Query, number: int, *, note: str | None = None
    ) -> PinOutcome:
        """Pin the `number`-th picture of `coverctl candidates` (same numbering)."""
        listing = await self.candidates(query)
        chosen = listing.number(number).candidate
        return await self.pin_picture(listing.query, chosen, note=note)

    async def pin_picture(
        self,
        query: Query,
        candidate: Candidate,
        *,
        note: str | None = None,
        untrusted: bool | None = None,
    ) -> PinOutcome:
        """Pin a picture a source (or a results file) offered: a local file is pinned as a file,
        a URL as a URL. `untrusted` defaults to True for web results only."""
        from coverctl.curation.thumbnails import local_file

        if candidate.source == Source.PINNED:
            raise UsageError("That picture is the pinned one already.")
        path = local_file(candidate.image_url, self.settings)
        if path is not None:
            return await self.pin_file(query, path, note=note)
        if untrusted is None:
            untrusted = candidate.source == Source.WEB_SEARCH
        return await self.pin_url(
            query, candidate.image_url, note=note, candidate=candidate, untrusted=untrusted
        )

    def _pin(
        self,
        query: Query,
        stored_url: str,
        served_url: str,
        measured: Thumbnail,
        origin: str,
        candidate: Candidate | None,
        note: str | None,
    ) -> Decision:
        matched = candidate.matched if candidate else None
        decision = Decision(
            kind=PINNED,
            character_name=query.character_name,
            movie_title=query.title,
            character_key=normalize(query.character_name),
            title_key=normalize(query.title),
            year=query.year,
            media_type=query.media_type,
            image_url=stored_url,
            image_hash=measured.image_hash,
            image_width=measured.width,
            image_height=measured.height,
            origin=origin,
            person_name=matched.person if matched else None,
            matched_character=matched.character if matched else None,
            external_id=matched.external_id if matched else None,
            decided_by=self.by,
            note=note or None,
        )
        row = ImageRecord(
            character_name=query.character_name,
            movie_title=query.title,
            character_key=decision.character_key,
            title_key=decision.title_key,
            image_url=served_url,
            source=Source.PINNED,
            quality_score=QualityScore.PINNED,
            external_character_id=decision.external_id,
            person_name=decision.person_name,
            matched_character=decision.matched_character or query.character_name,
            media_type=query.media_type,
            year=query.year,
            image_hash=measured.image_hash,
            image_width=measured.width,
            image_height=measured.height,
        )
        return self.store.decisions.pin(decision, row)

    async def pin(self, query: Query, **how: Any) -> PinOutcome:
        """Pin by `url=`, `path=` or `number=` (exactly one); the outcome's resolution is what
        `resolve` serves now (the pin)."""
        given = [k for k in ("url", "path", "number") if how.get(k) is not None]
        if len(given) != 1:
            raise UsageError("Give exactly one picture to pin: a URL, a file or --candidate N.")
        note = how.get("note")
        if given == ["url"]:
            return await self.pin_url(query, how["url"], note=note)
        if given == ["path"]:
            return await self.pin_file(query, Path(how["path"]), note=note)
        return await self.pin_candidate(query, int(how["number"]), note=note)

    def unpin(self, query: Query) -> list[Decision]:
        """Remove the pins that apply to `query`; returns them (empty: there was none)."""
        from coverctl.curation.rules import best_pin

        pins = [d for d in self.decisions(query) if d.kind == PINNED]
        if not pins:
            return []
        first = pins[0]
        left = [
            d
            for d in self.store.decisions.for_work(first.character_key, first.title_key, PINNED)
            if d.id not in {p.id for p in pins}
        ]
        keep = best_pin(left, Query(first.character_name, first.movie_title))
        row = None
        if keep is not None:
            from coverctl.sources.pinned import pinned_url

            row = ImageRecord(
                character_name=keep.character_name,
                movie_title=keep.movie_title,
                character_key=keep.character_key,
                title_key=keep.title_key,
                image_url=pinned_url(keep.image_url, self.settings) or keep.image_url,
                source=Source.PINNED,
                quality_score=QualityScore.PINNED,
                external_character_id=keep.external_id,
                person_name=keep.person_name,
                matched_character=keep.matched_character,
                media_type=keep.media_type,
                year=keep.year,
                image_hash=keep.image_hash,
                image_width=keep.image_width,
                image_height=keep.image_height,
            )
        self.store.decisions.unpin([p.id for p in pins], row)
        return pins

    # -- rejecting -----------------------------------------------------------------------------

    async def reject(
        self, query: Query, url: str | None = None, *, note: str | None = None
    ) -> RejectOutcome:
        """Reject `url` (default: the picture served now) for `query`, then resolve again."""
        from coverctl.curation.rules import same_picture
        from coverctl.curation.thumbnails import thumbnail
        from coverctl.validation import validate_query

        query = validate_query(query)
        served = await self.resolve(query)
        current = served.candidate
        origin: str | None = None
        known_hash: str | None = None
        if url is None:
            if current is None:
                raise UsageError(
                    f"Nothing is served for {query.character_name!r} in {query.title!r}, so "
                    "there is no picture to reject; pass --url to reject a given one."
                )
            url, origin, known_hash = current.image_url, current.source, current.image_hash
        url = url.strip()
        pins = [d for d in self.decisions(query) if d.kind == PINNED]
        if current is not None and current.source == Source.PINNED and current.image_url == url:
            raise UsageError(
                f"{url} is pinned for {query.character_name!r} in {query.title!r}; unpin it "
                "first (coverctl unpin), or pin another picture."
            )
        if any(p.image_url == url for p in pins):
            raise UsageError(f"{url} is pinned; unpin it first (coverctl unpin).")
        if known_hash is None:
            preview: Thumbnail = await thumbnail(self.resolver.context, url, untrusted=True)
            known_hash = preview.image_hash
        character_key, title_key = normalize(query.character_name), normalize(query.title)
        doomed = [
            str(row["id"])
            for row in self.store.find(character_key, title_key)
            if row["source"] != Source.PINNED
            and (row["image_url"] == url or same_picture(row.get("image_hash"), known_hash))
        ]
        decision = self.store.decisions.reject(
            Decision(
                kind=REJECTED,
                character_name=query.character_name,
                movie_title=query.title,
                character_key=character_key,
                title_key=title_key,
                year=query.year,
                media_type=query.media_type,
                image_url=url,
                image_hash=known_hash,
                origin=origin,
                decided_by=self.by,
                note=note or None,
            ),
            doomed,
        )
        return RejectOutcome(decision, len(doomed), await self.resolve(query))

    async def unreject(self, query: Query, url: str | None = None) -> list[Decision]:
        """Remove the rejections that apply to `query` (only `url`'s, if given); returns them.
        The query is then resolved afresh, so the picture can come back at once."""
        found = [
            d
            for d in self.decisions(query)
            if d.kind == REJECTED and (url is None or d.image_url == url.strip())
        ]
        self.store.decisions.delete([d.id for d in found])
        if found:
            await self.resolve(query, refresh=True)
        return found


@asynccontextmanager
async def open_curator(
    settings: Settings,
    *,
    by: str | None = None,
    refresh: bool = False,
    transport: Any = None,
    policy: Any = None,
) -> AsyncIterator[Curator]:
    """A Curator on its own resolver (store, cache, HTTP client), closed on exit. `refresh`
    ignores cached provider answers written before it opened."""
    from coverctl.resolver import close_resolver, open_resolver

    resolver = open_resolver(settings, refresh=refresh, transport=transport, policy=policy)
    try:
        yield Curator(resolver, by=by)
    finally:
        await close_resolver(resolver)
