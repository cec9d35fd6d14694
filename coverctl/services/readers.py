"""Reading a title off a film or TV frame: two readers behind one interface.

- `OcrReader` (offline, the default): RapidOCR on ONNX Runtime, from the optional extra
  ``coverctl[ocr]``. Its detection, orientation and recognition models ship inside the
  ``rapidocr`` wheel, so nothing is downloaded at run time (the tests run it with every socket
  connection refused). The most prominent confident lines are the title candidates: the
  tallest text first (a title card is set larger than credits and captions), two stacked
  lines of about the same height also joined ("THE LORD OF THE RINGS" over "THE FELLOWSHIP OF
  THE RING").
- `VisionReader` (remote): any OpenAI-compatible chat-completions endpoint with image input
  (OpenAI, a local Ollama under ``/v1``, llama.cpp's ``llama-server``), asked for JSON
  ``{title, year, media_type}``. A model can invent a title: `identify` accepts nothing without
  a TMDB match.

Both return a `TitleReading`; neither decides what the work is.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

from coverctl.constants import MediaType
from coverctl.errors import ConfigError, NoResult, ServiceFailed
from coverctl.services.common import check_reply, send, service_errors

if TYPE_CHECKING:
    from coverctl.sources.base import SourceContext

# --- what a reader returns -----------------------------------------------------------------------


@dataclass(frozen=True)
class TitleGuess:
    """One title a reader offers (best first), with what it says about year and kind."""

    title: str
    year: int | None = None
    media_type: str | None = None


@dataclass(frozen=True)
class TitleReading:
    reader: str  # "ocr" or "vision"
    text: list[str]  # everything read, most prominent first
    guesses: list[TitleGuess] = field(default_factory=list)


class TitleReader(Protocol):
    name: ClassVar[str]

    async def read(self, ctx: SourceContext, data: bytes) -> TitleReading: ...


# --- offline OCR ---------------------------------------------------------------------------------

# A line is a title candidate only when the recogniser is at least this sure of it...
MIN_OCR_CONFIDENCE: Final = 0.80
# ...it has at least this many letters (digits alone, "|" or "II" are credits and noise)...
MIN_TITLE_LETTERS: Final = 2
# ...and its text is at least this tall relative to the tallest line (small print is credits).
MIN_RELATIVE_HEIGHT: Final = 0.5
# Two lines are one title set over two lines when their heights differ by at most this share
# and the gap between them is at most this many line heights.
STACKED_HEIGHT_TOLERANCE: Final = 0.25
STACKED_MAX_GAP: Final = 1.0
MAX_GUESSES: Final = 4
OCR_INSTALL_HINT: Final = (
    "The offline reader needs the ocr extra: pip install 'coverctl[ocr]' "
    "(or use --reader vision with COVERCTL_VISION_URL)."
)


@dataclass(frozen=True)
class OcrLine:
    text: str
    score: float
    top: float
    bottom: float
    left: float

    @property
    def height(self) -> float:
        return self.bottom - self.top


def _letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


def title_guesses(lines: list[OcrLine]) -> list[TitleGuess]:
    """Title candidates from OCR lines: confident, lettered, large text, tallest first; two
    stacked lines of about the same height are also offered joined (the joined one first)."""
    usable = [
        line
        for line in lines
        if line.score >= MIN_OCR_CONFIDENCE and _letters(line.text) >= MIN_TITLE_LETTERS
    ]
    if not usable:
        return []
    tallest = max(line.height for line in usable)
    large = [line for line in usable if line.height >= MIN_RELATIVE_HEIGHT * tallest]
    large.sort(key=lambda line: (-line.height, line.top))
    guesses: list[str] = []
    by_position = sorted(large, key=lambda line: line.top)
    for upper, lower in itertools.pairwise(by_position):
        similar = abs(upper.height - lower.height) <= STACKED_HEIGHT_TOLERANCE * max(
            upper.height, lower.height
        )
        gap = lower.top - upper.bottom
        if similar and gap <= STACKED_MAX_GAP * max(upper.height, lower.height):
            guesses.append(f"{upper.text} {lower.text}")
    guesses.extend(line.text for line in large)
    unique = list(dict.fromkeys(" ".join(g.split()) for g in guesses))
    return [TitleGuess(title) for title in unique[:MAX_GUESSES]]


_ENGINE_LOCK = threading.Lock()
_ENGINE: Any = None


def _ocr_engine() -> Any:
    """The RapidOCR engine, built once per process (its models load on first use)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            import logging

            try:
                from rapidocr import RapidOCR
            except ImportError:
                raise ConfigError(OCR_INSTALL_HINT) from None
            # RapidOCR logs every model it loads at INFO, and a frame without text at WARNING,
            # on its own handler: our output stays ours.
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)
            _ENGINE = RapidOCR()
        return _ENGINE


def ocr_lines(data: bytes) -> list[OcrLine]:
    """Every text line RapidOCR finds in the picture `data` (blocking: run it in a thread)."""
    result = _ocr_engine()(data)
    texts, scores, boxes = result.txts, result.scores, result.boxes
    if texts is None or scores is None or boxes is None:
        return []
    lines = []
    for text, score, box in zip(texts, scores, boxes, strict=False):
        ys = [float(point[1]) for point in box]
        xs = [float(point[0]) for point in box]
        cleaned = " ".join(str(text).split())
        if cleaned:
            lines.append(OcrLine(cleaned, float(score), min(ys), max(ys), min(xs)))
    return lines


class OcrReader:
    name: ClassVar[str] = "ocr"

    async def read(self, ctx: SourceContext, data: bytes) -> TitleReading:
        lines = await asyncio.to_thread(ocr_lines, data)
        ordered = sorted(lines, key=lambda line: (-line.height, line.top))
        return TitleReading(self.name, [line.text for line in ordered], title_guesses(lines))


# --- remote vision model -------------------------------------------------------------------------

VISION_PROVIDER: Final = "vision"
VISION_LABEL: Final = "The vision API"
VISION_KEY_VAR: Final = "COVERCTL_VISION_API_KEY"
VISION_URL_VAR: Final = "COVERCTL_VISION_URL"
VISION_MODEL_VAR: Final = "COVERCTL_VISION_MODEL"
VISION_TIMEOUT: Final = 90.0  # a local model on a CPU can take a minute per frame
VISION_MAX_SIDE: Final = 1024  # what vision models look at anyway; fewer tokens, less to send
VISION_PROMPT: Final = (
    "This is a frame, poster or screenshot from a film or TV series. Read the title of the "
    "work if it is written in the picture, or name the work if you recognise it with "
    "certainty. Answer with one JSON object and nothing else: "
    '{"title": string or null, "year": number or null, "media_type": "movie", "tv" or null}. '
    "Use null when you are not sure; never guess."
)
_FENCED: Final = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)


def frame_as_data_url(data: bytes) -> str:
    """The picture as a JPEG `data:` URL, its longer side at most VISION_MAX_SIDE."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as original:
        picture = ImageOps.exif_transpose(original).convert("RGB")
    picture.thumbnail((VISION_MAX_SIDE, VISION_MAX_SIDE))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_request(model: str, data_url: str) -> dict[str, Any]:
    """The chat-completions body asking `model` for the title in the picture."""
    return {
        "model": model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": VISION_PROMPT},
                    {"type": "image_url", "image_url": {"url": data_url}},
                ],
            }
        ],
        "response_format": {"type": "json_object"},
        "temperature": 0,
    }


def parse_chat_reply(payload: Any) -> TitleGuess | None:
    """The model's title guess from a chat-completions reply; None when it found no title.

    Raises NoResult for a refusal or a content filter, ServiceFailed for a reply that is not
    the chat-completions shape or whose content is not the JSON asked for."""
    if not isinstance(payload, dict):
        raise ServiceFailed(f"{VISION_LABEL} sent a reply that is not a JSON object.")
    choices = payload.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict):
        raise ServiceFailed(f"{VISION_LABEL} sent a reply without choices[0].message.")
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        raise NoResult(f"The vision model declined to read the picture: {refusal.strip()}")
    if choice.get("finish_reason") == "content_filter":
        raise NoResult("The vision API's content filter stopped the answer.")
    content = message.get("content")
    if isinstance(content, list):  # some servers answer with content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str) or not content.strip():
        raise ServiceFailed(f"{VISION_LABEL} sent an empty answer.")
    fenced = _FENCED.match(content)
    text = fenced.group(1) if fenced else content.strip()
    try:
        answer = json.loads(text)
    except ValueError:
        raise ServiceFailed(
            f"{VISION_LABEL}'s answer is not the JSON asked for: {content.strip()[:80]!r}"
        ) from None
    if not isinstance(answer, dict):
        raise ServiceFailed(f"{VISION_LABEL}'s answer is not a JSON object.")
    title = answer.get("title")
    if not isinstance(title, str) or not title.strip():
        return None
    year = answer.get("year")
    if isinstance(year, str) and year.strip().isdigit():
        year = int(year.strip())
    media_type = answer.get("media_type")
    return TitleGuess(
        title=" ".join(title.split()),
        year=year if isinstance(year, int) and 1870 <= year <= 2100 else None,
        media_type=media_type if media_type in (MediaType.MOVIE, MediaType.TV) else None,
    )


class VisionReader:
    name: ClassVar[str] = "vision"

    async def read(self, ctx: SourceContext, data: bytes) -> TitleReading:
        settings = ctx.settings
        if not settings.vision_url:
            raise ConfigError(
                f"{VISION_URL_VAR} is not set: set it to an OpenAI-compatible API base URL "
                "(https://api.openai.com/v1, or http://127.0.0.1:11434/v1 for Ollama)."
            )
        if not settings.vision_model:
            raise ConfigError(
                f"{VISION_MODEL_VAR} is not set: name a model that reads images "
                "(gpt-4o-mini, or llava / qwen2.5vl for Ollama)."
            )
        headers = {"Accept": "application/json"}
        if settings.vision_api_key:
            headers["Authorization"] = f"Bearer {settings.vision_api_key.reveal().strip()}"
        body = chat_request(settings.vision_model, await asyncio.to_thread(frame_as_data_url, data))
        with service_errors(VISION_LABEL, VISION_URL_VAR):
            response = await send(
                ctx,
                VISION_PROVIDER,
                "POST",
                f"{settings.vision_url}/chat/completions",
                label=VISION_LABEL,
                json=body,
                headers=headers,
                timeout=VISION_TIMEOUT,
            )
        payload = check_reply(
            response, label=VISION_LABEL, env_key=VISION_KEY_VAR, secrets=settings.secrets()
        )
        guess = parse_chat_reply(payload)
        if guess is None:
            return TitleReading(self.name, [])
        return TitleReading(self.name, [guess.title], [guess])


READERS: Final[dict[str, type[OcrReader] | type[VisionReader]]] = {
    OcrReader.name: OcrReader,
    VisionReader.name: VisionReader,
}
