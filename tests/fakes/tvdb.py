"""A TheTVDB v4 fake: login, search, series extended, characters, with the real API's messy
image fields. `forbid_search()` makes any search fail loudly (rows with ids must not search)."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.fakes.base import FakeService, UnexpectedRequest, json_response, parse_json_body
from tests.fakes.images import FakeImageHost, sharp_photo

VALID_API_KEY = "tvdb-key-5f2c9a1e-7d3b-4c8e-9a6f-2b1d0e4c8a7f"
ARTWORK_HOST = "artworks.thetvdb.com"
UNAUTHORIZED_BODY = {"status": "failure", "message": "Unauthorized", "data": None}


def make_token(serial: int, lifetime: float = 30 * 24 * 3600) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'exp': int(time.time() + lifetime), 'n': serial})}.sig"


def character(
    char_id: int,
    name: str,
    person: str,
    people_id: int,
    *,
    image: Any,
    person_img: Any,
    sort: int,
    kind: int = 3,
) -> dict[str, Any]:
    return {
        "id": char_id,
        "name": name,
        "peopleId": people_id,
        "seriesId": 0,
        "series": None,
        "movie": None,
        "movieId": None,
        "episodeId": None,
        "type": kind,
        "image": image,
        "sort": sort,
        "isFeatured": sort < 3,
        "url": f"https://thetvdb.com/people/{people_id}",
        "nameTranslations": None,
        "overviewTranslations": None,
        "aliases": None,
        "peopleType": "Actor",
        "personName": person,
        "tagOptions": None,
        "personImgURL": person_img,
    }


SERIES: dict[int, dict[str, Any]] = {
    81189: {
        "name": "Breaking Bad",
        "slug": "breaking-bad",
        "year": "2008",
        "aliases": [],
        "translations": {"eng": "Breaking Bad", "deu": "Breaking Bad"},
        "characters": [
            character(
                1,
                "Walter White",
                "Bryan Cranston",
                250827,
                image="/banners/v4/actor/250827/photo/6c9b7e.jpg",
                person_img="https://artworks.thetvdb.com/banners/v4/people/250827/photo/p.jpg",
                sort=1,
            ),
            character(
                2,
                "Jesse Pinkman",
                "Aaron Paul",
                250828,
                image="",
                person_img="/banners/person/250828/jesse.jpg",
                sort=2,
            ),
            character(
                3,
                "Skyler White",
                "Anna Gunn",
                250829,
                image="https://artworks.thetvdb.comhttps://artworks.thetvdb.com/banners/skyler.jpg",
                person_img=None,
                sort=3,
            ),
            character(
                4, "Hank Schrader", "Dean Norris", 250830, image=None, person_img=None, sort=4
            ),
            character(
                5,
                "Vince Gilligan",
                "Vince Gilligan",
                250831,
                image="/banners/crew.jpg",
                person_img=None,
                sort=0,
                kind=1,
            ),
        ],
    },
    79212: {
        "name": "聖闘士星矢",
        "slug": "saint-seiya",
        "year": "1986",
        "aliases": ["Saint Seiya", "Knights of the Zodiac"],
        "translations": {"jpn": "聖闘士星矢", "eng": "Saint Seiya"},
        "characters": [
            character(
                11,
                "Pegasus Seiya",
                "Toru Furuya",
                300001,
                image="https://artworks.thetvdb.com/banners/seiya.jpg",
                person_img=None,
                sort=1,
            ),
        ],
    },
    # Two series share a title; TVDB sets the younger apart with "(US)" in its name.
    78881: {
        "name": "House of Cards",
        "slug": "house-of-cards",
        "year": "1990",
        "aliases": ["House of Cards (UK)"],
        "translations": {"eng": "House of Cards"},
        "characters": [
            character(
                31,
                "Francis Urquhart",
                "Ian Richardson",
                310001,
                image="/banners/v4/character/31/urquhart.jpg",
                person_img=None,
                sort=1,
            ),
        ],
    },
    262980: {
        "name": "House of Cards (US)",
        "slug": "house-of-cards-us",
        "year": "2013",
        "aliases": [],
        "translations": {"eng": "House of Cards (US)", "deu": "House of Cards"},
        "characters": [
            character(
                41,
                "Frank Underwood",
                "Kevin Spacey",
                310002,
                image="/banners/v4/character/41/underwood.jpg",
                person_img=None,
                sort=1,
            ),
        ],
    },
    # The name in Japanese, the English title only in the translations.
    104021: {
        "name": "聖闘士星矢 THE LOST CANVAS 冥王神話",
        "slug": "saint-seiya-the-lost-canvas",
        "year": "2009",
        "aliases": [],
        "translations": {
            "jpn": "聖闘士星矢 THE LOST CANVAS 冥王神話",
            "eng": "Saint Seiya: The Lost Canvas",
        },
        "characters": [
            character(
                51,
                "Pegasus Tenma",
                "Kaori Mizuhashi",
                310003,
                image="https://artworks.thetvdb.com/banners/tenma.jpg",
                person_img=None,
                sort=1,
            ),
        ],
    },
}


class FakeTvdb(FakeService):
    name = "TVDB"

    def __init__(
        self, *, api_key: str = VALID_API_KEY, series: dict[int, dict[str, Any]] | None = None
    ) -> None:
        """`series` replaces the built-in series (same shape: name, slug, year, aliases,
        translations, characters)."""
        super().__init__()
        self.api_key = api_key
        self.series = SERIES if series is None else series
        self.tokens: set[str] = set()
        self._serial = 0
        self.route("POST", r"/v4/login", self._login)
        self.route("GET", r"/v4/search", self._search)
        self.route("GET", r"/v4/series/(?P<id>\d+)/extended", self._extended)
        self.route("GET", r"/v4/characters/(?P<id>[^/]+)", self._character)
        self.search_forbidden = False

    def forbid_search(self) -> None:
        """From now on a search request is a test failure (rows with ids must not search)."""
        self.search_forbidden = True

    def expire_tokens(self) -> None:
        """Forget every issued token, as the real service does when one goes stale."""
        self.tokens.clear()

    def _login(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        body = parse_json_body(request)
        if not isinstance(body, dict) or body.get("apikey") != self.api_key:
            return json_response(
                401, {"status": "failure", "message": "InvalidAPIKey", "data": None}
            )
        self._serial += 1
        token = make_token(self._serial)
        self.tokens.add(token)
        return json_response(200, {"status": "success", "data": {"token": token}})

    def _guard(self, request: httpx.Request) -> httpx.Response | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header.removeprefix("Bearer ") not in self.tokens:
            return json_response(401, UNAUTHORIZED_BODY)
        return None

    def _search(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if self.search_forbidden:
            raise UnexpectedRequest(f"TVDB fake got a search it forbids: {request.url}")
        if (denied := self._guard(request)) is not None:
            return denied
        query = request.url.params.get("query", "").lower()
        year = request.url.params.get("year")
        data = []
        for series_id, series in self.series.items():
            names = [
                series["name"],
                *series["aliases"],
                *series["translations"].values(),
                series["slug"],
            ]
            if not any(query in n.lower().replace("-", " ") for n in names):
                continue
            if year and series["year"] != year:
                continue
            data.append(
                {
                    "objectID": f"series-{series_id}",
                    "id": f"series-{series_id}",
                    "tvdb_id": str(series_id),
                    "name": series["name"],
                    "slug": series["slug"],
                    "year": series["year"],
                    "type": "series",
                    "aliases": series["aliases"],
                    "translations": series["translations"],
                    "image_url": f"https://artworks.thetvdb.com/banners/posters/{series_id}-1.jpg",
                    "primary_language": "eng",
                    "remote_ids": [{"id": "1396", "type": 12, "sourceName": "TheMovieDB.com"}],
                }
            )
        return json_response(200, {"status": "success", "data": data, "links": {"next": None}})

    def _extended(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        series = self.series.get(int(match["id"]))
        if series is None:
            return json_response(
                404, {"status": "failure", "message": "NotFoundException", "data": None}
            )
        series_id = int(match["id"])
        aliases = [{"language": "eng", "name": a} for a in series["aliases"]]
        data = {
            "id": series_id,
            "name": series["name"],
            "slug": series["slug"],
            "year": series["year"],
            "firstAired": f"{series['year']}-01-20",
            "nameTranslations": list(series["translations"]),
            "aliases": aliases,
            "originalLanguage": next(iter(series["translations"]), "eng"),
            "characters": [{**c, "seriesId": series_id} for c in series["characters"]],
            "image": f"https://artworks.thetvdb.com/banners/posters/{match['id']}-1.jpg",
        }
        if request.url.params.get("meta") == "translations":
            data["translations"] = {
                "nameTranslations": [
                    {"name": name, "language": language}
                    for language, name in series["translations"].items()
                ],
                "overviewTranslations": [],
                "aliases": aliases,
            }
        return json_response(200, {"status": "success", "data": data})

    def _character(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        """`/characters/{id}`: the character with its series' name (in the original language),
        image and year, as TVDB answers it; a non-numeric id gets the real 400."""
        if (denied := self._guard(request)) is not None:
            return denied
        if not match["id"].isdigit():
            return json_response(
                400,
                {
                    "status": "failure",
                    "message": "InvalidValueType: cannot make item path",
                    "data": None,
                },
            )
        for series_id, series in self.series.items():
            for item in series["characters"]:
                if item["id"] == int(match["id"]):
                    poster = f"https://artworks.thetvdb.com/banners/posters/{series_id}-1.jpg"
                    data = {
                        **item,
                        "seriesId": series_id,
                        "series": {"name": series["name"], "image": poster, "year": series["year"]},
                    }
                    return json_response(200, {"status": "success", "data": data})
        return json_response(
            404, {"status": "failure", "message": "NotFoundException", "data": None}
        )


def artwork_path(value: Any) -> str | None:
    """The path on the artwork host of a TVDB image field as the fake lists it (relative paths,
    absolute URLs and the doubled prefix alike), or None for an empty field."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value[value.rfind("https://") :] if "https://" in value else value
    return urlsplit(value).path.lstrip("/")


def artwork_host(series: dict[int, dict[str, Any]] = SERIES) -> FakeImageHost:
    """artworks.thetvdb.com serving a real picture for every character artwork and person photo
    `series` lists (a different picture each); any other path is a 404 HTML page."""
    host = FakeImageHost(ARTWORK_HOST)
    seed = 10
    for record in series.values():
        for item in record["characters"]:
            for field in ("image", "personImgURL"):
                path = artwork_path(item.get(field))
                if path and path not in host.files:
                    seed += 1
                    host.add(path, sharp_photo(300, 450, seed=seed))
    return host
