"""Rendered film frames for the OCR tests: title text drawn with Pillow over a photo-like
background (a lit gradient, large soft shapes and sensor noise), in the machine's fonts.

Fonts: DejaVu and Liberation TrueType fonts when installed (Debian's fonts-dejavu-core and
fonts-liberation), else Pillow's built-in scalable font, so the frames can always be drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
)


def font(index: int, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The index-th installed font at `size` pixels, else (or with index -1) Pillow's built-in
    scalable font."""
    if index < 0:
        return ImageFont.load_default(size=size)
    installed = [path for path in FONT_FILES if Path(path).is_file()]
    if installed:
        return ImageFont.truetype(installed[index % len(installed)], size)
    return ImageFont.load_default(size=size)


def background(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like frame: a lit gradient, a few large blurred shapes and per-pixel noise."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    c0, c1, c2 = (rng.uniform(20, 140, 3).astype(np.float32) for _ in range(3))
    base = c0 * (1 - x) * (1 - y) + c1 * x + c2 * y * (1 - x) * 0.8
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(height // 8, height // 3))
        draw.ellipse(
            (cx - r, cy - r, cx + r, cy + r), fill=tuple(int(c) for c in rng.integers(10, 120, 3))
        )
    img = img.filter(ImageFilter.GaussianBlur(radius=max(2, width // 150)))
    noisy = np.asarray(img, dtype=np.float32) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


@dataclass(frozen=True)
class Line:
    text: str
    size: int  # pixels
    y: float  # top, as a share of the frame height


@cache
def frame(
    lines: tuple[Line, ...],
    *,
    font_index: int = 0,
    seed: int = 1,
    width: int = 1280,
    height: int = 720,
) -> bytes:
    """A JPEG frame with `lines` centred, light text with a dark outline (as title cards are)."""
    img = background(width, height, seed)
    draw = ImageDraw.Draw(img)
    for line in lines:
        face = font(font_index, line.size)
        left, _top, right, _bottom = draw.textbbox((0, 0), line.text, font=face)
        x = (width - (right - left)) / 2
        draw.text(
            (x, line.y * height),
            line.text,
            font=face,
            fill=(245, 236, 210),
            stroke_width=max(1, line.size // 24),
            stroke_fill=(10, 10, 10),
        )
    buffer = BytesIO()
    img.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()
