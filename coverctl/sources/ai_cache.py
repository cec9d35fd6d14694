"""AI images generated earlier and recorded in the store (quality 80)."""

from __future__ import annotations

from typing import ClassVar

from coverctl.config import Settings
from coverctl.constants import GENERATED_URL_PATTERNS, QualityScore, Source
from coverctl.models import Candidate, Match, Query
from coverctl.names import normalize
from coverctl.sources.base import SourceAnswer, SourceContext
from coverctl.urls import qualify_image_url

# Rows from these sources are provider pictures even if their URL happens to contain "tmp".
_PROVIDER_SOURCES = frozenset({Source.TMDB, Source.TVDB, Source.HARDCOVER, Source.WEB_SEARCH})


def looks_generated(image_url: str) -> bool:
    lowered = image_url.lower()
    return any(pattern in lowered for pattern in GENERATED_URL_PATTERNS)


class StoredAiImageSource:
    name: ClassVar[str] = "stored_ai"
    provider: ClassVar[str | None] = None

    def unavailable_reason(self, settings: Settings) -> str | None:
        return None

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        rows = ctx.store.find(normalize(query.character_name), normalize(query.title))
        for row in rows:
            is_ai = row["source"] == Source.AI_GENERATED or (
                row["source"] not in _PROVIDER_SOURCES and looks_generated(row["image_url"])
            )
            if not is_ai:
                continue
            url = qualify_image_url(
                row["image_url"],
                backend_url=ctx.settings.backend_url,
                tmdb_image_base_url=ctx.settings.tmdb_image_base_url,
            )
            if url:
                candidate = Candidate(
                    image_url=url,
                    source=Source.AI_GENERATED,
                    quality_score=QualityScore.AI_GENERATED,
                    matched=Match(character=row["character_name"], external_id=row["id"]),
                    media_type=row.get("media_type"),
                    year=row.get("year"),
                )
                return SourceAnswer([candidate])
        return SourceAnswer.none("no stored AI image for this character")
