"""Every number and pattern the design fixes, in one place."""

from __future__ import annotations

from typing import Final


class Source:
    """Names of image sources as they appear in JSON output and the store."""

    CHARACTER_SPECIFIC: Final = "character_specific"
    AI_GENERATED: Final = "ai_generated"
    TVDB: Final = "tvdb"
    TMDB: Final = "tmdb"
    HARDCOVER: Final = "hardcover"
    WEB_SEARCH: Final = "web_search"

    ALL: Final = (CHARACTER_SPECIFIC, AI_GENERATED, TVDB, TMDB, HARDCOVER, WEB_SEARCH)


class QualityScore:
    """Base quality score of each source (cli-contract.md)."""

    CHARACTER_SPECIFIC: Final = 100
    AI_GENERATED: Final = 80
    TVDB_CHARACTER: Final = 70
    TVDB_ACTOR_PHOTO: Final = 65
    HARDCOVER: Final = 60
    TMDB_MOVIE: Final = 50
    TMDB_TV: Final = 45
    WEB_SEARCH: Final = 30


class CacheTTL:
    """Seconds each cache tier keeps an entry; None keeps it until cleared."""

    RESOLUTION: Final[int | None] = 14 * 24 * 3600
    PROVIDER_RESPONSE: Final[int | None] = 24 * 3600
    WEB_SEARCH: Final[int | None] = None
    NEGATIVE: Final[int | None] = 24 * 3600


class MediaType:
    MOVIE: Final = "movie"
    TV: Final = "tv"
    BOOK: Final = "book"
    ALL: Final = (MOVIE, TV, BOOK)


# Requests per second each provider may receive by default (cli-contract.md "Rate limits").
DEFAULT_RATES: Final[dict[str, float]] = {
    "tmdb": 40.0,
    "tvdb": 20.0,
    "hardcover": 1.0,
    "duckduckgo": 0.5,
    "replicate": 10.0,
    # Picture downloads for checks (web results, --verify, generated images): many hosts, mostly
    # CDNs, share this one gate.
    "image_fetch": 20.0,
}
# Burst sizes: how many requests may go out back to back before pacing applies.
DEFAULT_BURSTS: Final[dict[str, int]] = {"hardcover": 10, "image_fetch": 5}

# Local override file names, in priority order; {n} is the normalised character name.
CHARACTER_FILE_PATTERNS: Final = (
    "character_specific_image_{n}.jpg",
    "character_specific_image_{n}.png",
    "{n}_profile.jpg",
    "{n}_profile.png",
    "{n}.jpg",
    "{n}.png",
)
ACTOR_FILE_PATTERN: Final = "actor_specific_image_{actor}.jpg"
MEDIA_ACTOR_FILE_PATTERN: Final = "{media_id}_{actor_id}.jpg"

# Substrings that mark an image URL as AI-generated (design notes, "Generated Image Detection").
GENERATED_URL_PATTERNS: Final = (
    "anonymous_",
    "/image/anonymous_",
    "generated_",
    "ai_generated_",
    "created_",
    "/temp/",
    "tmp",
)

TMDB_PROFILE_SIZE: Final = "w500"
TMDB_POSTER_SIZE: Final = "w500"
IMAGE_NO_AUTH_PATH: Final = "/api/image-no-auth/"

MAX_FIELD_LENGTH: Final = 300
