"""Local override files: a curator's picture always wins (quality 100)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from coverctl.config import Settings
from coverctl.constants import (
    ACTOR_FILE_PATTERN,
    CHARACTER_FILE_PATTERNS,
    IMAGE_NO_AUTH_PATH,
    MEDIA_ACTOR_FILE_PATTERN,
    QualityScore,
    Source,
)
from coverctl.models import Candidate, Match, Query
from coverctl.names import filename_key
from coverctl.sources.base import SourceAnswer, SourceContext

CHARACTERS_SUBDIR = "characters"


def local_image_url(path: Path, settings: Settings) -> str:
    """How a local file is referred to: through BACKEND_URL when set, else its absolute path."""
    if settings.backend_url:
        try:
            relative = path.resolve().relative_to(settings.static_dir.resolve())
        except ValueError:
            relative = Path(path.name)
        return f"{settings.backend_url}{IMAGE_NO_AUTH_PATH}{relative.as_posix()}"
    return str(path.resolve())


def _search_dirs(static_dir: Path) -> tuple[Path, ...]:
    return (static_dir, static_dir / CHARACTERS_SUBDIR)


def _first_existing(static_dir: Path, names: list[str]) -> Path | None:
    for name in names:
        for directory in _search_dirs(static_dir):
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def find_character_file(static_dir: Path, character_name: str) -> Path | None:
    key = filename_key(character_name)
    if not key:
        return None
    return _first_existing(static_dir, [p.format(n=key) for p in CHARACTER_FILE_PATTERNS])


def find_actor_file(
    static_dir: Path,
    *,
    person_name: str | None,
    media_id: str | None = None,
    person_id: str | None = None,
) -> Path | None:
    """`{media_id}_{actor_id}.jpg` first, then `actor_specific_image_{actor}.jpg`."""
    names = []
    if media_id and person_id:
        names.append(
            MEDIA_ACTOR_FILE_PATTERN.format(
                media_id=filename_key(media_id), actor_id=filename_key(person_id)
            )
        )
    if person_name and filename_key(person_name):
        names.append(ACTOR_FILE_PATTERN.format(actor=filename_key(person_name)))
    return _first_existing(static_dir, names) if names else None


def local_candidate(path: Path, settings: Settings, match: Match | None = None) -> Candidate:
    return Candidate(
        image_url=local_image_url(path, settings),
        source=Source.CHARACTER_SPECIFIC,
        quality_score=QualityScore.CHARACTER_SPECIFIC,
        matched=match or Match(character=path.name),
    )


class LocalOverrideSource:
    name: ClassVar[str] = "local"
    provider: ClassVar[str | None] = None

    def unavailable_reason(self, settings: Settings) -> str | None:
        if not settings.static_dir.is_dir():
            return f"no local image directory at {settings.static_dir}"
        return None

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        static_dir = ctx.settings.static_dir
        path = find_character_file(static_dir, query.character_name)
        person = None  # a character file says nothing about who is in it
        if path is None and query.actor:
            path = find_actor_file(static_dir, person_name=query.actor)
            person = query.actor if path is not None else None
        if path is None:
            return SourceAnswer.none(f"no override file for {filename_key(query.character_name)!r}")
        match = Match(person=person, character=query.character_name, external_id=path.name)
        return SourceAnswer([local_candidate(path, ctx.settings, match)])
