"""A TMDB v3 fake with the real reply shapes (api-reference.md), including its error bodies.

`forbid_search()` makes any search request fail loudly: a row resolved by ids must not search.

Like the real search, `/search/movie` and `/search/tv` also find a work through its original and
alternative titles (a US title finds the film TMDB lists under its UK one), and through a
spelling without punctuation ("MASH" finds "M*A*S*H"). Details answer the sections named in
`append_to_response`: `credits` / `aggregate_credits` and `alternative_titles` (movie:
`{"titles": [...]}`, TV: `{"results": [...]}`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import httpx

from tests.fakes.base import FakeService, UnexpectedRequest, json_response

VALID_KEY = "0123456789abcdef0123456789abcdef"
VALID_READ_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJ0ZXN0In0.c2lnbmF0dXJlLXRlc3Q"

INVALID_KEY_BODY = {
    "status_code": 7,
    "status_message": "Invalid API key: You must be granted a valid key.",
    "success": False,
}
NOT_FOUND_BODY = {
    "status_code": 34,
    "status_message": "The resource you requested could not be found.",
    "success": False,
}
RATE_LIMIT_BODY = {
    "status_code": 25,
    "status_message": "Your request count (41) is over the allowed limit of 40.",
    "success": False,
}


def alternative(country: str, title: str, kind: str = "") -> dict[str, str]:
    """One entry of TMDB's `alternative_titles`."""
    return {"iso_3166_1": country, "title": title, "type": kind}


def tv_member(
    person_id: int, name: str, character: str, order: int, profile: str | None
) -> dict[str, Any]:
    """One `aggregate_credits` cast entry: the roles of every season."""
    return {
        "adult": False,
        "gender": 2,
        "id": person_id,
        "known_for_department": "Acting",
        "name": name,
        "original_name": name,
        "popularity": 12.0,
        "profile_path": profile,
        "roles": [
            {"credit_id": f"5257{person_id:08x}", "character": character, "episode_count": 20}
        ],
        "total_episode_count": 20,
        "order": order,
    }


def cast_member(
    person_id: int, name: str, character: str, order: int, profile: str | None, **extra: Any
) -> dict[str, Any]:
    return {
        "adult": False,
        "gender": 2,
        "id": person_id,
        "known_for_department": "Acting",
        "name": name,
        "original_name": name,
        "popularity": 20.5,
        "profile_path": profile,
        "cast_id": 100 + order,
        "character": character,
        # TMDB credit ids are 24 hexadecimal digits ("52fe4250c3a36847f80149f3").
        "credit_id": f"52fe42{person_id:08x}c3a36847f8",
        "order": order,
        **extra,
    }


MOVIES: dict[int, dict[str, Any]] = {
    155: {
        "title": "The Dark Knight",
        "original_title": "The Dark Knight",
        "release_date": "2008-07-16",
        "popularity": 120.1,
        "cast": [
            cast_member(
                3894,
                "Christian Bale",
                "Bruce Wayne / Batman",
                0,
                "/qCpZn2e3dimwbryLnqxZuI88PTi.jpg",
            ),
            cast_member(1810, "Heath Ledger", "Joker", 1, "/5Y9HnYYa9jF4NunY9lSgJGjSe8E.jpg"),
            cast_member(
                6383,
                "Aaron Eckhart",
                "Harvey Dent / Two-Face",
                2,
                "/u5JjnRMr9zKEVvOP7k3F6gdcwT6.jpg",
            ),
            cast_member(
                3895, "Michael Caine", "Alfred Pennyworth", 3, "/bVZRMlpjTAO2pJK6v90buFgVbSW.jpg"
            ),
            cast_member(
                64, "Gary Oldman", "Lt. James Gordon", 5, "/2v9FVVBUrrkW2m3QOcYkuhq9A6o.jpg"
            ),
            cast_member(57755, "Michael Jai White", "Gambol", 14, None),
            cast_member(
                999001, "Uncredited Extra", "Bruce Wayne Fan (uncredited)", 90, "/extra.jpg"
            ),
        ],
    },
    285: {
        "title": "Pirates of the Caribbean: The Curse of the Black Pearl",
        "original_title": "Pirates of the Caribbean: The Curse of the Black Pearl",
        "release_date": "2003-07-09",
        "popularity": 90.0,
        "cast": [
            cast_member(
                85, "Johnny Depp", "Captain Jack Sparrow", 0, "/wcQnh1DNtgTaP8V0gyFXbqkVT8P.jpg"
            ),
            cast_member(114, "Orlando Bloom", "Will Turner", 1, "/dBzI3DC5HUxCsZQdFU3RHKRjxbB.jpg"),
        ],
    },
    862: {
        "title": "Toy Story",
        "original_title": "Toy Story",
        "release_date": "1995-11-22",
        "popularity": 80.0,
        "cast": [
            cast_member(31, "Tom Hanks", "Woody (voice)", 0, "/xndWFsBlClOJFRdhSt4NBwiPq2o.jpg"),
            cast_member(
                12898, "Tim Allen", "Buzz Lightyear (voice)", 1, "/6qlDjidQSKNcJFHhTSMTGvr8Okc.jpg"
            ),
        ],
    },
    438631: {
        "title": "Dune",
        "original_title": "Dune",
        "release_date": "2021-09-15",
        "popularity": 300.0,
        "cast": [
            cast_member(
                1190668, "Timothée Chalamet", "Paul Atreides", 0, "/BE2sdjpgsa2rNTFa66f7upkaOP.jpg"
            ),
        ],
    },
    841: {
        "title": "Dune",
        "original_title": "Dune",
        "release_date": "1984-12-14",
        "popularity": 40.0,
        "cast": [
            cast_member(
                6677, "Kyle MacLachlan", "Paul Atreides", 0, "/7DnGHAqrOhbwJsRkHe8ZeJ6nVmd.jpg"
            ),
        ],
    },
    272: {
        "title": "Batman Begins",
        "original_title": "Batman Begins",
        "release_date": "2005-06-10",
        "popularity": 70.0,
        "cast": [
            cast_member(1234567, "Gus Lewis", "Young Bruce Wayne", 0, "/young.jpg"),
            cast_member(
                3894,
                "Christian Bale",
                "Bruce Wayne / Batman",
                1,
                "/qCpZn2e3dimwbryLnqxZuI88PTi.jpg",
            ),
            cast_member(3896, "Liam Neeson", "Henri Ducard", 2, "/neeson.jpg"),
        ],
    },
    671: {
        "title": "Harry Potter and the Philosopher's Stone",
        "original_title": "Harry Potter and the Philosopher's Stone",
        "release_date": "2001-11-16",
        "popularity": 150.0,
        "alternative_titles": [
            alternative("US", "Harry Potter and the Sorcerer's Stone"),
            alternative("DE", "Harry Potter und der Stein der Weisen"),
            alternative("US", "Harry Potter 1", "sortable short title"),
        ],
        "cast": [
            cast_member(10980, "Daniel Radcliffe", "Harry Potter", 0, "/radcliffe.jpg"),
            cast_member(10989, "Rupert Grint", "Ron Weasley", 1, "/grint.jpg"),
            cast_member(10990, "Emma Watson", "Hermione Granger", 2, "/watson.jpg"),
            cast_member(194, "Richard Harris", "Albus Dumbledore", 4, "/harris.jpg"),
        ],
    },
    # Dumbledore recast: Michael Gambon from the third film on.
    673: {
        "title": "Harry Potter and the Prisoner of Azkaban",
        "original_title": "Harry Potter and the Prisoner of Azkaban",
        "release_date": "2004-05-31",
        "popularity": 120.0,
        "cast": [
            cast_member(10980, "Daniel Radcliffe", "Harry Potter", 0, "/radcliffe.jpg"),
            cast_member(10990, "Emma Watson", "Hermione Granger", 2, "/watson.jpg"),
            cast_member(5658, "Michael Gambon", "Albus Dumbledore", 5, "/gambon.jpg"),
        ],
    },
    268: {
        "title": "Batman",
        "original_title": "Batman",
        "release_date": "1989-06-21",
        "popularity": 60.0,
        "cast": [
            cast_member(2232, "Michael Keaton", "Batman / Bruce Wayne", 0, "/keaton.jpg"),
            cast_member(514, "Jack Nicholson", "Joker / Jack Napier", 1, "/nicholson.jpg"),
        ],
    },
    122: {
        "title": "The Lord of the Rings: The Return of the King",
        "original_title": "The Lord of the Rings: The Return of the King",
        "release_date": "2003-12-01",
        "popularity": 110.0,
        "alternative_titles": [alternative("US", "LOTR3 - The Return of the King")],
        "cast": [
            cast_member(109, "Elijah Wood", "Frodo", 0, "/wood.jpg"),
            cast_member(110, "Viggo Mortensen", "Aragorn", 2, "/mortensen.jpg"),
            cast_member(1327, "Ian McKellen", "Gandalf", 1, "/mckellen.jpg"),
        ],
    },
    31180: {
        "title": "The Return of the King: A Filmmakers' Journey",
        "original_title": "The Return of the King: A Filmmakers' Journey",
        "release_date": "2003-11-25",
        "popularity": 3.2,
        "cast": [
            cast_member(109, "Elijah Wood", "Himself", 0, "/wood.jpg"),
            cast_member(108, "Peter Jackson", "Himself", 1, "/jackson.jpg"),
        ],
    },
    58: {
        "title": "Pirates of the Caribbean: Dead Man's Chest",
        "original_title": "Pirates of the Caribbean: Dead Man's Chest",
        "release_date": "2006-06-20",
        "popularity": 85.0,
        "cast": [
            cast_member(85, "Johnny Depp", "Captain Jack Sparrow", 0, "/depp.jpg"),
            cast_member(114, "Orlando Bloom", "Will Turner", 1, "/bloom.jpg"),
            cast_member(2440, "Bill Nighy", "Davy Jones", 3, "/nighy.jpg"),
        ],
    },
    1865: {
        "title": "Pirates of the Caribbean: On Stranger Tides",
        "original_title": "Pirates of the Caribbean: On Stranger Tides",
        "release_date": "2011-05-15",
        "popularity": 80.0,
        "cast": [
            cast_member(85, "Johnny Depp", "Captain Jack Sparrow", 0, "/depp.jpg"),
            cast_member(955, "Penélope Cruz", "Angelica", 1, "/cruz.jpg"),
        ],
    },
}

TV: dict[int, dict[str, Any]] = {
    1396: {
        "name": "Breaking Bad",
        "original_name": "Breaking Bad",
        "first_air_date": "2008-01-20",
        "popularity": 200.0,
        "cast": [
            {
                "adult": False,
                "gender": 2,
                "id": 17419,
                "known_for_department": "Acting",
                "name": "Bryan Cranston",
                "original_name": "Bryan Cranston",
                "popularity": 40.2,
                "profile_path": "/7Jahy5LZX2Fo8fGJltMreAI49hC.jpg",
                "roles": [
                    {
                        "credit_id": "52542282760ee313280017f9",
                        "character": "Walter White",
                        "episode_count": 62,
                    }
                ],
                "total_episode_count": 62,
                "order": 0,
            },
            {
                "adult": False,
                "gender": 2,
                "id": 84497,
                "known_for_department": "Acting",
                "name": "Aaron Paul",
                "original_name": "Aaron Paul",
                "popularity": 30.0,
                "profile_path": None,
                "roles": [
                    {
                        "credit_id": "52542287760ee31328001af1",
                        "character": "Jesse Pinkman",
                        "episode_count": 62,
                    }
                ],
                "total_episode_count": 62,
                "order": 1,
            },
        ],
    },
    1425: {
        "name": "House of Cards",
        "original_name": "House of Cards",
        "first_air_date": "2013-02-01",
        "popularity": 95.0,
        "alternative_titles": [alternative("US", "House of Cards (US)")],
        "cast": [
            tv_member(1979, "Kevin Spacey", "Francis 'Frank' Underwood", 0, "/spacey.jpg"),
            tv_member(3293, "Robin Wright", "Claire Underwood", 1, "/wright.jpg"),
        ],
    },
    8592: {
        "name": "House of Cards",
        "original_name": "House of Cards",
        "first_air_date": "1990-11-18",
        "popularity": 20.0,
        "alternative_titles": [alternative("GB", "House of Cards (UK)")],
        "cast": [
            tv_member(39188, "Ian Richardson", "Francis Urquhart", 0, "/richardson.jpg"),
            tv_member(39189, "Susannah Harker", "Mattie Storin", 1, "/harker.jpg"),
        ],
    },
    918: {
        "name": "M*A*S*H",
        "original_name": "M*A*S*H",
        "first_air_date": "1972-09-17",
        "popularity": 60.0,
        "cast": [
            tv_member(21278, "Alan Alda", "Hawkeye Pierce", 0, "/alda.jpg"),
            tv_member(21279, "Loretta Swit", "Margaret Houlihan", 1, "/swit.jpg"),
        ],
    },
}

# Fields of a fake item that are not part of a search result: the cast, and the sections a
# details request only gets when it asks for them (or, for the collection, from details only).
_DETAIL_ONLY = frozenset({"cast", "alternative_titles", "belongs_to_collection"})


def _search_words(text: str) -> list[str]:
    """Words as TMDB's search compares them: case, accents and punctuation ignored."""
    text = unicodedata.normalize("NFKD", text.lower().replace("'", "").replace("’", ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[^\w ]", " ", text).split()


def _searchable_titles(item: dict[str, Any], title_field: str) -> list[str]:
    """The titles TMDB's search looks at: the title, the original title and the alternative
    titles (`[{"iso_3166_1", "title", "type"}]`, when the item has them)."""
    original = "original_title" if title_field == "title" else "original_name"
    titles = [item[title_field], item.get(original) or ""]
    titles += [alt["title"] for alt in item.get("alternative_titles") or []]
    return [t for t in titles if t]


class FakeTmdb(FakeService):
    name = "TMDB"

    def __init__(
        self,
        *,
        key: str = VALID_KEY,
        read_token: str = VALID_READ_TOKEN,
        movies: dict[int, dict[str, Any]] | None = None,
        tv: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        """`movies` and `tv` replace the built-in titles (same item shape; an item may also
        carry `alternative_titles` and `belongs_to_collection`, served as TMDB serves them)."""
        super().__init__()
        self.key = key
        self.read_token = read_token
        self.movies = {k: dict(v) for k, v in (MOVIES if movies is None else movies).items()}
        self.tv = {k: dict(v) for k, v in (TV if tv is None else tv).items()}
        self.route("GET", r"/3/search/movie", self._search_movie)
        self.route("GET", r"/3/search/tv", self._search_tv)
        self.route("GET", r"/3/movie/(?P<id>\d+)", self._movie)
        self.route("GET", r"/3/movie/(?P<id>\d+)/alternative_titles", self._movie_titles)
        self.route("GET", r"/3/tv/(?P<id>\d+)/alternative_titles", self._tv_titles)
        self.route("GET", r"/3/tv/(?P<id>\d+)/aggregate_credits", self._tv_credits)
        self.route("GET", r"/3/tv/(?P<id>\d+)", self._tv)
        self.route("GET", r"/3/tv/(?P<id>\d+)/aggregate_credits", self._tv_credits)
        self.route("GET", r"/3/credit/(?P<id>[^/]+)", self._credit)
        self.route("GET", r"/3/configuration", self._configuration)
        self.route("GET", r"/3/person/(?P<id>\d+)/images", self._person_images)
        # Extra profile photos per person id, after the one their credits show (file paths).
        self.extra_profiles: dict[int, list[str]] = {}
        self.search_forbidden = False

    def forbid_search(self) -> None:
        """From now on a search request is a test failure (rows with ids must not search)."""
        self.search_forbidden = True

    # Auth is checked on every route, like the real API.
    def handle(self, request: httpx.Request) -> httpx.Response:
        response = super().handle(request)
        return response

    def _authorised(self, request: httpx.Request) -> bool:
        key = request.url.params.get("api_key")
        bearer = request.headers.get("authorization", "")
        return key == self.key or bearer == f"Bearer {self.read_token}"

    def _guard(self, request: httpx.Request) -> httpx.Response | None:
        if not self._authorised(request):
            return json_response(401, INVALID_KEY_BODY)
        return None

    def _search(
        self, request: httpx.Request, items: dict[int, dict[str, Any]], kind: str
    ) -> httpx.Response:
        if self.search_forbidden:
            raise UnexpectedRequest(f"TMDB fake got a search it forbids: {request.url}")
        if (denied := self._guard(request)) is not None:
            return denied
        query = request.url.params.get("query", "")
        year_param = "year" if kind == "movie" else "first_air_date_year"
        year = request.url.params.get(year_param)
        date_field = "release_date" if kind == "movie" else "first_air_date"
        title_field = "title" if kind == "movie" else "name"
        words = _search_words(query)
        results = []
        for item_id, item in items.items():
            # Every query word in one of its titles, or the query equal to a title once spaces
            # and punctuation are ignored ("MASH" finds "M*A*S*H"), as TMDB's search does.
            titles = [_search_words(t) for t in _searchable_titles(item, title_field)]
            if not words or not any(
                all(w in title for w in words) or "".join(words) == "".join(title)
                for title in titles
            ):
                continue
            if year and not item[date_field].startswith(year):
                continue
            result = {k: v for k, v in item.items() if k not in _DETAIL_ONLY}
            result.update(
                {
                    "id": item_id,
                    "adult": False,
                    "backdrop_path": None,
                    "genre_ids": [18],
                    "original_language": "en",
                    "overview": "",
                    "poster_path": f"/poster{item_id}.jpg",
                    "vote_average": 8.0,
                    "vote_count": 1000,
                }
            )
            results.append(result)
        results.sort(key=lambda r: -r["popularity"])
        return json_response(
            200,
            {"page": 1, "results": results, "total_pages": 1, "total_results": len(results)},
        )

    def _search_movie(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return self._search(request, self.movies, "movie")

    def _search_tv(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return self._search(request, self.tv, "tv")

    def _movie(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        movie = self.movies.get(int(match["id"]))
        if movie is None:
            return json_response(404, NOT_FOUND_BODY)
        body = {k: v for k, v in movie.items() if k not in _DETAIL_ONLY}
        body["id"] = int(match["id"])
        if "belongs_to_collection" in movie:
            body["belongs_to_collection"] = movie["belongs_to_collection"]
        appended = request.url.params.get("append_to_response", "").split(",")
        if "credits" in appended:
            body["credits"] = {"cast": movie["cast"], "crew": []}
        if "alternative_titles" in appended:
            body["alternative_titles"] = {"titles": movie.get("alternative_titles") or []}
        return json_response(200, body)

    def _movie_titles(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        movie = self.movies.get(int(match["id"]))
        if movie is None:
            return json_response(404, NOT_FOUND_BODY)
        titles = movie.get("alternative_titles") or []
        return json_response(200, {"id": int(match["id"]), "titles": titles})

    def _tv_titles(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        show = self.tv.get(int(match["id"]))
        if show is None:
            return json_response(404, NOT_FOUND_BODY)
        titles = show.get("alternative_titles") or []
        return json_response(200, {"id": int(match["id"]), "results": titles})

    def _tv_credits(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        show = self.tv.get(int(match["id"]))
        if show is None:
            return json_response(404, NOT_FOUND_BODY)
        return json_response(200, {"cast": show["cast"], "crew": [], "id": int(match["id"])})

    def _tv(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        """`/tv/{id}`: the details, with `aggregate_credits` and `alternative_titles` appended
        when asked."""
        if (denied := self._guard(request)) is not None:
            return denied
        show = self.tv.get(int(match["id"]))
        if show is None:
            return json_response(404, NOT_FOUND_BODY)
        body = {k: v for k, v in show.items() if k not in _DETAIL_ONLY}
        body.update({"id": int(match["id"]), "number_of_seasons": 5, "seasons": []})
        appended = request.url.params.get("append_to_response", "").split(",")
        if "aggregate_credits" in appended:
            body["aggregate_credits"] = {"cast": show["cast"], "crew": []}
        if "alternative_titles" in appended:
            # TV alternative titles come under "results", not "titles" as for movies.
            body["alternative_titles"] = {"results": show.get("alternative_titles") or []}
        return json_response(200, body)

    def _credit(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        """`/credit/{credit_id}`: the credit with its work (`media`) and its person, as TMDB
        answers it; a credit id it does not know gets TMDB's 404 body."""
        if (denied := self._guard(request)) is not None:
            return denied
        wanted = match["id"]
        for kind, items in (("movie", self.movies), ("tv", self.tv)):
            for work_id, work in items.items():
                for member in work["cast"]:
                    roles = member.get("roles") or [member]
                    for role in roles:
                        if role.get("credit_id") == wanted:
                            return json_response(
                                200, _credit_body(kind, work_id, work, member, role)
                            )
        return json_response(404, NOT_FOUND_BODY)

    def _person_images(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        """`/person/{id}/images`: the credited profile photo, then `extra_profiles`."""
        if (denied := self._guard(request)) is not None:
            return denied
        person_id = int(match["id"])
        credited = [
            member["profile_path"]
            for item in [*self.movies.values(), *self.tv.values()]
            for member in item["cast"]
            if member["id"] == person_id and member["profile_path"]
        ]
        paths = list(dict.fromkeys([*credited[:1], *self.extra_profiles.get(person_id, [])]))
        if not credited and person_id not in self.extra_profiles:
            return json_response(404, NOT_FOUND_BODY)
        profiles = [
            {
                "aspect_ratio": 0.667,
                "height": 1500 + 30 * n,
                "iso_639_1": None,
                "file_path": path,
                "vote_average": round(5.5 - 0.3 * n, 3),
                "vote_count": 12 - n,
                "width": 1000 + 20 * n,
            }
            for n, path in enumerate(paths)
        ]
        return json_response(200, {"id": person_id, "profiles": profiles})

    def _configuration(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._guard(request)) is not None:
            return denied
        return json_response(
            200,
            {
                "images": {
                    "base_url": "http://image.tmdb.org/t/p/",
                    "secure_base_url": "https://image.tmdb.org/t/p/",
                    "profile_sizes": ["w45", "w185", "h632", "original"],
                }
            },
        )


def _credit_body(
    kind: str, work_id: int, work: dict[str, Any], member: dict[str, Any], role: dict[str, Any]
) -> dict[str, Any]:
    media = {k: v for k, v in work.items() if k not in _DETAIL_ONLY}
    media.update(
        {
            "adult": False,
            "backdrop_path": None,
            "id": work_id,
            "original_language": "en",
            "overview": "",
            "poster_path": f"/poster{work_id}.jpg",
            "media_type": kind,
            "genre_ids": [18],
            "vote_average": 8.0,
            "vote_count": 1000,
            "character": role.get("character", ""),
        }
    )
    if kind == "tv":
        media.update({"origin_country": ["US"], "episodes": [], "seasons": []})
    person_fields = ("adult", "id", "name", "original_name", "popularity", "gender")
    person = {k: member[k] for k in person_fields if k in member}
    person.update(
        {
            "media_type": "person",
            "known_for_department": member.get("known_for_department", "Acting"),
            "profile_path": member.get("profile_path"),
        }
    )
    return {
        "credit_type": "cast",
        "department": "Actors",
        "job": "Actor",
        "media": media,
        "media_type": kind,
        "id": role["credit_id"],
        "person": person,
    }
