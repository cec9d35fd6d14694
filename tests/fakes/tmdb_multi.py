"""TMDB's /search/multi on top of the TMDB fake: films and series in one list, each with its
`media_type`, ranked by popularity, plus a person (the real reply mixes people in)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.fakes.base import json_response
from tests.fakes.tmdb import FakeTmdb

# Works only the identify tests need: same-title works for the ambiguity rules.
EXTRA_MOVIES: dict[int, dict[str, Any]] = {
    120: {
        "title": "The Lord of the Rings: The Fellowship of the Ring",
        "original_title": "The Lord of the Rings: The Fellowship of the Ring",
        "release_date": "2001-12-18",
        "popularity": 174.7,
        "vote_count": 24832,
        "cast": [],
    },
    8587: {
        "title": "The Lion King",
        "original_title": "The Lion King",
        "release_date": "1994-06-24",
        "popularity": 95.0,
        "vote_count": 18100,
        "cast": [],
    },
    420818: {
        "title": "The Lion King",
        "original_title": "The Lion King",
        "release_date": "2019-07-12",
        "popularity": 90.0,
        "vote_count": 10200,
        "cast": [],
    },
    987654: {
        "title": "The Dark Knight",
        "original_title": "The Dark Knight",
        "release_date": "2011-03-02",
        "popularity": 0.6,
        "vote_count": 3,
        "cast": [],
    },
}
PERSON = {
    "adult": False,
    "id": 3894,
    "name": "Christian Bale",
    "original_name": "Christian Bale",
    "media_type": "person",
    "popularity": 50.0,
    "gender": 2,
    "known_for_department": "Acting",
    "profile_path": "/qCpZn2e3dimwbryLnqxZuI88PTi.jpg",
    "known_for": [],
}


class FakeTmdbMulti(FakeTmdb):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.movies.update({k: dict(v) for k, v in EXTRA_MOVIES.items()})
        self.route("GET", r"/3/search/multi", self._search_multi)

    def multi_searches(self) -> list[str]:
        return [r.url.params["query"] for r in self.requests if r.url.path == "/3/search/multi"]

    def _search_multi(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        words = re.sub(r"[^\w ]", " ", request.url.params.get("query", "").lower()).split()
        results: list[dict[str, Any]] = []
        for kind, items, title_field in (
            ("movie", self.movies, "title"),
            ("tv", self.tv, "name"),
        ):
            for item_id, item in items.items():
                haystack = re.sub(r"[^\w ]", " ", item[title_field].lower()).split()
                if not words or not all(w in haystack for w in words):
                    continue
                result = {k: v for k, v in item.items() if k != "cast"}
                result.update(
                    {
                        "id": item_id,
                        "media_type": kind,
                        "adult": False,
                        "backdrop_path": None,
                        "genre_ids": [18],
                        "original_language": "en",
                        "overview": "",
                        "poster_path": f"/poster{item_id}.jpg",
                        "vote_average": 7.5,
                        "vote_count": item.get("vote_count", 1000),
                    }
                )
                results.append(result)
        if any(w in ("dark", "knight") for w in words):
            results.append(dict(PERSON))
        results.sort(key=lambda r: -r["popularity"])
        return json_response(
            200, {"page": 1, "results": results, "total_pages": 1, "total_results": len(results)}
        )
