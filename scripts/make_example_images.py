"""Regenerate the bundled example override images in static/images/ (run from the repo root).

Each is a small real JPEG or PNG portrait card, so the offline demo has something true to serve.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

EXAMPLES = [
    ("characters/character_specific_image_bruce_wayne.jpg", (24, 24, 32), "BW"),
    ("characters/character_specific_image_jack_sparrow.jpg", (120, 72, 36), "JS"),
    ("characters/hermione_granger_profile.jpg", (110, 20, 30), "HG"),
    ("characters/walter_white.png", (40, 110, 60), "WW"),
    ("characters/daenerys_targaryen.jpg", (200, 200, 210), "DT"),
    ("characters/sherlock_holmes_profile.png", (30, 50, 90), "SH"),
    ("character_specific_image_elizabeth_bennet.jpg", (150, 110, 160), "EB"),
    ("characters/woody.jpg", (190, 140, 60), "W"),
]


def portrait(background: tuple[int, int, int], initials: str, size: int = 256) -> Image.Image:
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    light = tuple(min(255, c + 90) for c in background)
    draw.ellipse((size * 0.3, size * 0.14, size * 0.7, size * 0.54), fill=light)
    draw.rounded_rectangle((size * 0.18, size * 0.58, size * 0.82, size * 1.1), 40, fill=light)
    draw.text((size * 0.06, size * 0.05), initials, fill=(255, 255, 255))
    return image.filter(ImageFilter.SMOOTH)


def main(root: Path) -> None:
    for relative, colour, initials in EXAMPLES:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        image = portrait(colour, initials)
        if path.suffix == ".png":
            image.save(path, optimize=True)
        else:
            image.save(path, quality=85)
        print(path)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("static/images"))
