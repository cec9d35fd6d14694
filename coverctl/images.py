"""Checking, scoring and hashing candidate pictures: pure, synchronous and CPU-bound.

Every function takes bytes (never a URL or a file name) and decides by content. The batch engine
runs them in worker threads; apart from one lock around ``Image.open`` (see ``_open_checked``) they
share no state. Every rejection raises :class:`~coverctl.errors.ImageRejected` with one sentence
saying what is wrong.

Choices (each a constant below, so callers and tests refer to one number):

* ``MAX_IMAGE_BYTES`` 10 MB, the upload limit of the original system.
* ``ALLOWED_FORMATS`` JPEG, PNG, WebP, GIF, BMP, recognised from the content; AVIF, TIFF, ICO,
  SVG, HEIC and anything else are refused.
* ``MAX_PIXELS`` 50 megapixels, checked on the header before any pixel is decoded (a 10 MB file
  that claims more is a decompression bomb or not a picture anyone needs). Pillow's own
  ``DecompressionBombWarning`` is turned into a rejection too.
* ``MIN_DIMENSIONS``: profile 64×64 (smaller than any useful avatar); poster 92×138 (TMDB's
  smallest poster size, w92); any other use 32×32.
* ``MAX_ASPECT_RATIO``: 3:1 either way for profile and poster pictures, 4:1 for any other use.
* Animated GIF/WebP/APNG: rejected for profile and poster use ("use a still image"); accepted for
  ``Use.ANY``, where only the first frame is checked, scored and hashed.
* Sharpness, ``intrinsic_quality`` and ``combined_score`` are explained at their constants and
  functions; ``SAME_PICTURE_DISTANCE`` is 8 bits of 64.
* EXIF orientation is applied: ``width``/``height``, the aspect check, the hash and the variants all
  describe the picture as it is displayed.
"""

from __future__ import annotations

import math
import os
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO
from pathlib import Path
from typing import Final

import imagehash
import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps, features

from coverctl.errors import ImageRejected

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_ASPECT_RATIO",
    "MAX_IMAGE_BYTES",
    "MAX_PIXELS",
    "MIN_DIMENSIONS",
    "SAME_PICTURE_DISTANCE",
    "ImageInfo",
    "Use",
    "combined_score",
    "inspect_file",
    "inspect_image",
    "intrinsic_quality",
    "make_thumbnail",
    "make_variants",
    "phash_distance",
    "same_picture",
    "sniff_mime",
]

MAX_IMAGE_BYTES: Final = 10 * 1024 * 1024
ALLOWED_FORMATS: Final = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP"})
MAX_PIXELS: Final = 50_000_000


class Use(StrEnum):
    """What the picture is for: decides the minimum size, aspect limit and animation rule."""

    PROFILE = "profile"
    POSTER = "poster"
    ANY = "any"


MIN_DIMENSIONS: Final[dict[Use, tuple[int, int]]] = {
    Use.PROFILE: (64, 64),
    Use.POSTER: (92, 138),
    Use.ANY: (32, 32),
}
MAX_ASPECT_RATIO: Final[dict[Use, float]] = {Use.PROFILE: 3.0, Use.POSTER: 3.0, Use.ANY: 4.0}

# Two perceptual hashes (64 bits) at most this many bits apart show the same picture. Measured on
# generated pictures: resized (to 1/6) and recompressed copies 0-2 bits, a copy with 3% cropped
# off each edge 0-8, unrelated pictures 16-40 (median 32).
SAME_PICTURE_DISTANCE: Final = 8

# Sharpness and the hash are measured on a greyscale copy whose longer side is at most this many
# pixels, so they compare across sizes. 384 is about the largest size a profile picture or poster
# is shown at; it still tells a picture upscaled 3× from its sharp original (4× lower sharpness),
# and lets libjpeg decode pictures from 768 px at half scale. (256 was ~20% faster but let
# upscaled pictures pass as sharp; 512 cost ~30% more.)
WORK_SIZE: Final = 384
# Laplacian variance (on WORK_SIZE copies) mapped onto 0..1 on a log scale between these bounds:
# heavily blurred or flat pictures sit near the low end, crisp photographs at or above the high end.
SHARPNESS_LOW: Final = 10.0
SHARPNESS_HIGH: Final = 1000.0
# Shorter side mapped onto 0..1 on a log scale: 64 px -> 0, 1024 px -> 1.
RESOLUTION_LOW: Final = 64
RESOLUTION_HIGH: Final = 1024
RESOLUTION_WEIGHT: Final = 0.4  # the rest (0.6) is sharpness
# combined_score: at most this many points added for an excellent picture / removed for a poor one.
MAX_BONUS: Final = 5
MAX_PENALTY: Final = 10

_FORMAT_NAMES: Final = "JPEG, PNG, WebP, GIF or BMP"
_MIMES: Final = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "AVIF": "image/avif",
}
_REFUSED_NAMES: Final = {
    "image/tiff": "TIFF",
    "image/x-icon": "ICO",
    "image/avif": "AVIF",
    "image/heic": "HEIC",
    "image/svg+xml": "SVG (vector)",
    "image/vnd.adobe.photoshop": "Photoshop (PSD)",
    "image/jxl": "JPEG XL",
}
_VARIANT_OPTIONS: Final[dict[str, dict[str, object]]] = {
    "WEBP": {"quality": 85, "method": 4},
    "AVIF": {"quality": 70, "speed": 6},
    "JPEG": {"quality": 88, "optimize": True, "progressive": True},
    "PNG": {"optimize": True},
}
_BMP_HEADER_SIZES: Final = {12, 16, 40, 52, 56, 64, 108, 124}
_ORIENTATION_TAG: Final = int(ExifTags.Base.Orientation)
_TRANSPOSED_ORIENTATIONS: Final = {5, 6, 7, 8}
_DECODE_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    KeyError,
    ZeroDivisionError,
    AttributeError,
    MemoryError,
    Image.DecompressionBombError,
)

# warnings.catch_warnings swaps process-wide state and is not thread-safe before Python 3.14: two
# threads interleaving enter/exit could leave our "error" filter installed for good. Only the
# header parse runs under this lock, never the pixel decoding.
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageInfo:
    """What inspect_image learnt about a picture that passed every check."""

    format: str  # Pillow's name, one of ALLOWED_FORMATS
    mime: str
    width: int  # as displayed (EXIF orientation applied)
    height: int
    frames: int  # 1 for a still picture
    size_bytes: int
    sharpness: float  # variance of the Laplacian of a greyscale copy (longer side <= WORK_SIZE)
    intrinsic_quality: int  # 0..100 from resolution and sharpness, see intrinsic_quality()
    phash: str  # imagehash.phash as 16 hex digits; compare with phash_distance()


# --- sniffing -------------------------------------------------------------------------------------


def sniff_mime(data: bytes) -> str | None:
    """The MIME type of an image, from its first bytes only (nothing is decoded).

    Recognises the allowed formats and some refused ones (TIFF, ICO, AVIF, HEIC, SVG, PSD, JPEG XL)
    so a rejection can name them; returns None for anything else, HTML and other text included.
    """
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if (
        head[:2] == b"BM"
        and len(head) >= 18
        and int.from_bytes(head[14:18], "little") in (_BMP_HEADER_SIZES)
    ):
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00"):
        return "image/x-icon"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "image/heic"
    if head[:4] == b"8BPS":
        return "image/vnd.adobe.photoshop"
    if head[:2] == b"\xff\x0a" or head[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n":
        return "image/jxl"
    text = _text_head(data)
    if text is not None and (
        text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text)
    ):
        return "image/svg+xml"
    return None


def _text_head(data: bytes) -> bytes | None:
    """The first KB lower-cased and stripped, if it looks like text; else None."""
    head = data[:1024]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    head = head.lstrip(b" \t\r\n\x0c")
    if not head or b"\x00" in head:
        return None
    return head.lower()


def _not_an_image(data: bytes) -> str:
    """Why data that no image format recognised was refused."""
    text = _text_head(data)
    if text is not None:
        if text.startswith((b"<!doctype html", b"<html")) or (
            text.startswith(b"<") and any(tag in text for tag in (b"<html", b"<head", b"<body"))
        ):
            return (
                "Data is an HTML page, not an image; the URL probably leads to a web page or an "
                "error page."
            )
        if text.startswith((b"{", b"[")):
            return "Data is a JSON document, not an image; the URL probably leads to an API."
        if text.startswith(b"%pdf"):
            return "Data is a PDF document, not an image."
        if text.startswith(b"<"):
            return "Data is an XML document, not an image."
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return "Data is text, not an image."
    return f"Data is not a recognised image; expected {_FORMAT_NAMES}."


# --- opening and checking -------------------------------------------------------------------------


def _check_byte_size(n_bytes: int) -> None:
    if n_bytes == 0:
        raise ImageRejected("Image is empty (0 bytes); the download or file returned nothing.")
    if n_bytes > MAX_IMAGE_BYTES:
        raise ImageRejected(
            f"Image is {n_bytes / 1024 / 1024:.1f} MB, over the "
            f"{MAX_IMAGE_BYTES // 1024 // 1024} MB limit; use a smaller file."
        )


def _bomb_message(pixels: int) -> str:
    return (
        f"Image claims {pixels / 1e6:.1f} megapixels, over the {MAX_PIXELS // 1_000_000} "
        "megapixel limit; it may be a decompression bomb and was not decoded."
    )


@contextmanager
def _open_checked(data: bytes) -> Iterator[ImageFile.ImageFile]:
    """Open `data` (header only) after the checks that need no pixels: size, content type,
    allowed format and pixel count. The caller decodes pixels inside the `with` block."""
    _check_byte_size(len(data))
    mime = sniff_mime(data)
    if mime is None:
        raise ImageRejected(_not_an_image(data))
    if mime in _REFUSED_NAMES:
        raise ImageRejected(
            f"Image is {_REFUSED_NAMES[mime]} ({mime}), which is not accepted; convert it to "
            f"{_FORMAT_NAMES}."
        )
    if mime == "image/jpeg" and b"\xff\xda" not in data:
        # No start-of-scan marker: nothing to decode. Checked here because Pillow would otherwise
        # walk the whole file byte by byte in Python looking for one (seconds for 10 MB of junk).
        raise ImageRejected(
            "JPEG image is truncated or corrupt: it holds no image data (no start-of-scan "
            "marker); download it again or choose another image."
        )
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(BytesIO(data), formats=sorted(ALLOWED_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else MAX_PIXELS + 1
        raise ImageRejected(_bomb_message(pixels)) from exc
    except _DECODE_ERRORS as exc:
        kind = mime.removeprefix("image/").upper()
        raise ImageRejected(
            f"{kind} image is truncated or corrupt: its header cannot be read ({_short(exc)}); "
            "download it again or choose another image."
        ) from exc
    with img:
        if _format_of(img) not in ALLOWED_FORMATS:  # defensive: formats= already restricts this
            raise ImageRejected(f"Image format {img.format} is not accepted; use {_FORMAT_NAMES}.")
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise ImageRejected(_bomb_message(width * height))
        yield img


def _format_of(img: Image.Image) -> str:
    # Pillow opens a JPEG carrying a multi-picture (MPF) index, as cameras and phones write, as
    # "MPO": it is a JPEG, and its extra pictures are previews or stereo views, not animation.
    return "JPEG" if img.format == "MPO" else str(img.format)


def _short(exc: BaseException, limit: int = 120) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _frame_count(img: Image.Image) -> int:
    # GIF's n_frames walks the frame headers without decoding them; WebP/PNG read a counter.
    if img.format == "MPO":
        return 1
    try:
        return int(getattr(img, "n_frames", 1))
    except _DECODE_ERRORS as exc:
        raise ImageRejected(
            f"{_format_of(img)} image is truncated or corrupt: its frames cannot be read "
            f"({_short(exc)}); download it again or choose another image."
        ) from exc


def _orientation(img: Image.Image) -> int:
    if _format_of(img) not in ("JPEG", "PNG", "WEBP"):
        return 1
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block is not a reason to refuse the picture
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _check_geometry(width: int, height: int, use: Use) -> None:
    min_w, min_h = MIN_DIMENSIONS[use]
    if width < min_w or height < min_h:
        raise ImageRejected(
            f"Image is {width}×{height} pixels, below the {min_w}×{min_h} minimum for a "
            f"{use.value} picture; use a larger image."
        )
    ratio = max(width / height, height / width)
    limit = MAX_ASPECT_RATIO[use]
    if ratio > limit:
        shape = "wide" if width > height else "tall"
        raise ImageRejected(
            f"Image is {width}×{height} pixels, too {shape} for a {use.value} picture (aspect "
            f"ratio {ratio:.1f}:1, limit {limit:g}:1); crop it or choose another image."
        )


def _decode_working_copy(img: ImageFile.ImageFile) -> Image.Image:
    """Decode every pixel of the first frame (a truncated or corrupt file fails here) and return
    a greyscale copy whose longer side is at most WORK_SIZE."""
    if _format_of(img) == "JPEG":
        # libjpeg scales by 1/2, 1/4 or 1/8 while decoding (still reading every byte of the scan,
        # so truncation is still detected) and converts straight to greyscale.
        w, h = img.size
        scale = max(1.0, max(w, h) / WORK_SIZE)
        img.draft("L", (max(1, math.ceil(w / scale)), max(1, math.ceil(h / scale))))
    try:
        img.load()
    except _DECODE_ERRORS as exc:
        raise _undecodable(img, exc) from exc
    return _to_small_grey(img)


def _undecodable(img: Image.Image, exc: BaseException) -> ImageRejected:
    return ImageRejected(
        f"{_format_of(img)} image is truncated or corrupt and cannot be decoded ({_short(exc)}); "
        "download it again or choose another image."
    )


def _to_small_grey(img: Image.Image) -> Image.Image:
    im: Image.Image = img
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB")
    elif im.mode == "1":
        im = im.convert("L")
    elif im.mode.startswith("I") or im.mode == "F":
        im = _sixteen_to_eight(im)
    if im.mode in ("RGBA", "LA", "La", "RGBa"):
        # Show transparent areas on white, as a page would, rather than on their hidden colour.
        rgba = im.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        im = flat
    if im.mode != "L":
        im = im.convert("L")
    w, h = im.size
    if max(w, h) > WORK_SIZE:
        scale = max(w, h) / WORK_SIZE
        target = (max(1, round(w / scale)), max(1, round(h / scale)))
        # reducing_gap=1: an integer box reduce() first (cheap), then BOX for the remainder.
        im = im.resize(target, Image.Resampling.BOX, reducing_gap=1.0)
    return im if im is not img else im.copy()


def _sixteen_to_eight(img: Image.Image) -> Image.Image:
    # 16-bit greyscale PNG (mode I;16 or I): Pillow's convert("L") would clip rather than scale.
    arr = np.asarray(img, dtype=np.float32) / 257.0
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")


def _laplacian_variance(grey: Image.Image) -> float:
    # Integer arithmetic: exact (the same number on every machine) and faster than float32.
    a = np.asarray(grey, dtype=np.int16)
    if a.shape[0] < 3 or a.shape[1] < 3:
        return 0.0
    lap = a[1:-1, :-2] + a[1:-1, 2:]
    lap += a[:-2, 1:-1]
    lap += a[2:, 1:-1]
    lap -= 4 * a[1:-1, 1:-1]
    n = lap.size
    total = int(lap.sum(dtype=np.int64))
    squares = int(np.square(lap, dtype=np.int32).sum(dtype=np.int64))
    return squares / n - (total / n) ** 2


def _unit_log(value: float, low: float, high: float) -> float:
    if value <= low:
        return 0.0
    return min(1.0, math.log(value / low) / math.log(high / low))


def intrinsic_quality(width: int, height: int, sharpness: float) -> int:
    """0..100: 40% resolution (shorter side, 64 px -> 0, 1024 px -> 100, log scale) and 60%
    sharpness (Laplacian variance, SHARPNESS_LOW -> 0, SHARPNESS_HIGH -> 100, log scale)."""
    res = _unit_log(min(width, height), RESOLUTION_LOW, RESOLUTION_HIGH)
    sharp = _unit_log(sharpness, SHARPNESS_LOW, SHARPNESS_HIGH)
    return round(100 * (RESOLUTION_WEIGHT * res + (1 - RESOLUTION_WEIGHT) * sharp))


_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def inspect_image(data: bytes, use: Use | str = Use.ANY) -> ImageInfo:
    """Check that `data` is a usable picture for `use` and measure it.

    Raises ImageRejected (one sentence: what is wrong, what to do) when the data is empty, over
    MAX_IMAGE_BYTES, not an image, a refused format, a decompression bomb, truncated or corrupt,
    smaller than MIN_DIMENSIONS[use], beyond MAX_ASPECT_RATIO[use], or animated for a profile or
    poster picture. Cheap header checks run before any pixel is decoded.
    """
    use = Use(use)
    with _open_checked(data) as img:
        fmt = _format_of(img)
        width, height = img.size
        frames = _frame_count(img)
        orientation = _orientation(img)
        if orientation in _TRANSPOSED_ORIENTATIONS:
            width, height = height, width
        _check_geometry(width, height, use)
        if frames > 1 and use is not Use.ANY:
            raise ImageRejected(
                f"Image is animated ({frames} frames); use a still image for a {use.value} picture."
            )
        grey = _decode_working_copy(img)
    with grey:
        if orientation in _TRANSPOSE:
            turned = grey.transpose(_TRANSPOSE[orientation])
            grey.close()
            grey = turned
        sharpness = round(_laplacian_variance(grey), 2)
        # imagehash.phash shrinks to 32×32 with LANCZOS; doing it here with a box reduce() first
        # gives the same hash for a fraction of the cost.
        with grey.resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=2.0) as tiny:
            phash = str(imagehash.phash(tiny))
    return ImageInfo(
        format=fmt,
        mime=_MIMES[fmt],
        width=width,
        height=height,
        frames=frames,
        size_bytes=len(data),
        sharpness=sharpness,
        intrinsic_quality=intrinsic_quality(width, height, sharpness),
        phash=phash,
    )


def inspect_file(path: Path | str, use: Use | str = Use.ANY) -> ImageInfo:
    """inspect_image on a file's content (its name and extension play no part). Reads at most
    MAX_IMAGE_BYTES + 1 bytes; a rejection message starts with the path."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_IMAGE_BYTES + 1)
            total = os.fstat(fh.fileno()).st_size if len(data) > MAX_IMAGE_BYTES else len(data)
    except OSError as exc:
        raise ImageRejected(f"Cannot read image file {path}: {exc.strerror or exc}.") from exc
    try:
        _check_byte_size(total)
        return inspect_image(data, use)
    except ImageRejected as exc:
        raise ImageRejected(f"{path}: {exc.message}") from exc


# --- scoring and hashing --------------------------------------------------------------------------


def combined_score(base_score: int, info: ImageInfo) -> int:
    """The source's base score adjusted by the picture's own quality, within 0..100.

    intrinsic_quality 50 leaves the base unchanged; above it adds up to MAX_BONUS (+5 at 100),
    below it removes up to MAX_PENALTY (-10 at 0), rounding half up. Sources whose base scores
    are 15 or more points apart (100/80/65/50/30) never swap; closer neighbours (70/65/60,
    50/45) swap only when one picture is poor and the other good.
    """
    q = max(0, min(100, info.intrinsic_quality))
    if q >= 50:
        delta = math.floor((q - 50) * MAX_BONUS / 50 + 0.5)
    else:
        delta = -math.floor((50 - q) * MAX_PENALTY / 50 + 0.5)
    return max(0, min(100, base_score + delta))


def phash_distance(a: str, b: str) -> int:
    """Number of differing bits between two phash hex strings (0 = identical hashes)."""
    if len(a) != len(b):
        raise ValueError(f"phash lengths differ ({len(a)} and {len(b)} hex digits)")
    try:
        return (int(a, 16) ^ int(b, 16)).bit_count()
    except ValueError as exc:
        raise ValueError(f"not a phash hex string: {a!r} / {b!r}") from exc


def same_picture(a: str, b: str) -> bool:
    """True when two phashes are at most SAME_PICTURE_DISTANCE bits apart."""
    return phash_distance(a, b) <= SAME_PICTURE_DISTANCE


# --- variants -------------------------------------------------------------------------------------


def _can_encode(fmt: str) -> bool:
    Image.init()
    if fmt not in Image.SAVE:
        return False
    module = fmt.lower()
    return bool(features.check_module(module)) if module in features.modules else True


def make_variants(data: bytes, formats: Sequence[str] = ("WEBP", "AVIF")) -> dict[str, bytes]:
    """Re-encode a picture in each of `formats` (WEBP, AVIF, JPEG, PNG), keyed by MIME type.

    Same size as the original, EXIF orientation applied, metadata (EXIF, GPS) dropped, first
    frame only. A format this Pillow cannot write (AVIF without libavif) is skipped silently; an
    unknown format name raises ValueError; data that fails the byte/format/bomb/decode checks
    raises ImageRejected.
    """
    wanted = [f.upper() for f in formats]
    unknown = [f for f in wanted if f not in _VARIANT_OPTIONS]
    if unknown:
        raise ValueError(
            f"cannot make variants in {unknown}; choose from {sorted(_VARIANT_OPTIONS)}"
        )
    with _open_checked(data) as img:
        try:
            img.load()
        except _DECODE_ERRORS as exc:
            raise _undecodable(img, exc) from exc
        upright = ImageOps.exif_transpose(img)
    if upright.mode.startswith("I") or upright.mode == "F":
        upright = _sixteen_to_eight(upright)
    with upright:
        has_alpha = upright.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
            upright.mode == "P" and "transparency" in upright.info
        )
        pixels = upright.convert("RGBA" if has_alpha else "RGB")
    out: dict[str, bytes] = {}
    with pixels:
        for fmt in wanted:
            if not _can_encode(fmt):
                continue
            target = pixels.convert("RGB") if fmt == "JPEG" and has_alpha else pixels
            buf = BytesIO()
            target.save(buf, fmt, **_VARIANT_OPTIONS[fmt])
            out[_MIMES.get(fmt, f"image/{fmt.lower()}")] = buf.getvalue()
    return out


# --- thumbnails -----------------------------------------------------------------------------------

THUMBNAIL_QUALITY: Final = {"WEBP": {"quality": 78, "method": 4}, "JPEG": {"quality": 82}}


def make_thumbnail(data: bytes, max_side: int) -> tuple[bytes, str]:
    """A small preview of a picture: (bytes, MIME type), its longer side at most `max_side`.

    First frame only, EXIF orientation applied, transparency shown on white, metadata dropped;
    WebP, or JPEG where this Pillow cannot write WebP. The same byte, format and bomb checks as
    every other function here run first (ImageRejected). JPEGs are decoded at a reduced scale.
    """
    fmt = "WEBP" if _can_encode("WEBP") else "JPEG"
    with _open_checked(data) as img:
        if _format_of(img) == "JPEG":
            img.draft("RGB", (max_side * 2, max_side * 2))
        try:
            img.load()
        except _DECODE_ERRORS as exc:
            raise _undecodable(img, exc) from exc
        upright = ImageOps.exif_transpose(img)
    if upright.mode.startswith("I") or upright.mode == "F":
        upright = _sixteen_to_eight(upright)
    with upright:
        rgba = upright.convert("RGBA")
    flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat.alpha_composite(rgba)
    small = flat.convert("RGB")
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = BytesIO()
    small.save(buf, fmt, **THUMBNAIL_QUALITY[fmt])
    return buf.getvalue(), _MIMES[fmt]
