"""AI images generated earlier and recorded in the store (quality 80)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from coverctl.config import Settings
from coverctl.constants import GENERATED_URL_PATTERNS, QualityScore, Source
from coverctl.models import Candidate, Match, Query
from coverctl.names import normalize
from coverctl.sources.base import SourceAnswer, SourceContext
from coverctl.sources.local import local_image_url
from coverctl.sources.registry import remote_labels
from coverctl.store.interfaces import store_call
from coverctl.urls import qualify_image_url


def looks_generated(image_url: str) -> bool:
    lowered = image_url.lower()
    return any(pattern in lowered for pattern in GENERATED_URL_PATTERNS)


def stored_image_url(image_url: str, settings: Settings) -> str | None:
    """The URL to serve a stored AI image from.

    A file under the static directory (where `--generate` keeps images when no Azure storage is
    configured) is referred to like a local override file, and skipped once deleted; anything
    else goes through the backend's URL qualification rules.
    """
    path = Path(image_url)
    if path.is_absolute() and path.resolve().is_relative_to(settings.static_dir.resolve()):
        return local_image_url(path, settings) if path.is_file() else None
    return qualify_image_url(
        image_url,
        backend_url=settings.backend_url,
        tmdb_image_base_url=settings.tmdb_image_base_url,
    )


class StoredAiImageSource:
    name: ClassVar[str] = "stored_ai"
    provider: ClassVar[str | None] = None

    def unavailable_reason(self, settings: Settings) -> str | None:
        return None

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        rows = await store_call(
            ctx.store, ctx.store.find, normalize(query.character_name), normalize(query.title)
        )
        # Rows from a provider are its pictures even if their URL happens to contain "tmp".
        provider_labels = remote_labels()
        for row in rows:
            is_ai = row["source"] == Source.AI_GENERATED or (
                row["source"] not in provider_labels and looks_generated(row["image_url"])
            )
            if not is_ai or not _same_work(row, query):
                continue
            url = stored_image_url(row["image_url"], ctx.settings)
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


def _same_work(row: dict[str, object], query: Query) -> bool:
    """False when the row is known to be about another work of the same title (another year
    or medium): Joker in Batman (1989) is not Joker in Batman (1966)."""
    year = row.get("year")
    if query.year and isinstance(year, int) and abs(year - query.year) > 1:
        return False
    media_type = row.get("media_type")
    return not (query.media_type and media_type and media_type != query.media_type)
