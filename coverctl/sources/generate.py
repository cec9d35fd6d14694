"""AI generation with Replicate: the last step, only with `--generate` (it costs money).

Replicate's HTTP API is called directly through the shared client rather than through the
`replicate` SDK: the SDK brings its own HTTP client and retry policy (which retries some POSTs),
so it would bypass the per-provider pacing, the 429 handling, the circuit breaker and the
redaction that every other provider gets, and tests could not fake it at the HTTP layer like the
other providers. Two endpoints are all we need.

Flow: ``POST {REPLICATE_BASE_URL}/models/{owner}/{name}/predictions`` with ``Prefer: wait`` (the
server holds the request up to 60 s and usually answers with the finished prediction). A prediction
still ``starting``/``processing`` is polled at ``/predictions/{id}`` with growing pauses, up to
:attr:`GenerateSource.poll_timeout`; past it the prediction is canceled so it stops costing. The
first output URL is downloaded (no token is sent to it; a ``data:`` URI is decoded instead),
checked with ``images.inspect_image``
and stored as ``anonymous_{uuid}.jpg``: in the Azure container ``images`` when
AZURE_STORAGE_CONNECTION_STRING is set (the blob URL is recorded), else under
``{COVERCTL_STATIC_DIR}/generated/`` (recorded like a local override: through BACKEND_URL when
set, else the absolute path). The resolver records it as ``ai_generated`` (80), so the stored-AI
step finds it next time without calling Replicate.

Money safety:
- the creating POST is never retried once it may have reached Replicate (a timeout or 5xx could
  mean it is running): only a 429 or a refused connection is retried;
- each created prediction counts against :attr:`GenerateSource.max_generations` (failed ones too,
  and a creation that timed out or met a 5xx, since it may be running), checked and reserved
  before the request so concurrent tasks cannot overrun;
- the token is sent only to REPLICATE_BASE_URL: predictions are polled at
  ``{base}/predictions/{id}``, never at a URL taken from a reply.

Prompt (:func:`build_prompt`): the character, the work's title, its year and kind, asking for an
illustrated portrait. No person's name is ever put in it: not the `--actor`, nor any cast name a
provider returned. A likeness of a real actor would be both a rights problem and the wrong picture.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

from coverctl.config import Settings
from coverctl.constants import MediaType, PictureTrust, QualityScore, Source
from coverctl.errors import (
    ConfigError,
    CredentialRejected,
    ImageRejected,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailable,
)
from coverctl.models import Candidate, Match, Query
from coverctl.redact import scrub
from coverctl.sources.base import SourceAnswer, SourceContext, as_list, as_str, json_body
from coverctl.sources.local import local_image_url
from coverctl.sources.spec import (
    CallEstimate,
    HttpProbe,
    PictureDownloads,
    ProviderSpec,
    Variable,
    probe_json,
)
from coverctl.urls import is_remote

PROVIDER: Final = "replicate"
ENV_KEY: Final = "REPLICATE_API_TOKEN"
MODEL_ENV_KEY: Final = "COVERCTL_REPLICATE_MODEL"
DEFAULT_MODEL: Final = "black-forest-labs/flux-schnell"
# US dollars per image, from replicate.com/pricing (flux-schnell: $3 per 1000 images). Prices
# change: estimate_cost() says it is an estimate.
PRICE_PER_IMAGE_USD: Final[dict[str, float]] = {DEFAULT_MODEL: 0.003}
# 2:3 portrait, the shape of TMDB and TVDB profile photos, so every source's picture fits the
# same frame.
ASPECT_RATIO: Final = "2:3"
OUTPUT_FORMAT: Final = "jpg"
WAIT_SECONDS: Final = 60  # how long `Prefer: wait` makes Replicate hold the request
CREATE_TIMEOUT: Final = WAIT_SECONDS + 15.0
GENERATED_SUBDIR: Final = "generated"
AZURE_CONTAINER: Final = "images"
RUNNING_STATUSES: Final = frozenset({"starting", "processing"})
_MODEL_RE: Final = re.compile(r"^([A-Za-z0-9][\w.-]*)/([A-Za-z0-9][\w.-]*)(?::([0-9a-f]{64}))?$")
_PREDICTION_ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_STORABLE_MIMES: Final = frozenset({"image/jpeg", "image/png", "image/webp"})


def estimate_cost(n: int, model: str = DEFAULT_MODEL) -> str:
    """A one-line cost estimate for generating `n` images with `model` (an estimate only)."""
    price = PRICE_PER_IMAGE_USD.get(model.split(":", 1)[0])
    images = f"{n} image{'' if n == 1 else 's'}"
    if price is None:
        return f"unknown for {images}: no price on record for {model} (see replicate.com/pricing)"
    total = n * price
    shown = f"{total:.2f}" if total >= 0.01 or total == 0 else f"{total:.3f}"
    return (
        f"about ${shown} for {images} with {model} at ~${price:.3f} per image "
        "(an estimate; see replicate.com/pricing)"
    )


def _clean(text: str) -> str:
    return " ".join(text.replace('"', "").split())


def build_prompt(query: Query) -> str:
    """The text prompt for `query`: character, title, year and kind of work; never a person."""
    year = f"the {query.year} " if query.year else "the "
    kind = {
        MediaType.MOVIE: f"{year}film",
        MediaType.TV: f"{year}TV series",
        MediaType.BOOK: f"{year}book",
    }.get(query.media_type or "")
    title = f'"{_clean(query.title)}"'
    work = f"{kind} {title}" if kind else (f"{title} ({query.year})" if query.year else title)
    return (
        f"Character portrait of {_clean(query.character_name)}, the fictional character from "
        f"{work}. Head and shoulders, facing the viewer, plain background, soft lighting, "
        "detailed digital illustration. An original depiction of the character, not a "
        "photograph or likeness of any real person or actor. No text, no watermark."
    )


def prediction_input(query: Query) -> dict[str, Any]:
    """flux-schnell's inputs for `query`."""
    return {
        "prompt": build_prompt(query),
        "aspect_ratio": ASPECT_RATIO,
        "output_format": OUTPUT_FORMAT,
        "num_outputs": 1,
    }


@dataclass(frozen=True)
class Prediction:
    id: str
    status: str
    output_urls: tuple[str, ...]
    error: str


def parse_prediction(payload: Any) -> Prediction:
    """The fields we use from a prediction object."""
    if not isinstance(payload, dict):
        raise ProviderResponseError(PROVIDER, "the prediction is not a JSON object")
    prediction_id = as_str(payload.get("id"))
    if not _PREDICTION_ID_RE.match(prediction_id):
        raise ProviderResponseError(PROVIDER, "the prediction has no usable id")
    output = payload.get("output")
    urls = [output] if isinstance(output, str) else as_list(output)
    error = payload.get("error")
    return Prediction(
        id=prediction_id,
        status=as_str(payload.get("status")),
        output_urls=tuple(
            u for u in urls if isinstance(u, str) and (is_remote(u) or u.startswith("data:"))
        ),
        error=as_str(error) if isinstance(error, str) else (str(error) if error else ""),
    )


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a base64 `data:` URI (Replicate may inline a small output file that way)."""
    from coverctl.images import MAX_IMAGE_BYTES

    header, _, body = uri.partition(",")
    if not header.endswith(";base64") or len(body) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise ImageRejected("The model's output is not a base64 image of at most 10 MB.")
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        raise ImageRejected("The model's output is not valid base64.") from None


def problem_detail(payload: Any) -> str:
    """The human part of a problem+json error (`detail`, else `title`)."""
    if not isinstance(payload, dict):
        return ""
    return as_str(payload.get("detail")) or as_str(payload.get("title"))


def auth_headers(settings: Settings) -> dict[str, str]:
    """The headers every Replicate request carries: the token as Bearer."""
    assert settings.replicate_api_token is not None
    return {
        "Authorization": f"Bearer {settings.replicate_api_token.reveal().strip()}",
        "Accept": "application/json",
    }


class GenerateSource:
    """Counts what it did for the batch summary and metrics: `predictions` (created, each may be
    billed), `generated` (stored images), `failures`, `capped` (refused by the cap) and
    `durations` (seconds per stored image). `max_generations` caps `predictions` per process."""

    name: ClassVar[str] = "generate"
    provider: ClassVar[str | None] = PROVIDER

    def __init__(self, max_generations: int | None = None) -> None:
        self.max_generations = max_generations
        self.predictions = 0
        self.generated = 0
        self.failures = 0
        self.capped = 0
        self.durations: list[float] = []
        self._reserved = 0
        # Polling a prediction that `Prefer: wait` did not finish: first pause, growth, longest
        # pause and the total time before it is canceled.
        self.poll_initial = 1.0
        self.poll_factor = 1.5
        self.poll_max = 5.0
        self.poll_timeout = 180.0

    def stats(self) -> dict[str, Any]:
        return {
            "predictions": self.predictions,
            "generated": self.generated,
            "failures": self.failures,
            "capped": self.capped,
            "seconds": round(sum(self.durations), 3),
        }

    def _cap_reached(self) -> bool:
        cap = self.max_generations
        return cap is not None and self.predictions + self._reserved >= cap

    def unavailable_reason(self, settings: Settings) -> str | None:
        if not settings.replicate_api_token:
            return f"{ENV_KEY} is not set"
        if not _MODEL_RE.match(settings.replicate_model):
            return f"{MODEL_ENV_KEY} must look like owner/name (or owner/name:version)"
        # A reached cap is not reported here but by find(), as "unavailable": the row then says
        # why nothing was generated and is not remembered as "not found".
        return None

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        if self._cap_reached():
            self.capped += 1
            raise ProviderUnavailable(
                PROVIDER,
                f"the cap of {self.max_generations} AI generations for this run is reached "
                "(--max-generations)",
            )
        self._reserved += 1  # no await since the check: concurrent tasks cannot overrun the cap
        reserved = True
        started = time.monotonic()
        try:
            try:
                prediction = await self._create(ctx, query)
            except ProviderUnavailable:
                # A timeout or 5xx may have left a prediction running (and billed): counted.
                self._reserved, reserved = self._reserved - 1, False
                self.predictions += 1
                raise
            self._reserved, reserved = self._reserved - 1, False
            self.predictions += 1
            prediction = await self._wait(ctx, prediction)
            if prediction.status != "succeeded":
                detail = scrub(prediction.error, ctx.settings.secrets()) or "no error given"
                raise ProviderUnavailable(
                    PROVIDER, f"the prediction {prediction.id} {prediction.status}: {detail}"
                )
            if not prediction.output_urls:
                raise ProviderResponseError(
                    PROVIDER, f"the prediction {prediction.id} succeeded without an image URL"
                )
            candidate = await self._keep(ctx, query, prediction)
        except ImageRejected as exc:
            self.failures += 1
            return SourceAnswer.none(f"the generated image was rejected: {exc.message}")
        except BaseException:
            self.failures += 1
            raise
        finally:
            if reserved:
                self._reserved -= 1
        self.generated += 1
        self.durations.append(time.monotonic() - started)
        return SourceAnswer([candidate])

    def _headers(self, settings: Settings) -> dict[str, str]:
        return auth_headers(settings)

    async def _create(self, ctx: SourceContext, query: Query) -> Prediction:
        settings = ctx.settings
        model = _MODEL_RE.match(settings.replicate_model)
        assert model is not None  # unavailable_reason checked it
        owner, name, version = model.groups()
        body: dict[str, Any] = {"input": prediction_input(query)}
        if version:
            url = f"{settings.replicate_base_url}/predictions"
            body["version"] = version
        else:
            url = f"{settings.replicate_base_url}/models/{owner}/{name}/predictions"
        response = await ctx.http.request(
            PROVIDER,
            "POST",
            url,
            headers={**self._headers(settings), "Prefer": "wait"},
            json=body,
            timeout=CREATE_TIMEOUT,
            idempotent=False,
        )
        payload = self._checked(ctx, response.status_code, response)
        return parse_prediction(payload)

    def _checked(self, ctx: SourceContext, status: int, response: Any) -> Any:
        """The reply's JSON, or the project's error for a problem+json error reply."""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        detail = scrub(problem_detail(payload), ctx.settings.secrets())
        if status in (401, 403):
            raise CredentialRejected("Replicate", ENV_KEY, detail)
        if status == 402:
            raise ConfigError(
                f"Replicate refused to run the model ({detail or 'payment required'}): "
                "check the account's billing, or run without --generate."
            )
        if status == 404:
            raise ConfigError(
                f"Replicate does not know {ctx.settings.replicate_model!r} "
                f"({detail or 'not found'}): check {MODEL_ENV_KEY}."
            )
        if status >= 400:
            raise ProviderResponseError(PROVIDER, f"HTTP {status} {detail}".strip())
        if payload is None:
            json_body(response, PROVIDER)  # raises the usual "not JSON" error
        return payload

    async def _get(self, ctx: SourceContext, prediction_id: str) -> Prediction:
        response = await ctx.http.request(
            PROVIDER,
            "GET",
            f"{ctx.settings.replicate_base_url}/predictions/{prediction_id}",
            headers=self._headers(ctx.settings),
        )
        return parse_prediction(self._checked(ctx, response.status_code, response))

    async def _cancel(self, ctx: SourceContext, prediction_id: str) -> None:
        with contextlib.suppress(ProviderError):  # best effort: the timeout is reported anyway
            await ctx.http.request(
                PROVIDER,
                "POST",
                f"{ctx.settings.replicate_base_url}/predictions/{prediction_id}/cancel",
                headers=self._headers(ctx.settings),
            )

    async def _wait(self, ctx: SourceContext, prediction: Prediction) -> Prediction:
        delay = self.poll_initial
        deadline = time.monotonic() + self.poll_timeout
        while prediction.status in RUNNING_STATUSES:
            if time.monotonic() + delay > deadline:
                await self._cancel(ctx, prediction.id)
                raise ProviderUnavailable(
                    PROVIDER,
                    f"the prediction {prediction.id} did not finish within "
                    f"{self.poll_timeout:.0f} s and was canceled",
                )
            await asyncio.sleep(delay)
            delay = min(delay * self.poll_factor, self.poll_max)
            prediction = await self._get(ctx, prediction.id)
        if prediction.status not in ("succeeded", "failed", "canceled"):
            raise ProviderResponseError(
                PROVIDER, f"the prediction has an unknown status {prediction.status!r}"
            )
        return prediction

    async def _keep(self, ctx: SourceContext, query: Query, prediction: Prediction) -> Candidate:
        from coverctl.net.pictures import fetch_and_inspect, inspect_bytes

        """Download and check the output, store it, and describe it as a candidate."""
        from coverctl.images import Use

        output = prediction.output_urls[0]
        if output.startswith("data:"):
            info = await inspect_bytes(data := decode_data_uri(output), Use.PROFILE)
        else:
            data, info = await fetch_and_inspect(ctx, output, Use.PROFILE)
        if info.mime not in _STORABLE_MIMES:
            raise ImageRejected(f"the model returned a {info.format} image; expected JPEG/PNG/WebP")
        image_url = await store_generated(ctx.settings, data, info.mime)
        return Candidate(
            image_url=image_url,
            source=Source.AI_GENERATED,
            quality_score=QualityScore.AI_GENERATED,
            matched=Match(person=None, character=query.character_name, external_id=prediction.id),
            media_type=query.media_type,
            year=query.year,
            image_hash=info.phash,
            image_width=info.width,
            image_height=info.height,
        )


async def store_generated(settings: Settings, data: bytes, mime: str) -> str:
    """Keep a generated picture as `anonymous_{uuid}.jpg`; return the URL (or path) to record."""
    from coverctl.push.azure import new_blob_name

    name = new_blob_name("character", content_type=mime)
    if settings.azure_connection_string:
        from coverctl.push.azure import upload_blob

        return await asyncio.to_thread(
            upload_blob, settings.azure_connection_string, AZURE_CONTAINER, name, data, mime
        )
    path = await asyncio.to_thread(
        _write_new_file, settings.static_dir / GENERATED_SUBDIR, name, data
    )
    return local_image_url(path, settings)


def _write_new_file(directory: Path, name: str, data: bytes) -> Path:
    """Write `data` as `directory/name` atomically (a reader never sees half a picture)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    partial = directory / f".{name}.part"
    partial.write_bytes(data)
    os.replace(partial, path)
    return path


# --- what the rest of coverctl knows about generation (sources/spec.py) ------------------------


def doctor_probe(settings: Settings) -> HttpProbe:
    """`GET /account` with the source's own headers: free, and it names the account."""
    import httpx

    request = None
    if settings.replicate_api_token:
        request = httpx.Request(
            "GET", f"{settings.replicate_base_url}/account", headers=auth_headers(settings)
        )

    def accept(response: httpx.Response) -> str:
        username = probe_json(response).get("username")
        return f"API token accepted (account {username})" if username else "API token accepted"

    return HttpProbe(
        PROVIDER,
        "Replicate",
        ENV_KEY,
        "REPLICATE_BASE_URL",
        settings.replicate_base_url,
        request,
        accept,
        "Check REPLICATE_API_TOKEN at https://replicate.com/account/api-tokens.",
    )


SPECS = (
    ProviderSpec(
        step="generate",
        source=Source.AI_GENERATED,
        source_class=GenerateSource,
        provider=PROVIDER,
        rate=10.0,
        variables=(
            Variable(
                ENV_KEY,
                "Replicate API token (AI generation, costs money)",
                secret=True,
                field="replicate_api_token",
            ),
            Variable(
                "REPLICATE_BASE_URL", "Replicate API base URL", url=True, field="replicate_base_url"
            ),
            Variable(MODEL_ENV_KEY, "Replicate model used by --generate", field="replicate_model"),
        ),
        key_variable=ENV_KEY,
        priority=100,  # the last resort
        opt_in=True,  # costs money: only with --generate
        calls=CallEstimate("query", 1, 1),
        # The generated picture is always checked before it is stored.
        downloads=PictureDownloads(1, 1, always=True),
        scores=(QualityScore.AI_GENERATED,),
        # The resolver need not check it again (its output was checked before it was stored).
        picture_trust=PictureTrust.TRUSTED,
        remote_pictures=False,  # stored in Azure, or as a file under the static directory
        cache_tags=frozenset({"generate"}),
        probe=doctor_probe,
    ),
)
