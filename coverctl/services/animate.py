"""`coverctl animate`: a character's stored picture as a short video (Luma Dream Machine, billed).

Flow (design: `/convert-to-video`):
1. The character is resolved like `coverctl resolve` (store and caches first): its picture is the
   first frame. Luma fetches it itself, so it needs a URL Luma can read: a remote picture is
   passed as it is; a picture in the private `images` container gets a read-only link valid for
   an hour (or its public BACKEND_URL address); a local file is first uploaded to `images`.
2. ``POST {LUMAAI_API_URL}/generations/video`` with ``keyframes.frame0 = {type: image, url}``,
   the prompt, model, duration, resolution and aspect ratio. This request spends money: it is
   never retried once it may have reached Luma (only a 429 or a refused connection is).
3. The generation is recorded in the store at once (`service_jobs`), then polled at
   ``GET /generations/{id}`` with growing pauses until ``completed`` or ``failed``
   (``failure_reason``). The same request again (same character, title, picture and options)
   finds the record: a running job is polled again instead of paying for another, a finished
   one is reported as it is (`--new` asks for another).
4. ``assets.video`` is downloaded at once (Luma's links expire), through the network guard, and
   stored in the Azure container ``videos-produced`` as ``{generation id}.mp4``.

`--dry-run` resolves the picture and prints the estimate; nothing is uploaded or generated.
Prices (:data:`PRICE_USD`) are Luma's published per-video list prices for the Dream Machine API,
as listed in ComfyUI's API-node pricing table (docs.comfy.org, read 2026-12-04); prices change,
so every figure shown is called an estimate.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from coverctl.constants import (
    ANIMATE_DEFAULT_ASPECT_RATIO,
    ANIMATE_DEFAULT_DURATION,
    ANIMATE_DEFAULT_MODEL,
    ANIMATE_DEFAULT_PROMPT,
    ANIMATE_DEFAULT_RESOLUTION,
)
from coverctl.errors import ConfigError, NoResult, ServiceFailed, UsageError
from coverctl.services.common import check_reply, download_asset, send, service_errors

if TYPE_CHECKING:
    from coverctl.resolver import Resolver
    from coverctl.sources.base import SourceContext

PROVIDER: Final = "luma"
LABEL: Final = "Luma"
ENV_KEY: Final = "LUMAAI_API_KEY"
URL_VAR: Final = "LUMAAI_API_URL"
VIDEO_CONTAINER: Final = "videos-produced"
PICTURE_CONTAINER: Final = "images"
MODELS: Final = ("ray-2", "ray-flash-2")
DURATIONS: Final = ("5s", "9s")
RESOLUTIONS: Final = ("540p", "720p", "1080p", "4k")
ASPECT_RATIOS: Final = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
DEFAULT_MODEL: Final = ANIMATE_DEFAULT_MODEL
DEFAULT_DURATION: Final = ANIMATE_DEFAULT_DURATION
DEFAULT_RESOLUTION: Final = ANIMATE_DEFAULT_RESOLUTION
DEFAULT_ASPECT_RATIO: Final = ANIMATE_DEFAULT_ASPECT_RATIO
# US dollars per video, (model, resolution, duration) -> price; Luma's list prices as published in
# ComfyUI's API-node pricing table (docs.comfy.org/tutorials/api-nodes/pricing), read 2026-12-04.
PRICE_USD: Final[dict[tuple[str, str, str], float]] = {
    ("ray-2", "540p", "5s"): 0.40,
    ("ray-2", "540p", "9s"): 0.72,
    ("ray-2", "720p", "5s"): 0.71,
    ("ray-2", "720p", "9s"): 1.27,
    ("ray-2", "1080p", "5s"): 1.59,
    ("ray-2", "1080p", "9s"): 2.87,
    ("ray-2", "4k", "5s"): 6.37,
    ("ray-2", "4k", "9s"): 11.47,
    ("ray-flash-2", "4k", "5s"): 2.19,
    ("ray-flash-2", "4k", "9s"): 3.94,
}
PRICE_SOURCE: Final = "Luma list prices via docs.comfy.org API-node pricing, read 2026-12-04"
MAX_VIDEO_BYTES: Final = 200 * 1024 * 1024
PICTURE_LINK_SECONDS: Final = 3600  # how long Luma may read a private picture
CREATE_TIMEOUT: Final = 60.0
RUNNING_STATES: Final = frozenset({"queued", "dreaming"})
DEFAULT_PROMPT: Final = ANIMATE_DEFAULT_PROMPT


@dataclass(frozen=True)
class AnimateOptions:
    prompt: str = DEFAULT_PROMPT
    model: str = DEFAULT_MODEL
    duration: str = DEFAULT_DURATION
    resolution: str = DEFAULT_RESOLUTION
    aspect_ratio: str = DEFAULT_ASPECT_RATIO

    def checked(self) -> AnimateOptions:
        for flag, value, allowed in (
            ("--model", self.model, MODELS),
            ("--duration", self.duration, DURATIONS),
            ("--resolution", self.resolution, RESOLUTIONS),
            ("--aspect-ratio", self.aspect_ratio, ASPECT_RATIOS),
        ):
            if value not in allowed:
                raise UsageError(f"{flag} must be one of {', '.join(allowed)}, got {value!r}.")
        prompt = " ".join(self.prompt.split())
        if not prompt:
            raise UsageError("--prompt must not be empty.")
        if len(prompt) > 2000:
            raise UsageError("--prompt is longer than 2000 characters.")
        return AnimateOptions(prompt, self.model, self.duration, self.resolution, self.aspect_ratio)

    def as_dict(self) -> dict[str, str]:
        return {
            "prompt": self.prompt,
            "model": self.model,
            "duration": self.duration,
            "resolution": self.resolution,
            "aspect_ratio": self.aspect_ratio,
        }


def estimate_usd(options: AnimateOptions) -> float | None:
    """The list price of one video with these options, or None when none is on record."""
    return PRICE_USD.get((options.model, options.resolution, options.duration))


def estimate_text(options: AnimateOptions, count: int = 1) -> str:
    price = estimate_usd(options)
    what = f"{count} video{'' if count == 1 else 's'} ({options.model}, {options.resolution}, "
    what += f"{options.duration})"
    if price is None:
        return f"unknown for {what}: no price on record ({PRICE_SOURCE})"
    return f"about ${price * count:.2f} for {what} (an estimate; {PRICE_SOURCE})"


@dataclass
class AnimateResult:
    character_name: str
    title: str
    picture_url: str  # the stored picture (never a signed link)
    options: AnimateOptions
    estimate: str
    generation_id: str | None = None
    state: str = "planned"
    video_url: str | None = None
    resumed: bool = False  # polled a job an earlier run created
    reused: bool = False  # an earlier run had already stored this video: nothing was generated
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "character_name": self.character_name,
            "title": self.title,
            "picture_url": self.picture_url,
            **self.options.as_dict(),
            "estimate": self.estimate,
            "generation_id": self.generation_id,
            "state": self.state,
            "video_url": self.video_url,
            "resumed": self.resumed,
            "reused": self.reused,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class Generation:
    id: str
    state: str
    failure_reason: str
    video_url: str


def parse_generation(payload: Any) -> Generation:
    """The fields we use from a Luma generation object."""
    if not isinstance(payload, dict):
        raise ServiceFailed(f"{LABEL} sent a generation that is not a JSON object.")
    generation_id = payload.get("id")
    if not isinstance(generation_id, str) or not generation_id.strip():
        raise ServiceFailed(f"{LABEL} sent a generation without an id.")
    state = payload.get("state")
    if not isinstance(state, str) or state not in (*RUNNING_STATES, "completed", "failed"):
        raise ServiceFailed(f"{LABEL} sent a generation in an unknown state {state!r}.")
    assets = payload.get("assets")
    video = assets.get("video") if isinstance(assets, dict) else None
    reason = payload.get("failure_reason")
    return Generation(
        id=generation_id.strip(),
        state=state,
        failure_reason=reason.strip() if isinstance(reason, str) else "",
        video_url=video
        if isinstance(video, str) and video.startswith(("http://", "https://"))
        else "",
    )


def generation_request(options: AnimateOptions, picture_url: str) -> dict[str, Any]:
    return {
        "model": options.model,
        "prompt": options.prompt,
        "keyframes": {"frame0": {"type": "image", "url": picture_url}},
        "aspect_ratio": options.aspect_ratio,
        "duration": options.duration,
        "resolution": options.resolution,
        "loop": False,
    }


def request_key(
    character_key: str, title_key: str, picture_url: str, options: AnimateOptions
) -> str:
    """What makes two runs the same request (and so the same paid job)."""
    text = json.dumps([character_key, title_key, picture_url, options.as_dict()], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_mp4(data: bytes) -> bool:
    """An ISO base media file (MP4/MOV): its first box is `ftyp`."""
    return len(data) >= 12 and data[4:8] == b"ftyp"


class Animator:
    """Runs one `animate`; the polling pauses are attributes so tests can shorten them."""

    def __init__(self) -> None:
        self.poll_initial = 3.0
        self.poll_factor = 1.5
        self.poll_max = 15.0
        self.poll_timeout = 15 * 60.0

    async def run(
        self,
        resolver: Resolver,
        character: str,
        title: str,
        options: AnimateOptions,
        *,
        year: int | None = None,
        media_type: str | None = None,
        dry_run: bool = False,
        max_cost: float | None = None,
        new: bool = False,
    ) -> AnimateResult:
        from coverctl.models import Query
        from coverctl.names import normalize
        from coverctl.store.records import COMPLETED

        options = options.checked()
        ctx = resolver.context
        settings = ctx.settings
        price = estimate_usd(options)
        if max_cost is not None and (price is None or price > max_cost):
            shown = f"${price:.2f}" if price is not None else "unknown"
            raise UsageError(
                f"The estimated cost ({shown}) is over --max-cost ${max_cost:.2f}: allow more, "
                "or choose a shorter --duration or a lower --resolution."
            )
        if not dry_run:
            _require(settings.lumaai_api_key, ENV_KEY, "get one at https://lumalabs.ai/api/keys")
            _require(
                settings.azure_connection_string,
                "AZURE_STORAGE_CONNECTION_STRING",
                "the video is stored in the Azure container videos-produced",
            )
        resolution = await resolver.resolve(Query(character, title, year, media_type))
        if resolution.status != "resolved" or resolution.candidate is None:
            raise NoResult(
                f"There is no picture of {character} in {title} to animate "
                f"({resolution.error or 'not found'})."
            )
        picture = resolution.candidate.image_url
        query = resolution.query
        result = AnimateResult(
            query.character_name, query.title, picture, options, estimate_text(options)
        )
        key = request_key(normalize(query.character_name), normalize(query.title), picture, options)
        jobs = ctx.store.jobs
        earlier = None if new else jobs.latest(PROVIDER, key)
        if dry_run:
            result.dry_run = True
            if earlier is not None:
                result.generation_id, result.state = earlier.job_id, earlier.state
                result.video_url = earlier.result_url
                result.notes.append(
                    "an earlier run's job would be "
                    + ("reported (no new cost)" if earlier.state == COMPLETED else "polled again")
                )
            return result
        if earlier is not None and earlier.state == COMPLETED and earlier.result_url:
            result.generation_id, result.state = earlier.job_id, COMPLETED
            result.video_url, result.reused = earlier.result_url, True
            return result
        if earlier is not None:
            generation = Generation(earlier.job_id, earlier.state, "", "")
            result.resumed = True
        else:
            frame_url = await self._public_picture_url(ctx, picture)
            generation = await self._create(ctx, options, frame_url)
            jobs.record(
                job_id=generation.id,
                provider=PROVIDER,
                request_key=key,
                character_name=query.character_name,
                movie_title=query.title,
                picture_url=picture,
                options=options.as_dict(),
                state=generation.state,
            )
        result.generation_id = generation.id
        generation = await self._wait(ctx, jobs, generation)
        result.state = generation.state
        if generation.state == "failed":
            jobs.update(
                PROVIDER, generation.id, state="failed", failure_reason=generation.failure_reason
            )
            raise NoResult(
                f"Luma could not make the video (generation {generation.id} failed: "
                f"{generation.failure_reason or 'no reason given'})."
            )
        if not generation.video_url:
            raise ServiceFailed(
                f"{LABEL} completed generation {generation.id} without a video URL."
            )
        result.video_url = await self._store_video(ctx, generation)
        jobs.update(PROVIDER, generation.id, state=COMPLETED, result_url=result.video_url)
        return result

    async def _public_picture_url(self, ctx: SourceContext, picture: str) -> str:
        """A URL Luma can fetch the picture from (see the module docstring)."""
        from coverctl.constants import IMAGE_NO_AUTH_PATH
        from coverctl.push.azure import blob_in_account, read_url

        settings = ctx.settings
        connection = settings.azure_connection_string
        assert connection is not None  # checked by run()
        if picture.startswith(("http://", "https://")):
            if settings.backend_url and picture.startswith(
                settings.backend_url + IMAGE_NO_AUTH_PATH
            ):
                return picture  # the backend serves it publicly
            location = await asyncio.to_thread(blob_in_account, connection, picture)
            if location is None:
                return picture  # a provider's public picture (TMDB, TVDB, ...)
            container, blob = location
        else:  # a local file (without BACKEND_URL, local pictures are absolute paths)
            container, blob = PICTURE_CONTAINER, await self._upload_local(settings, Path(picture))
        return await asyncio.to_thread(
            read_url, connection, container, blob, valid_seconds=PICTURE_LINK_SECONDS
        )

    async def _upload_local(self, settings: Any, path: Path) -> str:
        from coverctl.push.azure import new_blob_name, upload_blob
        from coverctl.push.publish import read_image

        data, info = await asyncio.to_thread(read_image, path)
        name = new_blob_name("character", content_type=info.mime)
        await asyncio.to_thread(
            upload_blob, settings.azure_connection_string, PICTURE_CONTAINER, name, data, info.mime
        )
        return name

    def _headers(self, ctx: SourceContext) -> dict[str, str]:
        key = ctx.settings.lumaai_api_key
        assert key is not None
        return {"Authorization": f"Bearer {key.reveal().strip()}", "Accept": "application/json"}

    async def _create(
        self, ctx: SourceContext, options: AnimateOptions, frame_url: str
    ) -> Generation:
        settings = ctx.settings
        try:
            with service_errors(LABEL, URL_VAR):
                response = await send(
                    ctx,
                    PROVIDER,
                    "POST",
                    f"{settings.lumaai_api_url}/generations/video",
                    label=LABEL,
                    json=generation_request(options, frame_url),
                    headers=self._headers(ctx),
                    timeout=CREATE_TIMEOUT,
                    idempotent=False,
                )
        except ServiceFailed as exc:
            if "not retried" in exc.message:
                raise ServiceFailed(
                    f"{exc.message} Luma may have started the video: look at "
                    "https://lumalabs.ai/dream-machine/api before running again."
                ) from None
            raise
        payload = check_reply(
            response, label=LABEL, env_key=ENV_KEY, secrets=settings.secrets(), ok=(200, 201)
        )
        return parse_generation(payload)

    async def _get(self, ctx: SourceContext, generation_id: str) -> Generation:
        settings = ctx.settings
        with service_errors(LABEL, URL_VAR):
            response = await send(
                ctx,
                PROVIDER,
                "GET",
                f"{settings.lumaai_api_url}/generations/{generation_id}",
                label=LABEL,
                headers=self._headers(ctx),
            )
        payload = check_reply(response, label=LABEL, env_key=ENV_KEY, secrets=settings.secrets())
        return parse_generation(payload)

    async def _wait(self, ctx: SourceContext, jobs: Any, generation: Generation) -> Generation:
        delay = self.poll_initial
        deadline = time.monotonic() + self.poll_timeout
        first = True
        while first or generation.state in RUNNING_STATES:
            if not first:
                if time.monotonic() + delay > deadline:
                    raise NoResult(
                        f"Luma generation {generation.id} is still {generation.state} after "
                        f"{self.poll_timeout / 60:.0f} min; run the same command again to go on "
                        "waiting (nothing new is paid for)."
                    )
                await asyncio.sleep(delay)
                delay = min(delay * self.poll_factor, self.poll_max)
            first = False
            previous = generation.state
            generation = await self._get(ctx, generation.id)
            if generation.state != previous and generation.state in RUNNING_STATES:
                jobs.update(PROVIDER, generation.id, state=generation.state)
        return generation

    async def _store_video(self, ctx: SourceContext, generation: Generation) -> str:
        from coverctl.push.azure import upload_blob

        data = await download_asset(
            ctx,
            generation.video_url,
            max_bytes=MAX_VIDEO_BYTES,
            accept="video/mp4,video/*",
            what=f"video of generation {generation.id}",
        )
        if not is_mp4(data):
            raise ServiceFailed(
                f"{LABEL}'s video for generation {generation.id} is not an MP4 file."
            )
        name = f"{_safe_name(generation.id)}.mp4"
        connection = ctx.settings.azure_connection_string
        assert connection is not None  # checked by run()
        return await asyncio.to_thread(
            upload_blob,
            connection,
            VIDEO_CONTAINER,
            name,
            data,
            "video/mp4",
            overwrite=True,  # the same generation stored again by a resumed run
        )


def _safe_name(generation_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in generation_id)[:100]


def _require(value: Any, name: str, hint: str) -> None:
    if not value:
        raise ConfigError(f"{name} is not set: {hint} (coverctl config set {name}).")
