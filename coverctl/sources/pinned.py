"""A curator's pinned picture (`coverctl pin`): the first step of the cascade (quality 100).

Read live from the store on every call, like local override files, so a new pin wins at once
whatever the resolution cache holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from coverctl.config import Settings
from coverctl.constants import QualityScore, Source
from coverctl.curation.rules import best_pin, work_key
from coverctl.models import Candidate, Match, Query
from coverctl.sources.base import SourceAnswer, SourceContext
from coverctl.sources.local import local_image_url
from coverctl.store.interfaces import store_call
from coverctl.store.records import PINNED


def pinned_url(stored: str, settings: Settings) -> str | None:
    """The URL to serve a pinned picture from: a remote URL as it is; a pinned file (kept under
    the static directory) like a local override, through BACKEND_URL when set; None once the
    file is gone."""
    if stored.startswith(("http://", "https://")):
        return stored
    path = Path(stored)
    if not path.is_absolute() or not path.is_file():
        return None
    return local_image_url(path, settings)


class PinnedSource:
    name: ClassVar[str] = "pinned"
    provider: ClassVar[str | None] = None

    def unavailable_reason(self, settings: Settings) -> str | None:
        return None

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        pins = await store_call(
            ctx.store,
            ctx.store.decisions.for_work,
            *work_key(query.character_name, query.title),
            PINNED,
        )
        pin = best_pin(pins, query)
        if pin is None:
            return SourceAnswer.none("no pinned picture")
        # A pinned file is kept under the static directory: served like a local override.
        url = pinned_url(pin.image_url, ctx.settings)
        if url is None:
            return SourceAnswer.none(f"the pinned file {pin.image_url} is gone; pin another")
        candidate = Candidate(
            image_url=url,
            source=Source.PINNED,
            quality_score=QualityScore.PINNED,
            matched=Match(
                person=pin.person_name,
                character=pin.matched_character or pin.character_name,
                external_id=pin.external_id,
            ),
            media_type=pin.media_type,
            year=pin.year,
            image_hash=pin.image_hash,
            image_width=pin.image_width,
            image_height=pin.image_height,
        )
        return SourceAnswer([candidate])
