"""TheTVDB v4 (REST): log in once, search the series, match a character of its extended record.

The bearer token lasts a month: it is kept in memory and in the cache until it expires. A 401 on
a data call means the token went stale: log in again once, then give up with exit 4.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any, ClassVar

from coverctl.config import Settings
from coverctl.constants import MediaType, QualityScore, Source
from coverctl.errors import CredentialRejected, ProviderResponseError
from coverctl.models import Candidate, Match, Query
from coverctl.names import (
    CastMatch,
    CastMember,
    TitleCandidate,
    TitleMatch,
    match_character,
    match_title,
    normalize,
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
from coverctl.store.cache import cache_key
from coverctl.urls import normalize_tvdb_image

PROVIDER = "tvdb"
ENV_KEY = "TVDB_API_KEY"
ACTOR_TYPES = frozenset({3, 4})  # 3 = actor, 4 = guest star
TOKEN_LIFETIME = 28 * 24 * 3600  # documented as one month; stay under it


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
                "id": as_str(item.get("peopleId")) or str(as_int(item.get("peopleId")) or ""),
                "character_id": str(item.get("id") or ""),
                "name": as_str(item.get("name")),
                "person": as_str(item.get("personName")),
                "image": item.get("image"),
                "person_image": item.get("personImgURL"),
                "order": sort if sort is not None and sort > 0 else 1000 + index,
            }
        )
    return characters


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
            assert settings.tvdb_api_key is not None
            body = {"apikey": settings.tvdb_api_key.reveal()}
            if settings.tvdb_pin:
                body["pin"] = settings.tvdb_pin.reveal()
            response = await ctx.http.request(
                PROVIDER, "POST", f"{settings.tvdb_api_url}/login", json=body
            )
            payload = json_body(response, PROVIDER)
            if response.status_code in (400, 401, 403):
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

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        async def search() -> list[dict[str, Any]]:
            params: dict[str, Any] = {"query": query.title, "type": "series"}
            if query.year:
                params["year"] = query.year
            results = parse_search(await self._get(ctx, "/search", params) or {"data": []})
            if not results and query.year:
                params.pop("year")
                results = parse_search(await self._get(ctx, "/search", params) or {"data": []})
            return results

        results = await cached_response(
            ctx, PROVIDER, ("/search", normalize(query.title), query.year), search
        )
        titles = [
            TitleCandidate(id=r["id"], titles=tuple(r["titles"]), year=r["year"], rank=i)
            for i, r in enumerate(results)
        ]
        title_match = match_title(query.title, query.year, titles)
        if not isinstance(title_match, TitleMatch):
            return SourceAnswer.none(
                title_match.reason if results else f"TVDB has no series called {query.title!r}"
            )
        series_id = title_match.candidate.id
        path = f"/series/{series_id}/extended"

        async def characters() -> list[dict[str, Any]] | None:
            payload = await self._get(ctx, path, {"meta": "translations", "short": "false"})
            return None if payload is None else parse_characters(payload)

        cast = await cached_response(ctx, PROVIDER, (path,), characters)
        if not cast:
            return SourceAnswer.none(f"TVDB lists no characters for series {series_id}")
        members = [
            CastMember(
                person_id=c["id"] or c["character_id"],
                person_name=c["person"],
                character=c["name"],
                order=c["order"],
                has_image=bool(c["image"] or c["person_image"]),
            )
            for c in cast
        ]
        found = match_character(query.character_name, members, actor=query.actor)
        if not isinstance(found, CastMatch):
            return SourceAnswer.none(found.reason)
        chosen = cast[members.index(found.member)]
        match = Match(
            person=chosen["person"] or None,
            character=chosen["name"],
            external_id=chosen["character_id"] or chosen["id"],
        )
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
                    year=title_match.candidate.year,
                    title=title_match.candidate.titles[0],
                )
                for url, quality in offered.items()
            ]
        )
