"""A Hardcover GraphQL fake: the `search` field with Typesense-shaped results and the real errors.

Auth like the real API: the token with or without "Bearer "; a wrong token gets HTTP 401
`{"error": "Unable to verify token"}`; an expired one HTTP 200 with a Hasura `invalid-jwt` error;
"Bearer Bearer <token>" HTTP 200 with `invalid-headers`.

Besides `search`, it answers `books_by_pk(id:)` (Hasura's by-primary-key query: the book, or null)
from the same books. `forbid_search()` makes any search fail loudly (rows with ids must not search).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import httpx

from tests.fakes.base import FakeService, UnexpectedRequest, json_response, parse_json_body
from tests.fakes.images import FakeImageHost, sharp_photo

VALID_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjb3ZlcmN0bC10ZXN0In0.aGFyZGNvdmVyLXRlc3Q"
EXPIRED_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE2MDAwMDAwMDB9.ZXhwaXJlZC10b2tlbg"

UNABLE_TO_VERIFY_BODY = {"error": "Unable to verify token"}
EXPIRED_JWT_BODY = {
    "errors": [
        {
            "extensions": {"path": "$", "code": "invalid-jwt"},
            "message": "Could not verify JWT: JWTExpired",
        }
    ]
}
MALFORMED_HEADER_BODY = {
    "errors": [
        {
            "message": "Malformed Authorization header",
            "extensions": {"path": "$", "code": "invalid-headers"},
        }
    ]
}
THROTTLED_BODY = {"error": "Throttled: 60 requests per minute"}
COVER_HOST = "assets.hardcover.app"


def cover(book_id: int) -> dict[str, Any]:
    return {
        "id": book_id * 7,
        "url": f"https://{COVER_HOST}/edition/{book_id}/cover-{book_id}.jpg",
        "color": "#8C6E4B",
        "width": 400,
        "height": 600,
        "color_name": "Brown",
    }


def book(
    book_id: int,
    title: str,
    year: int | None,
    authors: list[str],
    *,
    users: int,
    image: dict[str, Any] | str | None = "cover",
    alternative_titles: tuple[str, ...] = (),
    subtitle: str | None = None,
    series: tuple[str, ...] = (),
    position: float | None = None,
) -> dict[str, Any]:
    """A book document as Hardcover's Typesense index returns it; `position` is the book's place
    in its featured series (the first of `series`)."""
    featured = None
    if series and position is not None:
        featured = {
            "position": position,
            "series": {"name": series[0], "books_count": 12, "primary_books_count": 5},
        }
    return {
        "activities_count": users // 10,
        "alternative_titles": list(alternative_titles),
        "author_names": authors,
        "compilation": False,
        "content_warnings": [],
        "contribution_types": ["Author"],
        "cover_color": "Brown",
        "description": f"The book {title}.",
        "featured_series": featured,
        "genres": ["Fiction"],
        "has_audiobook": True,
        "has_ebook": True,
        "id": str(book_id),
        "image": cover(book_id) if image == "cover" else image,
        "isbns": [f"97800000{book_id:05d}"],
        "lists_count": 12,
        "moods": [],
        "pages": 412,
        "prompts_count": 0,
        "rating": 4.21,
        "ratings_count": users // 3,
        "release_date": f"{year}-06-01" if year else None,
        "release_year": year,
        "reviews_count": users // 50,
        "series_names": list(series),
        "slug": re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"),
        "subtitle": subtitle,
        "tags": [],
        "title": title,
        "users_count": users,
        "users_read_count": users // 2,
    }


def character(char_id: int, name: str, books: list[str], authors: list[str]) -> dict[str, Any]:
    """A character document: a name and the titles of their books, no picture."""
    return {
        "author_names": authors,
        "books": books,
        "books_count": len(books),
        "id": str(char_id),
        "name": name,
        "object_type": "Character",
        "slug": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
    }


BOOKS: list[dict[str, Any]] = [
    book(312460, "Dune", 1965, ["Frank Herbert"], users=250_000, series=("Dune",)),
    book(
        312461,
        "Dune Messiah",
        1969,
        ["Frank Herbert"],
        users=90_000,
        series=("Dune",),
    ),
    book(
        425123,
        "Harry Potter and the Philosopher's Stone",
        1997,
        ["J.K. Rowling"],
        users=400_000,
        alternative_titles=("Harry Potter and the Sorcerer's Stone",),
    ),
    book(28210, "Emma", 1815, ["Jane Austen"], users=60_000),
    book(1399001, "Emma", 2014, ["Alexander McCall Smith"], users=2_000),
    book(555001, "The Quiet Lighthouse", 2019, ["A. N. Author"], users=150, image=None),
    # Searching the series name finds its books (Typesense searches `series_names` too).
    book(
        13496,
        "A Clash of Kings",
        1998,
        ["George R.R. Martin"],
        users=120_000,
        series=("A Song of Ice and Fire",),
        position=2,
    ),
    book(
        13495,
        "A Game of Thrones",
        1996,
        ["George R.R. Martin"],
        users=110_000,
        series=("A Song of Ice and Fire",),
        position=1,
    ),
    book(555002, "The Dark Knight", 2008, ["Dennis O'Neil"], users=900),
]

CHARACTERS: list[dict[str, Any]] = [
    character(
        101, "Paul Atreides", ["Dune", "Dune Messiah", "Children of Dune"], ["Frank Herbert"]
    ),
    character(
        102,
        "Hermione Granger",
        ["Harry Potter and the Philosopher's Stone", "Harry Potter and the Chamber of Secrets"],
        ["J.K. Rowling"],
    ),
    character(103, "Emma Woodhouse", ["Emma"], ["Jane Austen"]),
    character(
        104,
        "Tyrion Lannister",
        ["A Game of Thrones", "A Clash of Kings"],
        ["George R.R. Martin"],
    ),
    character(105, "Davos Seaworth", ["A Clash of Kings"], ["George R.R. Martin"]),
]


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w ]", " ", text.lower().replace("'", "")).split()


def _near(word: str, words: list[str]) -> bool:
    """Typesense forgives a typo: one of `words` is `word` or one letter away from it."""
    return any(
        w == word or (len(word) > 4 and difflib.SequenceMatcher(None, w, word).ratio() >= 0.85)
        for w in words
    )


def typesense(documents: list[dict[str, Any]], q: str, per_page: int, kind: str) -> dict[str, Any]:
    """Typesense's result object, as Hardcover passes it through in `search.results`."""
    return {
        "facet_counts": [],
        "found": len(documents),
        "hits": [
            {
                "document": doc,
                "highlight": {},
                "highlights": [],
                "text_match": 578730123365187700 - i,
                "text_match_info": {"best_field_score": "2211897868288", "fields_matched": 1},
            }
            for i, doc in enumerate(documents[:per_page])
        ],
        "out_of": 1_234_567,
        "page": 1,
        "request_params": {"collection_name": f"{kind}_production", "per_page": per_page, "q": q},
        "search_cutoff": False,
        "search_time_ms": 4,
    }


class FakeHardcover(FakeService):
    name = "Hardcover"

    def __init__(
        self,
        *,
        token: str = VALID_TOKEN,
        books: list[dict[str, Any]] | None = None,
        characters: list[dict[str, Any]] | None = None,
    ) -> None:
        """`books` and `characters` (built with `book` and `character`) replace the built-in
        documents."""
        super().__init__()
        self.token = token
        self.books = [dict(b) for b in (BOOKS if books is None else books)]
        self.characters = [dict(c) for c in (CHARACTERS if characters is None else characters)]
        self.searches: list[tuple[str, str]] = []  # (query_type, q) of each answered search
        self.route("POST", r"/v1/graphql", self._graphql)
        self.search_forbidden = False

    def forbid_search(self) -> None:
        """From now on a search request is a test failure (rows with ids must not search)."""
        self.search_forbidden = True

    def _auth_error(self, request: httpx.Request) -> httpx.Response | None:
        header = request.headers.get("authorization", "").strip()
        if header.lower().startswith("bearer bearer"):
            return json_response(200, MALFORMED_HEADER_BODY)
        token = header[7:].strip() if header.lower().startswith("bearer ") else header
        if token == EXPIRED_TOKEN:
            return json_response(200, EXPIRED_JWT_BODY)
        if token != self.token:
            return json_response(401, UNABLE_TO_VERIFY_BODY)
        return None

    def _graphql(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (denied := self._auth_error(request)) is not None:
            return denied
        body = parse_json_body(request)
        query, variables = body.get("query", ""), body.get("variables") or {}
        found = re.search(r'query_type:\s*"(\w+)"', query)
        kind = (found.group(1) if found else str(variables.get("type", ""))).lower()
        q = str(variables.get("q", ""))
        per_page = int(variables.get("perPage", 25))
        if "books_by_pk(" in query:
            return self._book_by_pk(variables.get("id"))
        if self.search_forbidden:
            raise UnexpectedRequest(f"Hardcover fake got a search it forbids: {q!r}")
        if "search(" not in query or not q:
            raise UnexpectedRequest(f"Hardcover fake got a query it does not serve: {query!r}")
        wanted = _words(q)
        if kind == "book":
            # Hardcover's book search looks at the title, the alternative titles and the series
            # names (a series name finds every book of the series).
            docs = [
                b
                for b in self.books
                if any(
                    all(w in _words(t) for w in wanted)
                    for t in [b["title"], *b["alternative_titles"], *b["series_names"]]
                )
            ]
            docs.sort(key=lambda b: -b["users_count"])
        elif kind == "character":
            docs = [c for c in self.characters if all(_near(w, _words(c["name"])) for w in wanted)]
        else:
            raise UnexpectedRequest(f"Hardcover fake does not serve query_type {kind!r}")
        self.searches.append((kind, q))
        results = typesense(docs, q, per_page, kind.capitalize())
        return json_response(200, {"data": {"search": {"results": results}}})

    def _book_by_pk(self, book_id: Any) -> httpx.Response:
        if not isinstance(book_id, int):
            message = f"parsing Int failed, expected Int, but encountered {type(book_id).__name__}"
            error = {
                "message": message,
                "extensions": {
                    "path": "$.selectionSet.books_by_pk.args.id",
                    "code": "parse-failed",
                },
            }
            return json_response(200, {"errors": [error]})
        doc = next((b for b in self.books if b["id"] == str(book_id)), None)
        if doc is None:
            return json_response(200, {"data": {"books_by_pk": None}})
        image = doc["image"] if isinstance(doc["image"], dict) else None
        book = {
            "id": book_id,
            "title": doc["title"],
            "subtitle": doc["subtitle"],
            "release_year": doc["release_year"],
            "release_date": doc["release_date"],
            "image": {"url": image["url"]} if image else None,
            "book_series": [{"series": {"name": name}} for name in doc["series_names"]],
        }
        return json_response(200, {"data": {"books_by_pk": book}})


def cover_host(books: list[dict[str, Any]] = BOOKS) -> FakeImageHost:
    """Hardcover's cover host serving a real poster-shaped picture for every cover `books` list;
    any other path is a 404 HTML page."""
    host = FakeImageHost(COVER_HOST)
    for index, doc in enumerate(books):
        image = doc.get("image")
        if isinstance(image, dict) and isinstance(image.get("url"), str):
            host.add(httpx.URL(image["url"]).path, sharp_photo(400, 600, seed=100 + index))
    return host
