"""`coverctl lens`: reverse image search with SerpApi's Google Lens engine (billed per search).

- A public picture URL is searched as it is: ``GET {SERPAPI_URL}/search.json?engine=google_lens
  &url=…&api_key=…``.
- A local file is checked (``images.inspect_image``: a picture, not HTML or a truncated file),
  re-encoded as a JPEG of at most 500 KB (SerpApi's limit for uploads), uploaded to SerpApi's
  Image API (``POST {SERPAPI_URL}/image``, multipart ``image`` and ``api_key``; the reply's
  ``image_id`` is valid for 10 minutes) and searched by that id.

Every search is billed, so an answer with results is kept forever in the cache's ``search`` tier
(like web image search), keyed by the URL or by the SHA-256 of the file's bytes, and the next
search for the same picture says it was answered from the cache. ``cache clear --source serpapi``
removes them. An answer without results is not kept: a later search may find matches.

The key travels as SerpApi wants it (a query parameter, a form field); the shared client redacts
``api_key`` from every URL it reports, and no URL with it is ever stored.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx

from coverctl.errors import ConfigError, ImageRejected, NoResult, ServiceFailed, UsageError
from coverctl.services.common import check_reply, error_text, send, service_errors

if TYPE_CHECKING:
    from coverctl.sources.base import SourceContext

PROVIDER: Final = "serpapi"
LABEL: Final = "SerpApi"
ENV_KEY: Final = "SERPAPI_API_KEY"
URL_VAR: Final = "SERPAPI_URL"
ENGINE: Final = "google_lens"
MAX_UPLOAD_BYTES: Final = 500 * 1024  # SerpApi's Image API limit
# Re-encoding a local file for upload: the longest side first tried, and JPEG qualities tried in
# turn at each size before the picture is made smaller.
UPLOAD_MAX_SIDE: Final = 1600
UPLOAD_QUALITIES: Final = (88, 80, 70)
UPLOAD_SHRINK: Final = 0.75
SEARCH_TIMEOUT: Final = 60.0  # a Lens search often takes 5-20 s at SerpApi
CACHE_NAMESPACE: Final = "serpapi-lens"
_NO_RESULTS_WORDS: Final = ("hasn't returned any results", "no results")


@dataclass(frozen=True)
class VisualMatch:
    position: int | None
    title: str
    source: str
    link: str
    thumbnail: str
    image: str | None = None


@dataclass(frozen=True)
class KnowledgeEntry:
    title: str
    subtitle: str | None
    link: str | None


@dataclass
class LensResult:
    """What Google Lens said about one picture."""

    query: str  # the URL searched, or the local path given
    search_id: str | None
    google_lens_url: str | None
    visual_matches: list[VisualMatch] = field(default_factory=list)
    knowledge_graph: list[KnowledgeEntry] = field(default_factory=list)
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "search_id": self.search_id,
            "google_lens_url": self.google_lens_url,
            "cached": self.cached,
            "visual_matches": [asdict(m) for m in self.visual_matches],
            "knowledge_graph": [asdict(k) for k in self.knowledge_graph],
        }


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _http_url(value: Any) -> str:
    text = _text(value)
    return text if text.startswith(("http://", "https://")) else ""


def parse_lens(
    payload: Any,
) -> tuple[str | None, str | None, list[VisualMatch], list[KnowledgeEntry]]:
    """(search id, Google Lens URL, visual matches, knowledge graph) from a search reply.

    Raises NoResult when SerpApi says Google Lens found nothing, ServiceFailed for an error
    reply or a shape that is not a search reply."""
    if not isinstance(payload, dict):
        raise ServiceFailed(f"{LABEL} sent a search reply that is not a JSON object.")
    metadata = payload.get("search_metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    error = _text(payload.get("error"))
    if error:
        if any(word in error.lower() for word in _NO_RESULTS_WORDS):
            raise NoResult(f"Google Lens found nothing for this picture ({error}).")
        raise ServiceFailed(f"{LABEL} could not run the search: {error}")
    if _text(metadata.get("status")) == "Error":
        raise ServiceFailed(f"{LABEL} reports that the search failed; try again later.")
    if "visual_matches" not in payload and "knowledge_graph" not in payload and not metadata:
        raise ServiceFailed(f"{LABEL} sent a reply without search results or metadata.")
    matches = []
    for item in payload.get("visual_matches") or []:
        if not isinstance(item, dict):
            continue
        link = _http_url(item.get("link"))
        if not link:
            continue
        position = item.get("position")
        matches.append(
            VisualMatch(
                position=position if isinstance(position, int) else None,
                title=_text(item.get("title")),
                source=_text(item.get("source")),
                link=link,
                thumbnail=_http_url(item.get("thumbnail")),
                image=_http_url(item.get("image")) or None,
            )
        )
    graph = payload.get("knowledge_graph")
    entries = []
    for item in graph if isinstance(graph, list) else [graph]:
        if isinstance(item, dict) and _text(item.get("title")):
            entries.append(
                KnowledgeEntry(
                    title=_text(item.get("title")),
                    subtitle=_text(item.get("subtitle")) or None,
                    link=_http_url(item.get("link")) or None,
                )
            )
    return (
        _text(metadata.get("id")) or None,
        _http_url(metadata.get("google_lens_url")) or None,
        matches,
        entries,
    )


def reencode_for_upload(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """A JPEG of at most `max_bytes` showing the same picture (smaller, more compressed)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as original:
        picture = ImageOps.exif_transpose(original).convert("RGB")
    picture.thumbnail((UPLOAD_MAX_SIDE, UPLOAD_MAX_SIDE))
    while True:
        for quality in UPLOAD_QUALITIES:
            buffer = io.BytesIO()
            picture.save(buffer, "JPEG", quality=quality, optimize=True)
            if buffer.tell() <= max_bytes:
                return buffer.getvalue()
        width, height = picture.size
        if min(width, height) < 64:
            raise ImageRejected(f"The picture cannot be made smaller than {max_bytes // 1024} KB.")
        picture = picture.resize((int(width * UPLOAD_SHRINK), int(height * UPLOAD_SHRINK)))


def read_local_picture(path: Path) -> bytes:
    """The file's bytes once they passed the picture checks (UsageError when unusable)."""
    from coverctl.push.publish import read_image

    if not path.is_file():
        raise UsageError(
            f"Cannot read {path}: no such file (give a picture file or an http(s) URL)."
        )
    try:
        data, _info = read_image(path)
    except ImageRejected as exc:
        raise UsageError(exc.message) from None
    return data


def _key(settings_key: Any) -> str:
    if not settings_key:
        raise ConfigError(
            f"{ENV_KEY} is not set: get a key at https://serpapi.com/manage-api-key and set it "
            f"(coverctl config set {ENV_KEY})."
        )
    return str(settings_key.reveal()).strip()


async def upload_picture(ctx: SourceContext, data: bytes) -> str:
    """Upload a re-encoded picture to SerpApi's Image API; its `image_id`."""
    api_key = _key(ctx.settings.serpapi_api_key)
    request = httpx.Request(
        "POST",
        f"{ctx.settings.serpapi_url}/image",
        data={"api_key": api_key},
        files={"image": ("picture.jpg", data, "image/jpeg")},
    )
    body = request.read()
    with service_errors(LABEL, URL_VAR):
        response = await send(
            ctx,
            PROVIDER,
            "POST",
            f"{ctx.settings.serpapi_url}/image",
            label=LABEL,
            content=body,
            headers={"Content-Type": request.headers["Content-Type"], "Accept": "application/json"},
            timeout=SEARCH_TIMEOUT,
        )
    payload = check_reply(response, label=LABEL, env_key=ENV_KEY, secrets=ctx.settings.secrets())
    image_id = _text(payload.get("image_id")) if isinstance(payload, dict) else ""
    if not image_id:
        detail = error_text(response, ctx.settings.secrets())
        raise ServiceFailed(
            f"{LABEL} did not return an image id for the upload{f' ({detail})' if detail else ''}."
        )
    return image_id


async def lens_search(ctx: SourceContext, image: str, *, refresh: bool = False) -> LensResult:
    """Search Google Lens for `image` (an http(s) URL or a local picture file)."""
    from coverctl.store.cache import cache_key

    settings = ctx.settings
    _key(settings.serpapi_api_key)
    remote = image.startswith(("http://", "https://"))
    data = b"" if remote else read_local_picture(Path(image))
    identity = ("url", image) if remote else ("sha256", hashlib.sha256(data).hexdigest())
    key = cache_key(CACHE_NAMESPACE, *identity)
    if not refresh:
        cached = ctx.cache.get("search", key)
        if isinstance(cached, dict):
            return _from_cache(image, cached)
    params: dict[str, str] = {"engine": ENGINE}
    if remote:
        params["url"] = image
    else:
        params["image_id"] = await upload_picture(ctx, reencode_for_upload(data))
    params["api_key"] = _key(settings.serpapi_api_key)
    with service_errors(LABEL, URL_VAR):
        response = await send(
            ctx,
            PROVIDER,
            "GET",
            f"{settings.serpapi_url}/search.json",
            label=LABEL,
            params=params,
            headers={"Accept": "application/json"},
            timeout=SEARCH_TIMEOUT,
        )
    # SerpApi answers "no results" with HTTP 200 and an `error` text, read by parse_lens.
    payload = check_reply(response, label=LABEL, env_key=ENV_KEY, secrets=settings.secrets())
    search_id, lens_url, matches, graph = parse_lens(payload)
    if not matches and not graph:
        raise NoResult("Google Lens found no visual match and no knowledge entry for this picture.")
    result = LensResult(image, search_id, lens_url, matches, graph)
    ctx.cache.set("search", key, _to_cache(result), tag=PROVIDER)
    return result


def _to_cache(result: LensResult) -> dict[str, Any]:
    data = result.as_dict()
    data.pop("query")
    data.pop("cached")
    return data


def _from_cache(image: str, cached: dict[str, Any]) -> LensResult:
    return LensResult(
        query=image,
        search_id=cached.get("search_id"),
        google_lens_url=cached.get("google_lens_url"),
        visual_matches=[VisualMatch(**m) for m in cached.get("visual_matches", [])],
        knowledge_graph=[KnowledgeEntry(**k) for k in cached.get("knowledge_graph", [])],
        cached=True,
    )
