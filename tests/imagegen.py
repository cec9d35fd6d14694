"""Helpers that build real image bytes with Pillow, fast, for the image tests and the benchmark.

Every helper is deterministic for a given seed, so a test that compares two pictures compares the
same pixels on every run. Nothing here writes to disk.
"""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PATTERNS = ("scene", "noise", "flat", "stripes")


def picture(
    width: int, height: int, pattern: str = "scene", seed: int = 0, blur: float = 0.0
) -> Image.Image:
    """An RGB picture: `scene` has large shapes (what a perceptual hash sees) over a gradient,
    with fine texture (what a sharpness measure sees); `seed` changes the layout."""
    rng = np.random.default_rng(seed)
    if pattern == "flat":
        img = Image.new("RGB", (width, height), tuple(int(c) for c in rng.integers(0, 256, 3)))
    elif pattern == "noise":
        arr = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        img = Image.fromarray(arr, "RGB")
    elif pattern == "stripes":
        x = np.arange(width, dtype=np.uint8)
        row = np.where((x // 4) % 2 == 0, 230, 25).astype(np.uint8)
        arr = np.broadcast_to(row[None, :, None], (height, width, 3)).copy()
        img = Image.fromarray(arr, "RGB")
    elif pattern == "scene":
        img = _scene(width, height, rng)
    else:
        raise ValueError(f"unknown pattern {pattern!r}; use one of {PATTERNS}")
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    return img


def _scene(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    grad = (c0 * (1 - t) + c1 * t).astype(np.uint8)
    img = Image.fromarray(np.broadcast_to(grad, (height, width, 3)).copy(), "RGB")
    draw = ImageDraw.Draw(img)
    unit = max(1, min(width, height))
    for _ in range(10):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(unit // 6, unit // 2 + 2))
        box = (x0 - size // 2, y0 - size // 2, x0 + size // 2, y0 + size // 2)
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse(box, fill=fill)
        else:
            draw.rectangle(box, fill=fill)
    # Fine detail: thin lines all over, like hair, text or fabric in a photo.
    for _ in range(max(20, (width + height) // 10)):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        dx, dy = (int(v) for v in rng.integers(-unit // 8 - 1, unit // 8 + 2, 2))
        draw.line((x0, y0, x0 + dx, y0 + dy), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return img


def encode(img: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def jpeg_bytes(
    width: int,
    height: int,
    pattern: str = "scene",
    seed: int = 0,
    blur: float = 0.0,
    quality: int = 90,
    **params: Any,
) -> bytes:
    return encode(picture(width, height, pattern, seed, blur), "JPEG", quality=quality, **params)


def png_bytes(
    width: int,
    height: int,
    pattern: str = "scene",
    seed: int = 0,
    blur: float = 0.0,
    mode: str = "RGB",
) -> bytes:
    img = picture(width, height, pattern, seed, blur)
    if mode != "RGB":
        img = img.convert(mode)
    return encode(img, "PNG", compress_level=1)


def webp_bytes(width: int, height: int, pattern: str = "scene", seed: int = 0) -> bytes:
    return encode(picture(width, height, pattern, seed), "WEBP", quality=85)


def bmp_bytes(width: int, height: int, pattern: str = "scene", seed: int = 0) -> bytes:
    return encode(picture(width, height, pattern, seed), "BMP")


def tiff_bytes(width: int, height: int, pattern: str = "scene", seed: int = 0) -> bytes:
    return encode(picture(width, height, pattern, seed), "TIFF")


def gif_still(width: int, height: int, pattern: str = "scene", seed: int = 0) -> bytes:
    return encode(picture(width, height, pattern, seed).convert("P"), "GIF")


def gif_animated(width: int, height: int, frames: int = 3, seed: int = 0) -> bytes:
    """An animated GIF whose frames really differ (Pillow drops identical frames)."""
    imgs = [picture(width, height, "scene", seed + i).convert("P") for i in range(frames)]
    return encode(imgs[0], "GIF", save_all=True, append_images=imgs[1:], duration=100, loop=0)


def truncated_jpeg(width: int = 300, height: int = 300, keep: float = 0.6) -> bytes:
    """A real JPEG cut short: its header (and size) read fine, its pixels do not decode."""
    data = jpeg_bytes(width, height, "noise")
    return data[: int(len(data) * keep)]


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A small valid PNG whose IHDR is patched (with a correct CRC) to claim width × height pixels.

    Opening it reads only the header; decoding it would fail or allocate gigabytes, so a checker
    that rejects it with a bomb message proves it looked at the header before decoding."""
    data = bytearray(png_bytes(8, 8, "flat"))
    # Signature (8) + length (4) + b"IHDR" (4): width and height follow, the CRC after 13 bytes.
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def html_bytes() -> bytes:
    """What a CDN returns for a missing picture, served as image/jpeg."""
    return (
        b"\n  <!DOCTYPE html>\n<html lang='en'><head><title>404 Not Found</title></head>"
        b"<body><h1>Not Found</h1><p>The requested image was not found.</p></body></html>\n"
    )


def big_file_bytes(size: int = 12 * 1024 * 1024) -> bytes:
    """Bytes that start like a JPEG but are `size` long (the size check must come first)."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    return head + bytes(size - len(head))
