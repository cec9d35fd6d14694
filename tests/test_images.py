"""coverctl.images on real image bytes made by tests/imagegen.py (no binary fixtures)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, features

from coverctl import images
from coverctl.errors import ImageRejected
from coverctl.images import (
    MAX_IMAGE_BYTES,
    MIN_DIMENSIONS,
    SAME_PICTURE_DISTANCE,
    ImageInfo,
    Use,
    combined_score,
    inspect_file,
    inspect_image,
    make_variants,
    phash_distance,
    sniff_mime,
)
from tests import imagegen as gen


def rejected(data: bytes, use: Use = Use.ANY) -> str:
    with pytest.raises(ImageRejected) as caught:
        inspect_image(data, use)
    return caught.value.message


# --- rejections -----------------------------------------------------------------------------------


def test_empty_bytes_are_rejected() -> None:
    assert "is empty (0 bytes)" in rejected(b"")


def test_file_over_10_mb_is_rejected_with_size_and_limit() -> None:
    message = rejected(gen.big_file_bytes(12 * 1024 * 1024))
    assert "12.0 MB, over the 10 MB limit" in message


def test_exactly_10_mb_passes_the_size_check() -> None:
    # The limit is inclusive: a file of exactly MAX_IMAGE_BYTES fails later, for its content.
    message = rejected(gen.big_file_bytes(MAX_IMAGE_BYTES))
    assert "MB limit" not in message
    assert "JPEG image is truncated or corrupt: it holds no image data" in message


def test_html_served_as_image_is_rejected() -> None:
    message = rejected(gen.html_bytes())
    assert "is an HTML page, not an image" in message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'{"status_code": 34, "status_message": "not found"}', "is a JSON document"),
        (b"\x00\x01\x02\x03binary garbage\xff\xfe" * 4, "not a recognised image"),
        (b"just some words", "is text, not an image"),
    ],
)
def test_other_non_images_are_rejected(data: bytes, fragment: str) -> None:
    assert fragment in rejected(data)


def test_tiff_is_rejected_as_a_refused_format() -> None:
    message = rejected(gen.tiff_bytes(200, 200))
    assert "TIFF" in message
    assert "not accepted" in message


def test_svg_text_is_rejected_as_a_refused_format() -> None:
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100"/>'
    message = rejected(svg)
    assert "SVG" in message
    assert "not accepted" in message


def test_ico_is_rejected_as_a_refused_format() -> None:
    ico = gen.encode(gen.picture(64, 64), "ICO")
    assert "ICO" in rejected(ico)


def test_truncated_jpeg_is_rejected() -> None:
    data = gen.truncated_jpeg(300, 300)
    # The header still reads fine: only decoding the pixels can tell.
    with Image.open(BytesIO(data)) as img:
        assert img.size == (300, 300)
    message = rejected(data)
    assert "JPEG image is truncated or corrupt" in message


def test_truncated_png_is_rejected() -> None:
    data = gen.png_bytes(300, 300, "noise")
    message = rejected(data[: len(data) // 2])
    assert "PNG image is truncated or corrupt" in message


def test_truncated_webp_is_rejected() -> None:
    data = gen.webp_bytes(300, 300, "noise")
    assert "WEBP image is truncated or corrupt" in rejected(data[: len(data) * 3 // 4])


def test_truncated_load_stays_strict() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (20_000, 20_000),  # 400 MP: Pillow's DecompressionBombError
        (10_000, 10_000),  # 100 MP: Pillow's DecompressionBombWarning, made an error
        (8_000, 8_000),  # 64 MP: under Pillow's limits, over ours
    ],
)
def test_decompression_bomb_is_rejected_from_its_header(width: int, height: int) -> None:
    data = gen.bomb_png(width, height)
    assert len(data) < 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape
        message = rejected(data)
    megapixels = width * height / 1e6
    assert f"claims {megapixels:.1f} megapixels" in message
    assert "decompression bomb" in message


def test_bomb_check_leaves_warning_filters_alone_under_threads() -> None:
    inspect_image(gen.jpeg_bytes(120, 120))  # first use imports scipy, which adds its own filters
    before = list(warnings.filters)
    payloads = [gen.bomb_png(10_000, 10_000), gen.jpeg_bytes(120, 120)] * 20

    def check(data: bytes) -> str:
        try:
            return inspect_image(data).format
        except ImageRejected as exc:
            return exc.message

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(check, payloads))
    assert results.count("JPEG") == 20
    assert sum("decompression bomb" in r for r in results) == 20
    assert warnings.filters == before


@pytest.mark.parametrize("use", list(Use))
def test_one_pixel_image_is_rejected_for_every_use(use: Use) -> None:
    min_w, min_h = MIN_DIMENSIONS[use]
    message = rejected(gen.png_bytes(1, 1), use)
    assert f"1×1 pixels, below the {min_w}×{min_h} minimum for a {use.value} picture" in message


def test_poster_minimum_is_stricter_than_profile() -> None:
    data = gen.jpeg_bytes(80, 120)
    assert inspect_image(data, Use.PROFILE).width == 80
    assert "below the 92×138 minimum for a poster picture" in rejected(data, Use.POSTER)


def test_absurdly_wide_image_is_rejected() -> None:
    message = rejected(gen.png_bytes(450, 100))
    assert "too wide" in message
    assert "4.5:1" in message


def test_tall_strip_is_rejected_as_a_profile_picture_but_not_for_any_use() -> None:
    data = gen.png_bytes(100, 350)
    assert "too tall for a profile picture" in rejected(data, Use.PROFILE)
    assert inspect_image(data, Use.ANY).height == 350


@pytest.mark.parametrize("use", [Use.PROFILE, Use.POSTER])
def test_animated_gif_is_rejected_for_profile_and_poster(use: Use) -> None:
    message = rejected(gen.gif_animated(150, 225, frames=3), use)
    assert "is animated (3 frames); use a still image" in message


def test_animated_gif_is_accepted_for_any_use_as_its_first_frame() -> None:
    info = inspect_image(gen.gif_animated(150, 225, frames=3), Use.ANY)
    assert (info.format, info.frames) == ("GIF", 3)
    first = inspect_image(gen.gif_still(150, 225, seed=0))
    assert phash_distance(info.phash, first.phash) <= SAME_PICTURE_DISTANCE


def test_animated_webp_is_rejected_for_profile() -> None:
    frames = [gen.picture(120, 120, seed=i) for i in range(2)]
    data = gen.encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    assert "is animated (2 frames)" in rejected(data, Use.PROFILE)


# --- acceptance -----------------------------------------------------------------------------------


def test_png_named_jpg_is_accepted_as_png(tmp_path: Path) -> None:
    path = tmp_path / "character_specific_image_bruce_wayne.jpg"
    path.write_bytes(gen.png_bytes(200, 300))
    info = inspect_file(path, Use.PROFILE)
    assert (info.format, info.mime) == ("PNG", "image/png")
    assert (info.width, info.height) == (200, 300)


def test_inspect_file_prefixes_rejections_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "oops.png"
    path.write_bytes(gen.html_bytes())
    with pytest.raises(ImageRejected, match=r"oops\.png: Data is an HTML page, not an image"):
        inspect_file(path)


def test_inspect_file_reports_the_real_size_of_a_big_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    path.write_bytes(gen.big_file_bytes(12 * 1024 * 1024))
    with pytest.raises(ImageRejected, match=r"12\.0 MB, over the 10 MB limit"):
        inspect_file(path)


def test_inspect_file_missing_file_is_a_rejection(tmp_path: Path) -> None:
    with pytest.raises(ImageRejected, match="Cannot read image file"):
        inspect_file(tmp_path / "absent.png")


@pytest.mark.parametrize(
    ("make", "fmt", "mime"),
    [
        (gen.webp_bytes, "WEBP", "image/webp"),
        (gen.bmp_bytes, "BMP", "image/bmp"),
        (gen.gif_still, "GIF", "image/gif"),
        (gen.png_bytes, "PNG", "image/png"),
        (gen.jpeg_bytes, "JPEG", "image/jpeg"),
    ],
)
def test_allowed_formats_are_accepted(
    make: Callable[[int, int], bytes], fmt: str, mime: str
) -> None:
    data = make(200, 300)
    info = inspect_image(data, Use.POSTER)
    assert isinstance(info, ImageInfo)
    assert (info.format, info.mime, info.width, info.height) == (fmt, mime, 200, 300)
    assert info.frames == 1
    assert info.size_bytes == len(data)
    assert info.sharpness > 0
    assert 0 <= info.intrinsic_quality <= 100
    assert len(info.phash) == 16
    assert sniff_mime(data) == mime


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "L", "1", "I;16"])
def test_png_modes_are_accepted(mode: str) -> None:
    img = gen.picture(160, 160)
    if mode == "I;16":
        img = img.convert("L").point(lambda v: v * 256, "I").convert("I;16")
    else:
        img = img.convert(mode)
    info = inspect_image(gen.encode(img, "PNG"))
    assert info.format == "PNG"
    assert info.sharpness > 10  # the greyscale copy kept the picture's detail


def test_cmyk_jpeg_is_accepted() -> None:
    data = gen.encode(gen.picture(200, 200).convert("CMYK"), "JPEG")
    assert inspect_image(data).format == "JPEG"


def test_camera_multi_picture_jpeg_is_a_still_jpeg() -> None:
    # Phones and cameras write JPEGs with an MPF index (Pillow calls them MPO): not animation.
    first, preview = gen.picture(200, 300, seed=1), gen.picture(200, 300, seed=2)
    data = gen.encode(first, "MPO", save_all=True, append_images=[preview])
    info = inspect_image(data, Use.PROFILE)
    assert (info.format, info.mime, info.frames) == ("JPEG", "image/jpeg", 1)


def test_exif_orientation_gives_the_displayed_dimensions() -> None:
    img = gen.picture(300, 150)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    info = inspect_image(gen.encode(img, "JPEG", exif=exif.tobytes()))
    assert (info.width, info.height) == (150, 300)
    upright = inspect_image(gen.encode(img.transpose(Image.Transpose.ROTATE_270), "JPEG"))
    assert phash_distance(info.phash, upright.phash) <= SAME_PICTURE_DISTANCE


def test_use_may_be_given_as_a_string() -> None:
    with pytest.raises(ImageRejected, match="minimum for a profile picture"):
        inspect_image(gen.png_bytes(10, 10), "profile")


# --- quality and scoring --------------------------------------------------------------------------


def test_sharp_picture_scores_higher_than_its_blurred_copy() -> None:
    sharp = inspect_image(gen.jpeg_bytes(600, 800, seed=3))
    blurred = inspect_image(gen.jpeg_bytes(600, 800, seed=3, blur=3))
    assert sharp.sharpness > 5 * blurred.sharpness
    assert sharp.intrinsic_quality >= blurred.intrinsic_quality + 20


def test_larger_picture_scores_higher_at_equal_sharpness() -> None:
    assert images.intrinsic_quality(1000, 1500, 300.0) > images.intrinsic_quality(100, 150, 300.0)


def test_flat_picture_has_no_sharpness() -> None:
    info = inspect_image(gen.png_bytes(300, 300, "flat"))
    assert info.sharpness == 0
    assert info.intrinsic_quality < 30


def test_combined_score_prefers_large_sharp_over_tiny_blurry() -> None:
    good = inspect_image(gen.jpeg_bytes(1000, 1500, seed=4), Use.POSTER)
    poor = inspect_image(gen.jpeg_bytes(100, 150, seed=4, blur=3), Use.POSTER)
    assert combined_score(50, good) > 50 > combined_score(50, poor)
    assert combined_score(50, good) - 50 <= images.MAX_BONUS
    assert 50 - combined_score(50, poor) <= images.MAX_PENALTY
    assert combined_score(100, good) == 100
    assert combined_score(98, good) == 100
    assert combined_score(3, poor) == 0


def _info(quality: int) -> ImageInfo:
    return ImageInfo("JPEG", "image/jpeg", 500, 750, 1, 1000, 100.0, quality, "0" * 16)


@pytest.mark.parametrize(
    ("quality", "delta"), [(0, -10), (25, -5), (50, 0), (70, 2), (75, 3), (100, 5)]
)
def test_combined_score_formula(quality: int, delta: int) -> None:
    assert combined_score(60, _info(quality)) == 60 + delta


def test_combined_score_never_swaps_sources_fifteen_points_apart() -> None:
    for high, low in [(100, 80), (80, 65), (65, 50), (60, 45), (45, 30)]:
        assert combined_score(high, _info(0)) >= combined_score(low, _info(100))
    # Closer neighbours swap only when one picture is poor and the other good.
    assert combined_score(70, _info(40)) > combined_score(60, _info(100))


# --- perceptual hash ------------------------------------------------------------------------------


def test_resized_and_recompressed_copy_is_the_same_picture() -> None:
    img = gen.picture(800, 1200, seed=5)
    original = inspect_image(gen.encode(img, "JPEG", quality=92))
    smaller = img.resize((300, 450), Image.Resampling.LANCZOS)
    copy = inspect_image(gen.encode(smaller, "JPEG", quality=55))
    as_webp = inspect_image(gen.encode(smaller, "WEBP", quality=60))
    assert phash_distance(original.phash, copy.phash) <= SAME_PICTURE_DISTANCE
    assert phash_distance(original.phash, as_webp.phash) <= SAME_PICTURE_DISTANCE
    assert images.same_picture(original.phash, copy.phash)


def test_different_pictures_are_not_the_same_picture() -> None:
    hashes = [inspect_image(gen.jpeg_bytes(400, 600, seed=s)).phash for s in range(10, 16)]
    for i, a in enumerate(hashes):
        for b in hashes[i + 1 :]:
            assert phash_distance(a, b) > SAME_PICTURE_DISTANCE


def test_phash_distance_counts_differing_bits() -> None:
    assert phash_distance("0" * 16, "0" * 16) == 0
    assert phash_distance("0" * 16, "f" * 16) == 64
    assert phash_distance("8000000000000001", "0000000000000000") == 2
    with pytest.raises(ValueError):
        phash_distance("00", "0000")
    with pytest.raises(ValueError):
        phash_distance("zz", "00")


# --- sniffing and variants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "image/png"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"II*\x00rest", "image/tiff"),
        (b"\x00\x00\x00\x1cftypavif", "image/avif"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        (b"BMW is a car maker and not a bitmap", None),
        (b"<!DOCTYPE html><html></html>", None),
        (b"", None),
    ],
)
def test_sniff_mime(data: bytes, mime: str | None) -> None:
    assert sniff_mime(data) == mime


def test_make_variants_returns_decodable_webp() -> None:
    variants = make_variants(gen.jpeg_bytes(240, 360), formats=("WEBP",))
    assert list(variants) == ["image/webp"]
    with Image.open(BytesIO(variants["image/webp"])) as img:
        img.load()
        assert (img.format, img.size) == ("WEBP", (240, 360))


def test_make_variants_keeps_transparency_and_applies_orientation() -> None:
    img = gen.picture(100, 50).convert("RGBA")
    img.putpixel((0, 0), (0, 0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 8
    webp = make_variants(gen.encode(img, "PNG", exif=exif.tobytes()), ("WEBP",))["image/webp"]
    with Image.open(BytesIO(webp)) as out:
        assert out.mode == "RGBA"
        assert out.size == (50, 100)


@pytest.mark.skipif(not features.check_module("avif"), reason="this Pillow has no AVIF encoder")
def test_make_variants_includes_avif_when_pillow_has_it() -> None:
    variants = make_variants(gen.jpeg_bytes(120, 120))
    assert set(variants) == {"image/webp", "image/avif"}
    with Image.open(BytesIO(variants["image/avif"])) as img:
        img.load()
        assert img.size == (120, 120)


def test_make_variants_skips_avif_when_pillow_lacks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = features.check_module
    monkeypatch.setattr(features, "check_module", lambda m: False if m == "avif" else real(m))
    assert list(make_variants(gen.jpeg_bytes(120, 120))) == ["image/webp"]


def test_make_variants_scales_16_bit_pictures_instead_of_clipping_them() -> None:
    grey16 = gen.picture(120, 120).convert("L").point(lambda v: v * 256, "I").convert("I;16")
    webp = make_variants(gen.encode(grey16, "PNG"), ("WEBP",))["image/webp"]
    with Image.open(BytesIO(webp)) as out:
        grey = np.asarray(out.convert("L"))
    assert int(grey.max()) - int(grey.min()) > 100  # clipping would have turned it all white


def test_make_variants_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="cannot make variants"):
        make_variants(gen.jpeg_bytes(64, 64), ("GIFF",))
    with pytest.raises(ImageRejected, match="truncated or corrupt"):
        make_variants(gen.truncated_jpeg())
    with pytest.raises(ImageRejected, match="decompression bomb"):
        make_variants(gen.bomb_png())


def test_inspect_image_gives_the_same_answers_in_threads() -> None:
    payloads = [gen.jpeg_bytes(300, 300, seed=s) for s in range(4)] * 4
    expected = [inspect_image(p) for p in payloads]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(inspect_image, payloads)) == expected
