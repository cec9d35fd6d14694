"""Every number and pattern the design fixes, in one place."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Source:
    """Names of image sources as they appear in JSON output and the store."""

    PINNED: Final = "pinned"  # a curator's choice (coverctl pin): served before every source
    CHARACTER_SPECIFIC: Final = "character_specific"
    AI_GENERATED: Final = "ai_generated"
    TVDB: Final = "tvdb"
    TMDB: Final = "tmdb"
    HARDCOVER: Final = "hardcover"
    WEB_SEARCH: Final = "web_search"

    # The built-in labels, as sql/character_images.sql's CHECK lists them (`push` sends no
    # other); sources/registry.source_labels() adds those of providers registered later.
    ALL: Final = (PINNED, CHARACTER_SPECIFIC, AI_GENERATED, TVDB, TMDB, HARDCOVER, WEB_SEARCH)


class PictureTrust(StrEnum):
    """How far a source's picture URLs are trusted without downloading the picture: each
    provider step's spec says (sources/spec.py); local files and stored AI pictures are trusted."""

    TRUSTED = "trusted"  # checked only with --verify
    UNRELIABLE = "unreliable"  # checked by default; --no-verify skips the check
    ALWAYS_CHECKED = "always_checked"  # checked even with --no-verify


class PictureChecks(StrEnum):
    """Which answers' pictures `resolve` and `batch` check (`--verify` / `--no-verify`)."""

    DEFAULT = "default"  # the sources whose spec does not trust them (tvdb, hardcover)
    ALL = "all"  # --verify: every source's picture, its score adjusted by the picture's quality
    NONE = "none"  # --no-verify: only those ALWAYS_CHECKED (web search checks its own results)


class QualityScore:
    """Base quality score of each source (cli-contract.md)."""

    PINNED: Final = 100
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
    # Small previews of pictures (audit --html, review): a picture rarely changes at its URL.
    THUMBNAIL: Final[int | None] = 30 * 24 * 3600


class FleetTiming:
    """Seconds that pace the state shared through Redis (COVERCTL_REDIS_URL) by every worker."""

    # Connecting, and one command: a Redis that does not answer within these stops the run.
    CONNECT_TIMEOUT: Final = 2.0
    COMMAND_TIMEOUT: Final = 5.0
    # A command lock lapses this long after its holder stopped renewing it (a `kill -9`, a host
    # gone); a live holder renews it every LOCK_RENEW seconds.
    LOCK_TTL: Final = 30.0
    LOCK_RENEW: Final = 10.0
    # The single-flight lease of one provider fetch, renewed while the fetch runs; a worker
    # waiting for another's fetch looks for its answer every FLIGHT_POLL_MIN..MAX seconds.
    FLIGHT_LEASE: Final = 15.0
    FLIGHT_POLL_MIN: Final = 0.01
    FLIGHT_POLL_MAX: Final = 0.1


class MediaType:
    MOVIE: Final = "movie"
    TV: Final = "tv"
    BOOK: Final = "book"
    ALL: Final = (MOVIE, TV, BOOK)


# Requests per second each service may receive by default (cli-contract.md "Rate limits"), beside
# the cascade's providers, whose specs declare theirs (sources/registry.default_rates()).
DEFAULT_RATES: Final[dict[str, float]] = {
    # Image services (each call is billed, so modest rates; a 429's Retry-After still wins).
    # SerpApi: hourly throughput is a share of the plan's monthly searches.
    "serpapi": 1.0,
    # Luma: generations are few; most requests are status polls of running jobs.
    "luma": 2.0,
    # Gemini image model: low requests-per-minute quotas on most tiers.
    "gemini": 1.0,
    # OpenAI-compatible vision chat (OpenAI, or a local Ollama / llama.cpp server).
    "vision": 2.0,
    # Picture downloads for checks (TVDB artwork, covers, web results, --verify, generated images):
    # the rate of each image host's own gate ("image_fetch:<host>").
    "image_fetch": 20.0,
}
# Burst sizes: how many requests may go out back to back before pacing applies.
DEFAULT_BURSTS: Final[dict[str, int]] = {"image_fetch": 5}
# Picture downloads in flight at once to one image host (each host has its own gate, apart from
# the APIs'): enough to keep a batch moving, few enough to be polite to a CDN.
IMAGE_HOST_CONCURRENCY: Final = 8
# Requests in flight at once per gate, for the gates that have such a limit (a "family" such as
# image_fetch applies to each of its per-host gates); others are bounded by their rate alone.
DEFAULT_CONCURRENCY_LIMITS: Final[dict[str, int]] = {"image_fetch": IMAGE_HOST_CONCURRENCY}

# The network guard (coverctl/net/guard.py): how long a name's vetted addresses are reused (a
# failed lookup for less), how many names are remembered, and how long an idle kept-alive
# connection to a picture or link host stays open.
GUARD_DNS_TTL: Final = 60.0
GUARD_DNS_NEGATIVE_TTL: Final = 10.0
GUARD_DNS_CACHE_SIZE: Final = 4096
GUARD_KEEPALIVE_EXPIRY: Final = 5.0

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

# `coverctl animate` defaults (Luma Dream Machine), here so `--help` needs no HTTP stack.
ANIMATE_DEFAULT_MODEL: Final = "ray-2"
ANIMATE_DEFAULT_DURATION: Final = "5s"
ANIMATE_DEFAULT_RESOLUTION: Final = "720p"
ANIMATE_DEFAULT_ASPECT_RATIO: Final = "3:4"  # portraits: profile photos and covers are upright
ANIMATE_DEFAULT_PROMPT: Final = (
    "The character comes to life: a subtle, natural movement, gentle breathing and a slow blink, "
    "the camera still. Keep the face, costume and lighting of the picture."
)

# Curation: `coverctl pin`, `reject`, `candidates`, `review`, and thumbnails in `audit --html`.
THUMBNAIL_PX: Final = 160  # longer side of a preview picture
THUMBNAIL_FAILURE_TTL: Final = 24 * 3600  # seconds a failed preview is remembered (dead links heal)
PINNED_FILES_SUBDIR: Final = "pinned"  # `pin FILE` copies the picture here, under the static dir
MAX_PERSON_IMAGES: Final = 12  # TMDB profile photos of the matched person offered as candidates
REVIEW_DEFAULT_LIMIT: Final = 500  # cards `coverctl review` shows from the store

# How many works a source looks up (one details request each, cached) when a title is shared by
# several works or only a variant of theirs, for the character to decide between them. A title
# with a single certain work costs one details request, as before.
TITLE_WORKS_COMPARED: Final = 3
