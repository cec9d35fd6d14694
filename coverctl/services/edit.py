"""`coverctl edit`: a character's stored picture edited with a prompt (Gemini's image model).

The design names Google Imagen's edit API; Imagen's edit models are discontinued, so this uses
Gemini's image model through ``POST {GEMINI_API_URL}/models/{model}:generateContent`` with the
picture (``inline_data``) and the prompt, and reads the picture from the reply's
``candidates[0].content.parts[].inlineData``. A refusal has no picture part: its ``finishReason``
(``SAFETY``, ``PROHIBITED_CONTENT``, ``IMAGE_SAFETY``, ...) or ``promptFeedback.blockReason``
becomes one sentence (exit 3).

The result is checked like any picture (``images.inspect_image``) and kept like a generated one
(``anonymous_{uuid}`` in the Azure container ``images``, else ``{static dir}/generated/``). The
original is never touched: the edit is recorded as a candidate in ``service_jobs`` (provider
``gemini``), and only with ``--replace`` does it become the character's stored ``ai_generated``
picture, which `resolve` then serves (quality 80).

The request is retried after a 5xx like a read (no picture came back, so none was billed).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from coverctl.errors import ConfigError, ImageRejected, NoResult, ServiceFailed, UsageError
from coverctl.services.common import check_reply, send, service_errors

if TYPE_CHECKING:
    from coverctl.resolver import Resolver
    from coverctl.sources.base import SourceContext

PROVIDER: Final = "gemini"
LABEL: Final = "Gemini"
ENV_KEY: Final = "GEMINI_API_KEY"
URL_VAR: Final = "GEMINI_API_URL"
EDIT_TIMEOUT: Final = 120.0
# US dollars per output image: gemini-2.5-flash-image bills 1290 output tokens per image at $30
# per million (ai.google.dev/gemini-api/docs/pricing, read 2026-12-04).
PRICE_PER_IMAGE_USD: Final[dict[str, float]] = {"gemini-2.5-flash-image": 0.039}
# finishReason values that mean "refused", with the sentence shown for each.
REFUSALS: Final[dict[str, str]] = {
    "SAFETY": "Gemini's safety filters refused the edit",
    "IMAGE_SAFETY": "Gemini's safety filters refused the edited picture",
    "PROHIBITED_CONTENT": "Gemini refused the edit as prohibited content",
    "IMAGE_PROHIBITED_CONTENT": "Gemini refused the edited picture as prohibited content",
    "BLOCKLIST": "Gemini refused the prompt (it contains blocked terms)",
    "SPII": "Gemini refused the edit (sensitive personal information)",
    "RECITATION": "Gemini stopped the answer (recitation of protected content)",
    "NO_IMAGE": "Gemini produced no picture for this prompt",
    "IMAGE_OTHER": "Gemini could not produce the edited picture",
    "OTHER": "Gemini stopped without a picture",
}
_STORABLE_MIMES: Final = frozenset({"image/jpeg", "image/png", "image/webp"})


@dataclass
class EditResult:
    character_name: str
    title: str
    prompt: str
    model: str
    original_url: str
    edited_url: str
    content_type: str
    width: int
    height: int
    phash: str
    replaced: bool
    estimate: str
    model_text: str | None = None  # any text the model wrote beside the picture

    def as_dict(self) -> dict[str, Any]:
        return {
            "character_name": self.character_name,
            "title": self.title,
            "prompt": self.prompt,
            "model": self.model,
            "original_url": self.original_url,
            "edited_url": self.edited_url,
            "content_type": self.content_type,
            "width": self.width,
            "height": self.height,
            "phash": self.phash,
            "replaced": self.replaced,
            "estimate": self.estimate,
            "model_text": self.model_text,
        }


def estimate_text(model: str) -> str:
    price = PRICE_PER_IMAGE_USD.get(model)
    if price is None:
        return (
            f"unknown: no price on record for {model} (see ai.google.dev/gemini-api/docs/pricing)"
        )
    return f"about ${price:.3f} for one image with {model} (an estimate; pricing read 2026-12-04)"


def edit_request(picture: bytes, mime: str, prompt: str) -> dict[str, Any]:
    """The generateContent body: the picture, then the instruction; an image answer wanted."""
    return {
        "contents": [
            {
                "parts": [
                    {
                        "inline_data": {
                            "mime_type": mime,
                            "data": base64.b64encode(picture).decode("ascii"),
                        }
                    },
                    {"text": prompt},
                ]
            }
        ],
        "generationConfig": {"responseModalities": ["IMAGE"]},
    }


def parse_edit_reply(payload: Any) -> tuple[bytes, str, str | None]:
    """(picture bytes, its MIME type, any text) from a generateContent reply.

    NoResult for a refusal (finishReason, promptFeedback.blockReason, or no picture part);
    ServiceFailed for a shape that is not a generateContent reply."""
    from coverctl.images import MAX_IMAGE_BYTES

    if not isinstance(payload, dict):
        raise ServiceFailed(f"{LABEL} sent a reply that is not a JSON object.")
    candidates = payload.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        feedback = payload.get("promptFeedback")
        reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if isinstance(reason, str):
            raise NoResult(f"{REFUSALS.get(reason, 'Gemini refused the prompt')} ({reason}).")
        raise ServiceFailed(f"{LABEL} sent a reply without candidates.")
    candidate = candidates[0] if isinstance(candidates[0], dict) else {}
    finish = candidate.get("finishReason")
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    texts: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        inline = part.get("inlineData") or part.get("inline_data")
        if isinstance(inline, dict):
            data = inline.get("data")
            mime = inline.get("mimeType") or inline.get("mime_type") or ""
            if not isinstance(data, str) or len(data) > MAX_IMAGE_BYTES * 4 // 3 + 4:
                raise ServiceFailed(f"{LABEL}'s picture is missing or over 10 MB.")
            try:
                decoded = base64.b64decode(data, validate=True)
            except ValueError:
                raise ServiceFailed(f"{LABEL}'s picture is not valid base64.") from None
            text = " ".join(texts) or None
            return decoded, str(mime), text
        if isinstance(part.get("text"), str):
            texts.append(part["text"].strip())
    if isinstance(finish, str) and finish in REFUSALS:
        raise NoResult(f"{REFUSALS[finish]} ({finish}).")
    said = f": {' '.join(texts)[:160]}" if texts else ""
    raise NoResult(f"Gemini answered without a picture{said}.")


async def picture_bytes(ctx: SourceContext, url: str) -> bytes:
    """The stored picture's bytes: a local file read, a remote one downloaded (guarded)."""
    from pathlib import Path

    from coverctl.images import MAX_IMAGE_BYTES
    from coverctl.net.pictures import download_image, is_remote

    if is_remote(url):
        try:
            return await download_image(ctx, url, untrusted=True)
        except ImageRejected as exc:
            raise NoResult(f"The stored picture {url} cannot be used: {exc.message}") from None
    try:
        with Path(url).open("rb") as handle:
            return handle.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise NoResult(f"The stored picture {url} cannot be read: {exc.strerror}.") from None


async def edit_picture(
    resolver: Resolver,
    character: str,
    title: str,
    prompt: str,
    *,
    year: int | None = None,
    media_type: str | None = None,
    replace: bool = False,
) -> EditResult:
    """Edit the character's picture with `prompt`; keep the result (see the module docstring)."""
    from coverctl.images import Use, inspect_image
    from coverctl.models import Query
    from coverctl.names import normalize
    from coverctl.sources.generate import store_generated
    from coverctl.store.records import COMPLETED

    ctx = resolver.context
    settings = ctx.settings
    prompt = " ".join(prompt.split())
    if not prompt:
        raise UsageError("--prompt must not be empty.")
    if len(prompt) > 2000:
        raise UsageError("--prompt is longer than 2000 characters.")
    if not settings.gemini_api_key:
        raise ConfigError(
            f"{ENV_KEY} is not set: get a key at https://aistudio.google.com/apikey "
            f"(coverctl config set {ENV_KEY})."
        )
    resolution = await resolver.resolve(Query(character, title, year, media_type))
    if resolution.status != "resolved" or resolution.candidate is None:
        raise NoResult(
            f"There is no picture of {character} in {title} to edit "
            f"({resolution.error or 'not found'})."
        )
    original = resolution.candidate.image_url
    data = await picture_bytes(ctx, original)
    try:
        info = await asyncio.to_thread(inspect_image, data, Use.PROFILE)
    except ImageRejected as exc:
        raise NoResult(f"The stored picture {original} cannot be edited: {exc.message}") from None
    if info.mime not in _STORABLE_MIMES:  # GIF, BMP: sent as a JPEG
        data, info = await asyncio.to_thread(_as_jpeg, data), replace_mime(info, "image/jpeg")
    body = edit_request(data, info.mime, prompt)
    model = settings.gemini_model
    with service_errors(LABEL, URL_VAR):
        response = await send(
            ctx,
            PROVIDER,
            "POST",
            f"{settings.gemini_api_url}/models/{model}:generateContent",
            label=LABEL,
            # Gemini answers per-minute limits and spent daily quotas alike ("exceeded your
            # current quota"): wait them out, and a long one ends as unavailable.
            quota_exhausted=lambda _text: False,
            json=body,
            headers={"x-goog-api-key": settings.gemini_api_key.reveal().strip()},
            timeout=EDIT_TIMEOUT,
        )
    if response.status_code == 400 and "API_KEY_INVALID" in response.text:
        from coverctl.errors import CredentialRejected

        raise CredentialRejected(LABEL, ENV_KEY, "API key not valid")
    if response.status_code == 404:
        raise ConfigError(f"Gemini does not know the model {model!r}: check COVERCTL_GEMINI_MODEL.")
    payload = check_reply(response, label=LABEL, env_key=ENV_KEY, secrets=settings.secrets())
    edited, _claimed_mime, text = parse_edit_reply(payload)
    try:
        checked = await asyncio.to_thread(inspect_image, edited, Use.PROFILE)
    except ImageRejected as exc:
        raise NoResult(f"Gemini's picture was rejected: {exc.message}") from None
    if checked.mime not in _STORABLE_MIMES:
        raise NoResult(f"Gemini returned a {checked.format} picture; expected JPEG, PNG or WebP.")
    stored_url = await store_generated(settings, edited, checked.mime)
    query = resolution.query
    key = hashlib.sha256(
        json.dumps(
            [normalize(query.character_name), normalize(query.title), original, prompt]
        ).encode("utf-8")
    ).hexdigest()
    job_id = hashlib.sha256(stored_url.encode("utf-8")).hexdigest()[:32]
    jobs = ctx.store.jobs
    jobs.record(
        job_id=job_id,
        provider=PROVIDER,
        request_key=key,
        character_name=query.character_name,
        movie_title=query.title,
        picture_url=original,
        options={"prompt": prompt, "model": model},
        state=COMPLETED,
    )
    jobs.update(PROVIDER, job_id, state=COMPLETED, result_url=stored_url)
    if replace:
        _record_as_stored_picture(ctx, query, stored_url, checked)
    return EditResult(
        character_name=query.character_name,
        title=query.title,
        prompt=prompt,
        model=model,
        original_url=original,
        edited_url=stored_url,
        content_type=checked.mime,
        width=checked.width,
        height=checked.height,
        phash=checked.phash,
        replaced=replace,
        estimate=estimate_text(model),
        model_text=text,
    )


def replace_mime(info: Any, mime: str) -> Any:
    import dataclasses

    return dataclasses.replace(info, mime=mime)


def _as_jpeg(data: bytes) -> bytes:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as picture:
        buffer = io.BytesIO()
        picture.convert("RGB").save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def _record_as_stored_picture(ctx: SourceContext, query: Any, url: str, info: Any) -> None:
    """--replace: the edit becomes the character's stored AI picture (served by `resolve`)."""
    from coverctl.constants import QualityScore, Source
    from coverctl.names import normalize
    from coverctl.store.records import ImageRecord

    ctx.store.upsert(
        ImageRecord(
            character_name=query.character_name,
            movie_title=query.title,
            character_key=normalize(query.character_name),
            title_key=normalize(query.title),
            image_url=url,
            source=Source.AI_GENERATED,
            quality_score=QualityScore.AI_GENERATED,
            matched_character=query.character_name,
            media_type=query.media_type,
            year=query.year,
            image_hash=info.phash,
            image_width=info.width,
            image_height=info.height,
        )
    )
