from __future__ import annotations

import pytest

from coverctl.urls import normalize_tvdb_image, qualify_image_url

ART = "https://artworks.thetvdb.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/banners/a.jpg", f"{ART}/banners/a.jpg"),
        ("banners/a.jpg", f"{ART}/banners/a.jpg"),
        (f"{ART}/banners/a.jpg", f"{ART}/banners/a.jpg"),
        (f"{ART}{ART}/banners/a.jpg", f"{ART}/banners/a.jpg"),
        (f"{ART}/{ART}/banners/a.jpg", f"{ART}/banners/a.jpg"),
        ("http://artworks.thetvdb.com/banners/a.jpg", f"{ART}/banners/a.jpg"),
        ("//artworks.thetvdb.com/banners/a.jpg", f"{ART}/banners/a.jpg"),
        ("  /banners/a.jpg  ", f"{ART}/banners/a.jpg"),
        ("", None),
        ("   ", None),
        (None, None),
        ("null", None),
        (42, None),
        (f"{ART}/", None),
    ],
)
def test_tvdb_image_values_are_normalised(value: object, expected: str | None) -> None:
    assert normalize_tvdb_image(value, ART) == expected


@pytest.mark.parametrize(
    ("path", "backend", "expected"),
    [
        ("/abc.jpg", None, "https://image.tmdb.org/t/p/w500/abc.jpg"),
        (
            "/image/anonymous_1.jpg",
            "https://b.example",
            "https://b.example/api/image-no-auth/anonymous_1.jpg",
        ),
        (
            "/api/image-no-auth/x.jpg",
            "https://b.example",
            "https://b.example/api/image-no-auth/x.jpg",
        ),
        (
            "http://localhost:8000/image/x.jpg",
            "https://b.example",
            "https://b.example/api/image-no-auth/x.jpg",
        ),
        (
            "http://127.0.0.1:8080/api/image-no-auth/x.jpg",
            "https://b.example",
            "https://b.example/api/image-no-auth/x.jpg",
        ),
        (f"{ART}/banners/a.jpg", "https://b.example", f"{ART}/banners/a.jpg"),
        (
            "anonymous_9.jpg",
            "https://b.example",
            "https://b.example/api/image-no-auth/anonymous_9.jpg",
        ),
        ("anonymous_9.jpg", None, "/api/image-no-auth/anonymous_9.jpg"),
        ("", "https://b.example", None),
        (None, None, None),
    ],
)
def test_image_urls_are_qualified_in_design_order(
    path: str | None, backend: str | None, expected: str | None
) -> None:
    assert (
        qualify_image_url(
            path, backend_url=backend, tmdb_image_base_url="https://image.tmdb.org/t/p"
        )
        == expected
    )
