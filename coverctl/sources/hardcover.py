"""Hardcover (books, GraphQL): find the book by its title and use its cover (quality 60).

Hardcover's characters carry no picture, so a book character's answer is the cover of the book.

Identity guard (the right book or nothing):

- The title must match (`names.match_title` over the title, "title: subtitle" and the
  alternative titles; with a year, `release_year` must be within one year and the same year wins).
  A book without a cover is "no picture", never another edition's or another book's cover.
- With media type ``book`` the user says the title is a book: the title match is the evidence and
  no character request is spent.
- With no media type, Hardcover is asked only after TMDB and TVDB found nothing, so the title may
  be a film sharing its name with a book (a novelisation) or an unrelated book. The cover is then
  accepted only when Hardcover's character search finds the character with this book among their
  books. That one extra request (cached 24 h per character) is made only once a book with a cover
  was found.
- A title that is no book's title but the name of a series stands for the series' first book
  (Hardcover's featured series, position 1: "A Song of Ice and Fire" -> "A Game of Thrones"); a
  subtitle or franchise name stands for a book whose title it is part of. Such a variant is
  accepted only when the character search finds the character, by a strong match (exact or
  partial), in that book, whatever the media type; when several such books have the character
  it is ambiguous (`names.pick_work`).

Search answers are cached for 24 h (`cached_response`), so the characters of one book cost one
book search. The rate (60 requests a minute) is paced by the shared client.

A row with `hardcover_id` skips the search (`_find_by_ids`, rules in `coverctl/identity.py`):
one `books_by_pk` request names the book; its title (or subtitle, or series) must be the row's.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, ClassVar, Final

from coverctl.config import Settings
from coverctl.constants import (
    TITLE_WORKS_COMPARED,
    MediaType,
    PictureTrust,
    QualityScore,
    Source,
)
from coverctl.errors import CredentialRejected, IdentityMismatch, ProviderResponseError
from coverctl.identity import id_label, title_contradiction
from coverctl.models import Candidate, Match, Query
from coverctl.names import (
    CastMatch,
    CastMember,
    NoMatch,
    RankedTitle,
    TitleCandidate,
    TitleMatch,
    TitlePlan,
    WorkMatch,
    match_character,
    match_title,
    normalize,
    pick_work,
    plan_titles,
    split_title_year,
)
from coverctl.redact import scrub
from coverctl.sources.base import (
    SourceAnswer,
    SourceContext,
    as_int,
    as_list,
    as_str,
    cached_response,
    expect_dict,
    json_body,
    year_of,
)
from coverctl.sources.spec import (
    CallEstimate,
    HttpProbe,
    ProbeFailed,
    ProbeRejected,
    ProviderSpec,
    Variable,
    probe_json,
)

if TYPE_CHECKING:
    import httpx

PROVIDER: Final = "hardcover"
ENV_KEY: Final = "HARDCOVER_API_KEY"
BOOKS_PER_PAGE: Final = 10
CHARACTERS_PER_PAGE: Final = 10

# `query_type` is written into the query text, as Hardcover's documentation does.
_SEARCH_QUERY: Final = """\
query CoverctlSearch($q: String!, $perPage: Int!) {
  search(query: $q, query_type: "%s", per_page: $perPage, page: 1) {
    results
  }
}"""
BOOK_SEARCH_QUERY: Final = _SEARCH_QUERY % "Book"
CHARACTER_SEARCH_QUERY: Final = _SEARCH_QUERY % "Character"
# One book by its id (Hasura's `<table>_by_pk`; null when there is no such book).
BOOK_BY_ID_QUERY: Final = """\
query CoverctlBook($id: Int!) {
  books_by_pk(id: $id) {
    id
    title
    subtitle
    release_year
    release_date
    image { url }
    book_series { series { name } }
  }
}"""
# doctor's test query (`doctor_probe`): the cheapest one that needs a valid token.
DOCTOR_QUERY: Final = "query CoverctlDoctor { me { id } }"

# GraphQL error codes and message fragments that mean "your token was not accepted".
_AUTH_CODES: Final = frozenset(
    {
        "invalid-jwt",
        "invalid-headers",
        "access-denied",
        "unauthorized",
        "unauthenticated",
        "forbidden",
    }
)
# Matched as phrases: a parse error such as "Unexpected token" must not pass for an auth failure.
_AUTH_MESSAGE: Final = re.compile(
    r"\b(jwt|unauthori[sz]ed|not authori[sz]ed|authentication|authorization header"
    r"|(verify|invalid|expired|missing|bad) (api )?token)\b",
    re.IGNORECASE,
)


def bearer_header(settings: Settings) -> str:
    """`Bearer <token>`, whether or not the user pasted the token with its "Bearer " prefix."""
    assert settings.hardcover_api_key is not None
    token = settings.hardcover_api_key.reveal().strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return f"Bearer {token}"


def request_body(query: str, text: str, per_page: int) -> dict[str, Any]:
    return {"query": query, "variables": {"q": text, "perPage": per_page}}


def graphql_errors(payload: Any) -> list[dict[str, Any]]:
    """The `errors[]` of a GraphQL reply (also Hardcover's plain `{"error": "..."}`)."""
    if not isinstance(payload, dict):
        return []
    errors = [e for e in as_list(payload.get("errors")) if isinstance(e, dict)]
    if not errors and as_str(payload.get("error")):
        errors = [{"message": as_str(payload.get("error"))}]
    return errors


def is_auth_error(error: dict[str, Any]) -> bool:
    extensions = error.get("extensions")
    code = as_str(extensions.get("code")).lower() if isinstance(extensions, dict) else ""
    return code in _AUTH_CODES or bool(_AUTH_MESSAGE.search(as_str(error.get("message"))))


def search_hits(payload: Any) -> list[dict[str, Any]]:
    """The `document`s of `data.search.results.hits[]` (results may arrive as a JSON string)."""
    data = expect_dict(payload, PROVIDER, "the GraphQL reply")
    search = data.get("data")
    search = search.get("search") if isinstance(search, dict) else None
    if not isinstance(search, dict):
        raise ProviderResponseError(PROVIDER, "the reply has no data.search")
    results = search.get("results")
    if isinstance(results, str):
        try:
            results = json.loads(results)
        except ValueError:
            raise ProviderResponseError(PROVIDER, "search results are not JSON") from None
    if results is None:
        return []
    results = expect_dict(results, PROVIDER, "data.search.results")
    return [
        hit["document"]
        for hit in as_list(results.get("hits"))
        if isinstance(hit, dict) and isinstance(hit.get("document"), dict)
    ]


def parse_books(payload: Any) -> list[dict[str, Any]]:
    """The fields we use from a book search reply, in Hardcover's order."""
    books = []
    for doc in search_hits(payload):
        book_id = _id_of(doc.get("id"))
        title = as_str(doc.get("title"))
        if not book_id or not title:
            continue
        titles = [title]
        subtitle = as_str(doc.get("subtitle"))
        if subtitle:
            titles.append(f"{title}: {subtitle}")
        titles.extend(as_str(t) for t in as_list(doc.get("alternative_titles")))
        image = doc.get("image")
        url = as_str(image.get("url")) if isinstance(image, dict) else ""
        books.append(
            {
                "id": book_id,
                "titles": [t for t in dict.fromkeys(titles) if t],
                "year": as_int(doc.get("release_year")) or year_of(doc.get("release_date")),
                "image_url": url if url.startswith(("http://", "https://")) else None,
                "authors": [as_str(a) for a in as_list(doc.get("author_names")) if as_str(a)],
                "opens_series": opened_series(doc),
            }
        )
    return books


def opened_series(doc: dict[str, Any]) -> list[str]:
    """The series a book document is the first of: `featured_series` `{position, series:
    {name}}` at position 1 (a compilation opens nothing, even when listed first)."""
    featured = doc.get("featured_series")
    if not isinstance(featured, dict) or doc.get("compilation") is True:
        return []
    position = featured.get("position")
    series = featured.get("series")
    name = as_str(series.get("name")) if isinstance(series, dict) else ""
    is_first = isinstance(position, int | float) and not isinstance(position, bool)
    return [name] if name and is_first and position == 1 else []


def parse_book(payload: Any) -> dict[str, Any] | None:
    """The book of a `books_by_pk` reply, in `parse_books`' shape (None: no such book). Its
    series names count among its titles (for checking a row's title, never shown first)."""
    data = expect_dict(payload, PROVIDER, "the GraphQL reply").get("data")
    if not isinstance(data, dict) or "books_by_pk" not in data:
        raise ProviderResponseError(PROVIDER, "the reply has no data.books_by_pk")
    doc = data["books_by_pk"]
    if not isinstance(doc, dict):
        return None
    title = as_str(doc.get("title"))
    subtitle = as_str(doc.get("subtitle"))
    titles = [title, f"{title}: {subtitle}" if title and subtitle else ""]
    for entry in as_list(doc.get("book_series")):
        series = entry.get("series") if isinstance(entry, dict) else None
        titles.append(as_str(series.get("name")) if isinstance(series, dict) else "")
    image = doc.get("image")
    url = as_str(image.get("url")) if isinstance(image, dict) else ""
    return {
        "id": _id_of(doc.get("id")),
        "titles": [t for t in dict.fromkeys(titles) if t],
        "year": as_int(doc.get("release_year")) or year_of(doc.get("release_date")),
        "image_url": url if url.startswith(("http://", "https://")) else None,
    }


def cover_answer(book: dict[str, Any], match: Match) -> SourceAnswer:
    """The book's cover as the answer (found by title or by id), or why there is none."""
    if not book["image_url"]:
        shown = book["titles"][0] + (f" ({book['year']})" if book["year"] else "")
        return SourceAnswer.none(f"found the book '{shown}' but Hardcover has no cover for it")
    candidate = Candidate(
        image_url=book["image_url"],
        source=Source.HARDCOVER,
        quality_score=QualityScore.HARDCOVER,
        matched=match,
        media_type=MediaType.BOOK,
        year=book["year"],
        title=book["titles"][0],
    )
    return SourceAnswer([candidate])


def parse_characters(payload: Any) -> list[dict[str, Any]]:
    """The fields we use from a character search reply: name and the titles of their books."""
    characters = []
    for doc in search_hits(payload):
        name = as_str(doc.get("name"))
        if not name:
            continue
        books = [as_str(b) for b in as_list(doc.get("books")) if as_str(b)]
        characters.append({"id": _id_of(doc.get("id")), "name": name, "books": books})
    return characters


def appears_in(character_books: list[str], book_titles: list[str]) -> bool:
    """Whether one of a character's book titles is one of the titles of the book we found."""
    candidates = [
        TitleCandidate(id=str(i), titles=(title,), year=None, rank=i)
        for i, title in enumerate(character_books)
    ]
    return any(
        isinstance(match_title(title, None, candidates), TitleMatch) for title in book_titles
    )


def characters_in(characters: list[dict[str, Any]], book: dict[str, Any]) -> list[CastMember]:
    """The characters of a character search whose books include `book`, as a cast to match.

    Their ids name the book too: the answer is the book's cover, so one character in two books
    is two different pictures, never "the same person"."""
    return [
        CastMember(
            person_id=f"{book['id']}:{i}",
            person_name="",
            character=c["name"],
            order=i,
            has_image=False,
        )
        for i, c in enumerate(characters)
        if appears_in(c["books"], book["titles"])
    ]


def confirm_character(
    name: str, characters: list[dict[str, Any]], book: dict[str, Any]
) -> str | NoMatch:
    """Hardcover's name for the character `name` in `book`, or NoMatch with the reason."""
    shown = book["titles"][0]
    in_book = [c for c in characters if appears_in(c["books"], book["titles"])]
    if not in_book:
        return NoMatch(
            f"Hardcover lists no character called '{name}' in the book '{shown}', "
            "so its cover is not used for a title of unknown media type"
        )
    members = [
        CastMember(person_id=str(i), person_name="", character=c["name"], order=i, has_image=False)
        for i, c in enumerate(in_book)
    ]
    found = match_character(name, members)
    if not isinstance(found, CastMatch):
        return NoMatch(
            f"Hardcover's characters of '{shown}' do not settle '{name}': {found.reason}"
        )
    return found.member.character


class HardcoverSource:
    name: ClassVar[str] = "hardcover"
    provider: ClassVar[str | None] = PROVIDER

    def unavailable_reason(self, settings: Settings) -> str | None:
        return None if settings.hardcover_api_key else f"{ENV_KEY} is not set"

    async def _graphql(self, ctx: SourceContext, body: dict[str, Any]) -> Any:
        response = await ctx.http.request(
            PROVIDER,
            "POST",
            ctx.settings.hardcover_graphql_url,
            headers={"Authorization": bearer_header(ctx.settings), "Accept": "application/json"},
            json=body,
        )
        if response.status_code in (401, 403):
            raise self._rejected(ctx, _maybe_json(response))
        payload = json_body(response, PROVIDER)
        errors = graphql_errors(payload)
        if any(is_auth_error(e) for e in errors):
            raise self._rejected(ctx, payload)
        if errors:
            message = scrub(as_str(errors[0].get("message")), ctx.settings.secrets())
            raise ProviderResponseError(PROVIDER, f"GraphQL error: {message or 'no message'}")
        if response.status_code >= 400:
            raise ProviderResponseError(PROVIDER, f"HTTP {response.status_code}")
        return payload

    def _rejected(self, ctx: SourceContext, payload: Any) -> CredentialRejected:
        errors = graphql_errors(payload)
        detail = as_str(errors[0].get("message")) if errors else ""
        return CredentialRejected("Hardcover", ENV_KEY, scrub(detail, ctx.settings.secrets()))

    async def _search_books(self, ctx: SourceContext, title: str) -> list[dict[str, Any]]:
        async def fetch() -> list[dict[str, Any]]:
            body = request_body(BOOK_SEARCH_QUERY, title, BOOKS_PER_PAGE)
            return parse_books(await self._graphql(ctx, body))

        return await cached_response(ctx, PROVIDER, ("book-search", normalize(title)), fetch)

    async def _search_characters(self, ctx: SourceContext, name: str) -> list[dict[str, Any]]:
        async def fetch() -> list[dict[str, Any]]:
            body = request_body(CHARACTER_SEARCH_QUERY, name, CHARACTERS_PER_PAGE)
            return parse_characters(await self._graphql(ctx, body))

        return await cached_response(ctx, PROVIDER, ("character-search", normalize(name)), fetch)

    async def _book(self, ctx: SourceContext, book_id: int) -> dict[str, Any]:
        """`parse_book` of one book by id ({} when there is none), cached for 24 h."""

        async def fetch() -> dict[str, Any]:
            body = {"query": BOOK_BY_ID_QUERY, "variables": {"id": book_id}}
            return parse_book(await self._graphql(ctx, body)) or {}

        return await cached_response(ctx, PROVIDER, ("book", book_id), fetch)

    async def _find_by_ids(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        """Resolve a row by its `hardcover_id`: the book's cover, once its title (subtitle or
        series included) is the row's; IdentityMismatch when it is another book."""
        book_id = query.ids.hardcover_id
        if book_id is None:
            return SourceAnswer.none("the row has no hardcover_id")
        label = id_label("hardcover_id", book_id)
        book = await self._book(ctx, book_id)
        if not book:
            return SourceAnswer.none(f"Hardcover has no book with {label}")
        if mismatch := title_contradiction(label, query, book["titles"], book["year"]):
            raise IdentityMismatch(mismatch)
        match = Match(character=query.character_name, external_id=book["id"], work_id=book["id"])
        return cover_answer(book, match)

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        if query.ids:
            return await self._find_by_ids(query, ctx)
        wanted = split_title_year(query.title, query.year)
        if isinstance(wanted, NoMatch):
            return SourceAnswer.none(wanted.reason)
        books = await self._search_books(ctx, wanted.title)
        if not books:
            return SourceAnswer.none(f"Hardcover has no book called {wanted.title!r}")
        titles = [
            TitleCandidate(
                id=b["id"],
                titles=tuple(b["titles"]),
                year=b["year"],
                rank=i,
                opens_series=tuple(b.get("opens_series", ())),
            )
            for i, b in enumerate(books)
        ]
        plan = plan_titles(wanted.title, wanted.year, titles)
        by_id = {b["id"]: b for b in books}
        if not plan.certain:
            return await self._find_variant(ctx, query, plan, by_id)
        # Books sharing a title keep Hardcover's order: their characters list books by title.
        book = by_id[plan.certain[0].candidate.id]
        if not book["image_url"]:
            return cover_answer(book, Match())  # said before a character request is spent
        character = query.character_name
        if query.media_type != MediaType.BOOK:
            confirmed = confirm_character(
                query.character_name, await self._search_characters(ctx, query.character_name), book
            )
            if isinstance(confirmed, NoMatch):
                return SourceAnswer.none(confirmed.reason)
            character = confirmed
        return cover_answer(book, Match(person=None, character=character, external_id=book["id"]))

    async def candidates(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        """The matched book's cover: Hardcover's search gives one cover per book."""
        return await self.find(query, ctx)

    async def _find_variant(
        self, ctx: SourceContext, query: Query, plan: TitlePlan, by_id: dict[str, dict[str, Any]]
    ) -> SourceAnswer:
        """No book is titled so: the first book of a series of that name, or a book the title is
        part of, confirmed by the character search (one request, cached)."""
        works: list[RankedTitle] = [
            work for work in plan.others if work.strength in ("series", "variant")
        ][:TITLE_WORKS_COMPARED]
        if not works:
            return SourceAnswer.none(plan.reason)
        characters = await self._search_characters(ctx, query.character_name)
        rosters = [characters_in(characters, by_id[work.candidate.id]) for work in works]
        if not any(rosters):
            shown = " or ".join(work.describe() for work in works)
            return SourceAnswer.none(
                f"no book is titled '{query.title}', and Hardcover lists no character called "
                f"'{query.character_name}' in {shown}"
            )
        picked = pick_work(query.character_name, list(zip(works, rosters, strict=True)))
        if not isinstance(picked, WorkMatch):
            return SourceAnswer.none(picked.reason)
        book = by_id[picked.work.candidate.id]
        character = picked.match.member.character
        return cover_answer(book, Match(person=None, character=character, external_id=book["id"]))


def _id_of(value: Any) -> str:
    """Hardcover ids arrive as numbers or numeric strings: always "123"."""
    number = as_int(value)
    return str(number) if number is not None else as_str(value)


def _maybe_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# --- what the rest of coverctl knows about Hardcover (sources/spec.py) -------------------------


def doctor_probe(settings: Settings) -> HttpProbe:
    import httpx

    """A one-field GraphQL query (`me`), sent and read as the source does: the same bearer
    header, and a refused token known by the same codes and phrases (`is_auth_error`), since
    Hasura answers one with HTTP 200 and `errors[]`."""
    request = None
    if settings.hardcover_api_key:
        request = httpx.Request(
            "POST",
            settings.hardcover_graphql_url,
            json={"query": DOCTOR_QUERY},
            headers={"Authorization": bearer_header(settings), "Accept": "application/json"},
        )

    def accept(response: httpx.Response) -> str:
        payload = probe_json(response)
        errors = graphql_errors(payload)
        if errors:
            message = as_str(errors[0].get("message")) or "GraphQL error"
            if any(is_auth_error(error) for error in errors):
                raise ProbeRejected(message)
            raise ProbeFailed(f"the test query failed: {message}")
        data = payload.get("data")
        if not (data.get("me") if isinstance(data, dict) else None):
            raise ProbeRejected("the token belongs to no user")
        return "API token accepted"

    return HttpProbe(
        PROVIDER,
        "Hardcover",
        ENV_KEY,
        "HARDCOVER_GRAPHQL_URL",
        settings.hardcover_graphql_url,
        request,
        accept,
        "Check HARDCOVER_API_KEY: copy the token from https://hardcover.app/account/api "
        "(tokens expire after a year).",
    )


SPECS = (
    ProviderSpec(
        step="hardcover",
        source=Source.HARDCOVER,
        source_class=HardcoverSource,
        provider=PROVIDER,
        rate=1.0,  # Hardcover allows 60 requests a minute
        burst=10,
        variables=(
            Variable(ENV_KEY, "Hardcover API token", secret=True, field="hardcover_api_key"),
            Variable(
                "HARDCOVER_GRAPHQL_URL",
                "Hardcover GraphQL endpoint",
                url=True,
                field="hardcover_graphql_url",
            ),
        ),
        key_variable=ENV_KEY,
        media_types=frozenset({MediaType.BOOK, None}),
        priority=40,  # for a title of unknown type, after the film and TV sources
        # The book search; the character search when the media type is not `book`.
        calls=CallEstimate("title", 1, 2),
        scores=(QualityScore.HARDCOVER,),
        # Covers are user-uploaded and sometimes gone.
        picture_trust=PictureTrust.UNRELIABLE,
        probe=doctor_probe,
    ),
)
