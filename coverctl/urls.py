"""Turning the many shapes of stored and provider image paths into fully qualified URLs.

Follows the old backend's qualification order (design notes, "URL Qualification Priority"):
local database images first (localhost origins and `/image/` paths go through BACKEND_URL's
`/api/image-no-auth/`), TVDB artwork passes through, bare `/...` paths are TMDB paths.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from coverctl.constants import IMAGE_NO_AUTH_PATH


def is_remote(url: str) -> bool:
    """An http(s) URL (a picture to download), not a file path or a data: URI."""
    return url.startswith(("http://", "https://"))


_LOCALHOST_RE = re.compile(r"^https?://(localhost|127\.0\.0\.1|0\.0\.0\.0)(:\d+)?", re.I)
_TVDB_HOST_RE = re.compile(r"(^|\.)thetvdb\.com$", re.I)


def qualify_image_url(
    path: str | None,
    *,
    backend_url: str | None,
    tmdb_image_base_url: str,
    tmdb_size: str = "w500",
) -> str | None:
    """A fully qualified URL for `path`, or None when there is nothing usable."""
    if path is None or not path.strip():
        return None
    path = path.strip()
    if path.startswith(("http://", "https://")):
        match = _LOCALHOST_RE.match(path)
        if match and backend_url:
            rest = path[match.end() :]
            return backend_url + _local_path(rest)
        return path
    if path.startswith("/image/") or path.startswith(IMAGE_NO_AUTH_PATH):
        return _on_backend(_local_path(path), backend_url)
    if path.startswith("/"):
        return f"{tmdb_image_base_url}/{tmdb_size}{path}"
    # A bare file name: an image the backend serves (e.g. anonymous_<uuid>.jpg).
    return _on_backend(IMAGE_NO_AUTH_PATH + path, backend_url)


def _local_path(path: str) -> str:
    if path.startswith("/image/"):
        return IMAGE_NO_AUTH_PATH + path.removeprefix("/image/")
    return path


def _on_backend(path: str, backend_url: str | None) -> str:
    return f"{backend_url}{path}" if backend_url else path


def normalize_tvdb_image(value: object, artwork_base: str) -> str | None:
    """A clean absolute TVDB artwork URL from the messy values the API returns, or None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or value.lower() in {"null", "none"}:
        return None
    # A doubled prefix ("https://artworks.thetvdb.comhttps://artworks...", or with a slash).
    last = max(value.rfind("https://"), value.rfind("http://"))
    if last > 0:
        value = value[last:]
    if value.startswith("//"):
        value = "https:" + value
    if not value.startswith(("http://", "https://")):
        value = f"{artwork_base}/{value.lstrip('/')}"
    parts = urlsplit(value)
    if not parts.netloc or not parts.path or parts.path == "/":
        return None
    if parts.scheme == "http" and _TVDB_HOST_RE.search(parts.hostname or ""):
        value = "https://" + value.removeprefix("http://")
    return value
