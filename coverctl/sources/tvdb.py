"""TheTVDB v4 (REST): log in once, search the series, match a character of its extended record.

The bearer token lasts a month: it is kept in memory and in the cache until it expires. A 401 on
a data call means the token went stale: log in again once, then give up with exit 4.

A series is matched on every title the search gives it (name, English translation, aliases,
translations, slug). When several series share the title ("House of Cards" and "House of Cards
(US)") or only a variant of theirs matches (a subtitle, a franchise name), the extended records
of at most `TITLE_WORKS_COMPARED` of them are fetched and the character decides.

Rows with TVDB ids skip the search (`_find_by_ids`, rules in `coverctl/identity.py`): `tvdb_id`
costs the same cached extended-record request as a search's match, `tvdb_character_id` alone one
`/characters/{id}` request (and the series record when its original title is not the row's).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any, ClassVar

from coverctl.config import Settings
from coverctl.constants import (
    TITLE_WORKS_COMPARED,
    MediaType,
    PictureTrust,
    QualityScore,
    Source,
)
from coverctl.errors import CredentialRejected, IdentityMismatch, ProviderResponseError
from coverctl.identity import character_contradiction, id_label, title_contradiction
from coverctl.models import Candidate, Match, Query
from coverctl.names import (
    CastMatch,
    CastMember,
    NoMatch,
    RankedTitle,
    TitleCandidate,
    TitlePlan,
    match_character,
    normalize,
    pick_work,
    plan_titles,
    split_title_year,
)
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
    PictureDownloads,
    PictureHosts,
    ProbeRejected,
    ProviderSpec,
    Variable,
    probe_json,
)
from coverctl.store.cache import cache_key
from coverctl.urls import normalize_tvdb_image

PROVIDER = "tvdb"
ENV_KEY = "TVDB_API_KEY"
ACTOR_TYPES = frozenset({3, 4})  # 3 = actor, 4 = guest star
TOKEN_LIFETIME = 28 * 24 * 3600  # documented as one month; stay under it
# The statuses of a /login refusing the key or PIN: the source and doctor read them alike.
LOGIN_REJECTED = frozenset({400, 401, 403})


def login_body(settings: Settings) -> dict[str, str]:
    """The /login request's body: the API key, and the subscriber PIN when there is one."""
    assert settings.tvdb_api_key is not None
    body = {"apikey": settings.tvdb_api_key.reveal()}
    if settings.tvdb_pin:
        body["pin"] = settings.tvdb_pin.reveal()
    return body


def token_expiry(token: str, now: float) -> float:
    """Seconds until the JWT's `exp`, or the documented lifetime when it cannot be read."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        remaining = float(claims["exp"]) - now - 60
        return max(0.0, min(remaining, TOKEN_LIFETIME))
    except (IndexError, KeyError, ValueError, TypeError):
        return TOKEN_LIFETIME


def parse_search(payload: Any) -> list[dict[str, Any]]:
    data = expect_dict(payload, PROVIDER, "the search reply")
    series = []
    for item in as_list(data.get("data")):
        if not isinstance(item, dict):
            continue
        series_id = as_str(item.get("tvdb_id")) or as_str(item.get("id")).removeprefix("series-")
        if not series_id.isdigit():
            continue
        titles = [as_str(item.get("name"))]
        titles += [as_str(a) for a in as_list(item.get("aliases"))]
        translations = item.get("translations")
        if isinstance(translations, dict):
            english = as_str(translations.get("eng"))
            titles.insert(0, english) if english else None
            titles += [as_str(v) for v in translations.values()]
        slug = as_str(item.get("slug"))
        if slug:
            titles.append(slug.replace("-", " "))
        titles = [t for t in dict.fromkeys(titles) if t]
        if titles:
            series.append({"id": series_id, "titles": titles, "year": year_of(item.get("year"))})
    return series


def parse_characters(payload: Any) -> list[dict[str, Any]]:
    data = expect_dict(payload, PROVIDER, "the series reply")
    record = data.get("data")
    if not isinstance(record, dict):
        raise ProviderResponseError(PROVIDER, "the series reply has no data object")
    characters = []
    for index, item in enumerate(as_list(record.get("characters"))):
        if not isinstance(item, dict):
            continue
        kind = as_int(item.get("type"))
        if kind is not None and kind not in ACTOR_TYPES:
            continue
        sort = as_int(item.get("sort"))
        characters.append(
            {
                **_character_fields(item),
                "order": sort if sort is not None and sort > 0 else 1000 + index,
            }
        )
    return characters


def _character_fields(item: dict[str, Any]) -> dict[str, Any]:
    """The fields we use from one TVDB character record (in a series or on its own)."""
    return {
        "id": as_str(item.get("peopleId")) or str(as_int(item.get("peopleId")) or ""),
        "character_id": str(item.get("id") or ""),
        "name": as_str(item.get("name")),
        "person": as_str(item.get("personName")),
        "image": item.get("image"),
        "person_image": item.get("personImgURL"),
        "aliases": _names(item.get("aliases")),
    }


def _names(value: Any) -> list[str]:
    """Names from TVDB's alias lists: plain strings or `{"language", "name"}` objects."""
    names = [
        as_str(entry.get("name")) if isinstance(entry, dict) else as_str(entry)
        for entry in as_list(value)
    ]
    return [n for n in names if n]


def parse_series(payload: Any) -> dict[str, Any]:
    """A series' titles, year and characters from `/series/{id}/extended?meta=translations`.

    Titles: the name (often in the original language), its English translation first when
    there is one, then the other translations and the aliases."""
    record = expect_dict(payload, PROVIDER, "the series reply").get("data")
    if not isinstance(record, dict):
        raise ProviderResponseError(PROVIDER, "the series reply has no data object")
    titles = [as_str(record.get("name"))]
    translations = record.get("translations")
    if isinstance(translations, dict):
        named = [t for t in as_list(translations.get("nameTranslations")) if isinstance(t, dict)]
        english = [as_str(t.get("name")) for t in named if t.get("language") == "eng"]
        titles = english + titles + [as_str(t.get("name")) for t in named]
        titles += _names(translations.get("aliases"))
    titles += _names(record.get("aliases"))
    return {
        "titles": [t for t in dict.fromkeys(titles) if t],
        "year": year_of(record.get("year")) or year_of(record.get("firstAired")),
        "characters": parse_characters(payload),
    }


def parse_character(payload: Any) -> dict[str, Any]:
    """`GET /characters/{id}`: the character's fields, its kind and the work it belongs to."""
    record = expect_dict(payload, PROVIDER, "the character reply").get("data")
    if not isinstance(record, dict):
        raise ProviderResponseError(PROVIDER, "the character reply has no data object")
    series = record.get("series")
    series = series if isinstance(series, dict) else {}
    series_id = as_int(record.get("seriesId"))
    return {
        **_character_fields(record),
        "type": as_int(record.get("type")),
        "series_id": str(series_id) if series_id else "",
        "series_titles": [t for t in (as_str(series.get("name")),) if t],
        "series_year": year_of(series.get("year")),
    }


def cast_members(cast: list[dict[str, Any]]) -> list[CastMember]:
    """A series' parsed characters as `names` matches them."""
    return [
        CastMember(
            person_id=c["id"] or c["character_id"],
            person_name=c["person"],
            character=c["name"],
            order=c["order"],
            has_image=bool(c["image"] or c["person_image"]),
        )
        for c in cast
    ]


def matched_character(query: Query, cast: list[dict[str, Any]]) -> dict[str, Any] | NoMatch:
    """The character of `cast` the query names (names.match_character decides)."""
    members = cast_members(cast)
    found = match_character(query.character_name, members, actor=query.actor, title=query.title)
    if not isinstance(found, CastMatch):
        return found
    return cast[members.index(found.member)]


class TvdbSource:
    name: ClassVar[str] = "tvdb"
    provider: ClassVar[str | None] = PROVIDER

    def __init__(self) -> None:
        self._token: str | None = None
        self._token_lock: asyncio.Lock | None = None

    def unavailable_reason(self, settings: Settings) -> str | None:
        return None if settings.tvdb_api_key else f"{ENV_KEY} is not set"

    def _token_cache_key(self, ctx: SourceContext) -> str:
        # The key is part of the (hashed) cache key: another account's token is never reused.
        api_key = ctx.settings.tvdb_api_key.reveal() if ctx.settings.tvdb_api_key else ""
        return cache_key("tvdb-token", ctx.settings.tvdb_api_url, api_key)

    async def _login(self, ctx: SourceContext, *, force: bool) -> str:
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            if self._token and not force:
                return self._token
            key = self._token_cache_key(ctx)
            if not force:
                cached = ctx.cache.get("response", key)
                if isinstance(cached, str) and cached:
                    self._token = cached
                    return cached
            settings = ctx.settings
            response = await ctx.http.request(
                PROVIDER, "POST", f"{settings.tvdb_api_url}/login", json=login_body(settings)
            )
            payload = json_body(response, PROVIDER)
            if response.status_code in LOGIN_REJECTED:
                message = as_str(payload.get("message")) if isinstance(payload, dict) else ""
                raise CredentialRejected("TVDB", ENV_KEY, message)
            data = payload.get("data") if isinstance(payload, dict) else None
            token = as_str(data.get("token")) if isinstance(data, dict) else ""
            if response.status_code >= 400 or not token:
                raise ProviderResponseError(PROVIDER, f"login answered HTTP {response.status_code}")
            self._token = token
            ctx.cache.set(
                "response", key, token, expire=token_expiry(token, time.time()), tag=PROVIDER
            )
            return token

    async def _get(self, ctx: SourceContext, path: str, params: dict[str, Any]) -> Any:
        relogged = False
        token = await self._login(ctx, force=False)
        while True:
            response = await ctx.http.request(
                PROVIDER,
                "GET",
                f"{ctx.settings.tvdb_api_url}{path}",
                params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
            if response.status_code == 401 and not relogged:
                relogged = True
                token = await self._login(ctx, force=True)
                continue
            if response.status_code in (401, 403):
                raise CredentialRejected("TVDB", ENV_KEY)
            if response.status_code == 404:
                return None
            body = json_body(response, PROVIDER)
            if response.status_code >= 400:
                message = as_str(body.get("message")) if isinstance(body, dict) else ""
                raise ProviderResponseError(
                    PROVIDER, f"HTTP {response.status_code} {message}".strip()
                )
            return body

    async def _series(self, ctx: SourceContext, series_id: str) -> dict[str, Any] | None:
        """The series' `parse_series`, one cached request shared by every row of the series
        (found by search or by `tvdb_id`); None when TVDB has no such series."""
        path = f"/series/{series_id}/extended"

        async def fetch() -> dict[str, Any] | None:
            payload = await self._get(ctx, path, {"meta": "translations", "short": "false"})
            return None if payload is None else parse_series(payload)

        return await cached_response(ctx, PROVIDER, ("series", path), fetch)

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        if query.ids:
            return await self._find_by_ids(query, ctx)
        wanted = split_title_year(query.title, query.year)
        if isinstance(wanted, NoMatch):
            return SourceAnswer.none(wanted.reason)

        async def search() -> list[dict[str, Any]]:
            params: dict[str, Any] = {"query": wanted.title, "type": "series"}
            if wanted.year:
                params["year"] = wanted.year
            results = parse_search(await self._get(ctx, "/search", params) or {"data": []})
            if not results and wanted.year:
                params.pop("year")
                results = parse_search(await self._get(ctx, "/search", params) or {"data": []})
            return results

        results = await cached_response(
            ctx, PROVIDER, ("/search", normalize(wanted.title), wanted.year), search
        )
        titles = [
            TitleCandidate(id=r["id"], titles=tuple(r["titles"]), year=r["year"], rank=i)
            for i, r in enumerate(results)
        ]
        if not results:
            return SourceAnswer.none(f"TVDB has no series called {wanted.title!r}")
        picked = await self._pick_series(ctx, query, plan_titles(wanted.title, wanted.year, titles))
        if isinstance(picked, NoMatch):
            return SourceAnswer.none(picked.reason)
        title_match, chosen = picked
        match = Match(
            person=chosen["person"] or None,
            character=chosen["name"],
            external_id=chosen["character_id"] or chosen["id"],
        )
        found_series = title_match.candidate
        return self._answer(ctx, chosen, match, found_series.year, found_series.titles[0])

    async def _pick_series(
        self, ctx: SourceContext, query: Query, plan: TitlePlan
    ) -> tuple[RankedTitle, dict[str, Any]] | NoMatch:
        """The series and the character the query names: the series whose own title it is
        first (one costs its extended record, as ever; several are compared by the character),
        then, when none has the character, series a subtitle or franchise name links to it.

        The search already gave every title TVDB knows a series by, so a result none of whose
        titles is like the query (TVDB's search also reads overviews) is no candidate, whatever
        its year.
        """
        found: tuple[RankedTitle, dict[str, Any]] | NoMatch = NoMatch(plan.reason)
        if plan.certain:
            found = await self._pick_in(ctx, query, plan.certain[:TITLE_WORKS_COMPARED])
            if not isinstance(found, NoMatch) or found.reason.startswith("ambiguous"):
                return found
        variants = [work for work in plan.others if work.strength != "unconfirmed"]
        if not variants:
            return found
        fallback = await self._pick_in(ctx, query, variants[:TITLE_WORKS_COMPARED])
        if isinstance(fallback, NoMatch) and plan.certain:
            return fallback if fallback.reason.startswith("ambiguous") else found
        return fallback

    async def _pick_in(
        self, ctx: SourceContext, query: Query, works: list[RankedTitle]
    ) -> tuple[RankedTitle, dict[str, Any]] | NoMatch:
        """`names.pick_work` over `works` (their characters: one cached extended record each)."""
        looked_up = await asyncio.gather(*(self._series(ctx, w.candidate.id) for w in works))
        casts = [series["characters"] if series else [] for series in looked_up]
        if len(works) == 1 and works[0].certain and not casts[0]:
            return NoMatch(f"TVDB lists no characters for series {works[0].candidate.id}")
        rosters = [cast_members(cast) for cast in casts]
        picked = pick_work(
            query.character_name, list(zip(works, rosters, strict=True)), actor=query.actor
        )
        if isinstance(picked, NoMatch):
            return picked
        index = works.index(picked.work)
        return picked.work, casts[index][rosters[index].index(picked.match.member)]

    def _answer(
        self,
        ctx: SourceContext,
        chosen: dict[str, Any],
        match: Match,
        year: int | None,
        title: str | None,
    ) -> SourceAnswer:
        """The picture of the character found (by name or by id): its artwork, else the actor's
        TVDB photo; never anybody else's when it has neither."""
        artwork = ctx.settings.tvdb_artwork_url
        # Best first: the character's artwork, then the actor's TVDB photo. Both are offered, so
        # when the artwork turns out dead or truncated (the resolver checks TVDB's pictures) the
        # photo is tried before the cascade leaves TVDB.
        pictures = [
            (normalize_tvdb_image(chosen["image"], artwork), QualityScore.TVDB_CHARACTER),
            (normalize_tvdb_image(chosen["person_image"], artwork), QualityScore.TVDB_ACTOR_PHOTO),
        ]
        offered: dict[str, int] = {}
        for url, quality in pictures:
            if url is not None and url not in offered:
                offered[url] = quality
        if not offered:
            return SourceAnswer.none(
                f"found {chosen['person'] or 'an actor'} as {chosen['name']!r} "
                "but TVDB has no picture of them"
            )
        return SourceAnswer(
            [
                Candidate(
                    image_url=url,
                    source=Source.TVDB,
                    quality_score=quality,
                    matched=match,
                    media_type=MediaType.TV,
                    year=year,
                    title=title,
                )
                for url, quality in offered.items()
            ]
        )

    async def _find_by_ids(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        """Resolve a row by its TVDB ids: the series' characters by `tvdb_id` (the cached
        extended record), then the character by `tvdb_character_id`, or by name when only the
        series is given. IdentityMismatch when the row's title or character is not the id's."""
        ids = query.ids
        if ids.tvdb_id is None:
            return await self._find_by_character(query, ctx)
        series_id = str(ids.tvdb_id)
        series_label = id_label("tvdb_id", series_id)
        series = await self._series(ctx, series_id)
        if series is None:
            return SourceAnswer.none(f"TVDB has no series with {series_label}")
        if mismatch := title_contradiction(series_label, query, series["titles"], series["year"]):
            raise IdentityMismatch(mismatch)
        title = series["titles"][0] if series["titles"] else None
        cast: list[dict[str, Any]] = series["characters"]
        if ids.tvdb_character_id is not None:
            label = id_label("tvdb_character_id", ids.tvdb_character_id)
            wanted = str(ids.tvdb_character_id)
            chosen = next((c for c in cast if c["character_id"] == wanted), None)
            if chosen is None:
                shown = f"the series {title!r}" if title else f"series {series_id}"
                raise IdentityMismatch(
                    f"{label} is not an actor's character in {shown} ({series_label})."
                )
            who = chosen["person"] or None
            if mismatch := character_contradiction(
                label, query, who, chosen["name"], chosen.get("aliases") or ()
            ):
                raise IdentityMismatch(mismatch)
        else:
            # Only the series is known: its characters are matched by name, as after a search.
            found = matched_character(query, cast)
            if isinstance(found, NoMatch):
                return SourceAnswer.none(found.reason)
            chosen = found
        match = Match(
            person=chosen["person"] or None,
            character=chosen["name"],
            external_id=chosen["character_id"] or chosen["id"],
            work_id=series_id,
        )
        return self._answer(ctx, chosen, match, series["year"], title)

    async def _find_by_character(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        """Resolve a row by its `tvdb_character_id` alone: `/characters/{id}` names the
        character, the actor and the series. The series' original-language name is all that
        reply has of its titles: when it is not the row's title, the series record (shared with
        its other rows) is asked for its translations and aliases before calling it a mismatch."""
        character_id = query.ids.tvdb_character_id
        if character_id is None:
            return SourceAnswer.none("the row has no TVDB id")
        label = id_label("tvdb_character_id", character_id)
        path = f"/characters/{character_id}"

        async def fetch() -> dict[str, Any]:
            payload = await self._get(ctx, path, {})
            return {} if payload is None else parse_character(payload)

        chosen = await cached_response(ctx, PROVIDER, (path,), fetch)
        if not chosen:
            return SourceAnswer.none(f"TVDB has no character with {label}")
        if not chosen["series_id"]:
            return SourceAnswer.none(f"{label} is a film's character, not a series'")
        if chosen["type"] is not None and chosen["type"] not in ACTOR_TYPES:
            raise IdentityMismatch(f"{label} is {chosen['person'] or 'a person'}'s crew credit.")
        titles, year = chosen["series_titles"], chosen["series_year"]
        if title_contradiction(label, query, titles, year):
            series = await self._series(ctx, chosen["series_id"])
            if series is not None:
                titles = [*series["titles"], *titles]
                year = series["year"] or year
            if mismatch := title_contradiction(label, query, titles, year):
                raise IdentityMismatch(mismatch)
        who = chosen["person"] or None
        if mismatch := character_contradiction(
            label, query, who, chosen["name"], chosen["aliases"]
        ):
            raise IdentityMismatch(mismatch)
        match = Match(
            person=who,
            character=chosen["name"],
            external_id=chosen["character_id"] or chosen["id"],
            work_id=chosen["series_id"],
        )
        return self._answer(ctx, chosen, match, year, titles[0] if titles else None)

    async def candidates(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        """Both pictures TVDB has of the matched role, as `find` offers them: the character's
        artwork, then the actor's photo."""
        return await self.find(query, ctx)


# --- what the rest of coverctl knows about TVDB (sources/spec.py) ------------------------------


def doctor_probe(settings: Settings) -> HttpProbe:
    """`POST /login`, as the source logs in: accepted when the answer carries a token."""
    import httpx

    request = None
    if settings.tvdb_api_key:
        request = httpx.Request(
            "POST",
            f"{settings.tvdb_api_url}/login",
            json=login_body(settings),
            headers={"Accept": "application/json"},
        )

    def accept(response: httpx.Response) -> str:
        data = probe_json(response).get("data")
        if not isinstance(data, dict) or not data.get("token"):
            raise ProbeRejected("the login answer carries no token")
        return "API key accepted (logged in)"

    return HttpProbe(
        PROVIDER,
        "TVDB",
        ENV_KEY,
        "TVDB_API_URL",
        settings.tvdb_api_url,
        request,
        accept,
        "Check TVDB_API_KEY (and TVDB_PIN for a user-subscription key) at "
        "https://thetvdb.com/dashboard/account/apikey.",
        rejects=lambda response: response.status_code in LOGIN_REJECTED,
    )


SPECS = (
    ProviderSpec(
        step="tvdb",
        source=Source.TVDB,
        source_class=TvdbSource,
        provider=PROVIDER,
        rate=20.0,
        variables=(
            Variable(ENV_KEY, "TheTVDB v4 API key", secret=True, field="tvdb_api_key"),
            Variable(
                "TVDB_PIN", "TheTVDB subscriber PIN (optional)", secret=True, field="tvdb_pin"
            ),
            Variable("TVDB_API_URL", "TheTVDB API base URL", url=True, field="tvdb_api_url"),
            Variable(
                "TVDB_ARTWORK_URL",
                "prefix for relative TheTVDB artwork paths",
                url=True,
                field="tvdb_artwork_url",
            ),
        ),
        key_variable=ENV_KEY,
        media_types=frozenset({MediaType.TV, None}),
        priority=20,  # before TMDB's TV credits: character artwork scores higher
        calls=CallEstimate("title", 2, 2),  # the search and the series' extended record
        # The character artwork, then the actor's photo when the artwork is broken.
        downloads=PictureDownloads(1, 2),
        scores=(QualityScore.TVDB_CHARACTER, QualityScore.TVDB_ACTOR_PHOTO),
        # Character artwork is often dead (404) or a truncated JPEG; person photos less so but
        # come from the same host.
        picture_trust=PictureTrust.UNRELIABLE,
        hosts=PictureHosts(("thetvdb.com", ".thetvdb.com"), ("TVDB_ARTWORK_URL",)),
        probe=doctor_probe,
    ),
)
