"""TMDB v3: search the title, fetch its cast in the same round trip, match the character.

A movie costs two requests however many of its characters are asked for: the search and the
details with `append_to_response=credits` are cached (24 h) and shared by concurrent tasks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from coverctl.config import Settings
from coverctl.constants import TMDB_PROFILE_SIZE, MediaType, QualityScore, Source
from coverctl.errors import CredentialRejected, ProviderResponseError
from coverctl.models import Candidate, Match, Query
from coverctl.names import (
    CastMatch,
    CastMember,
    TitleCandidate,
    TitleMatch,
    character_aliases,
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
from coverctl.sources.local import find_actor_file, local_candidate

PROVIDER = "tmdb"
ENV_KEY = "TMDB_API_KEY"
_SELF_CREDITS = frozenset({"self", "himself", "herself", "themselves", "themself"})
_ALIAS_SEPARATOR = re.compile(r"\s*[/;|]\s*")
_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")


def billed_name(credit: str) -> str | None:
    """The name a credit is listed under, or None for an unnamed or "Himself" credit.

    The first alias, without a qualifier such as "(voice)" but keeping one that changes who it
    is ("Bruce Wayne (young)"): "Bruce Wayne / Batman" -> "Bruce Wayne", "Woody (voice)" ->
    "Woody".
    """
    first = _ALIAS_SEPARATOR.split(" ".join(credit.split()), maxsplit=1)[0]
    aliases = character_aliases(first)
    if not aliases or aliases[0] in _SELF_CREDITS:
        return None
    stripped = " ".join(_BRACKETED.sub(" ", first).split())
    return stripped if stripped and normalize(stripped) == aliases[0] else first


def auth(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """(params, headers) carrying the key: a v4 read token as Bearer, a v3 key as api_key."""
    assert settings.tmdb_api_key is not None
    key = settings.tmdb_api_key.reveal()
    if key.startswith("eyJ") and key.count(".") == 2:
        return {}, {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    return {"api_key": key}, {"Accept": "application/json"}


def parse_search(payload: Any, media: str) -> list[dict[str, Any]]:
    """The fields we use from a /search/movie or /search/tv reply."""
    data = expect_dict(payload, PROVIDER, "the search reply")
    results = []
    for item in as_list(data.get("results")):
        if not isinstance(item, dict) or as_int(item.get("id")) is None:
            continue
        if media == MediaType.MOVIE:
            titles = [as_str(item.get("title")), as_str(item.get("original_title"))]
            year = year_of(item.get("release_date"))
        else:
            titles = [as_str(item.get("name")), as_str(item.get("original_name"))]
            year = year_of(item.get("first_air_date"))
        titles = [t for t in dict.fromkeys(titles) if t]
        if titles:
            results.append({"id": str(item["id"]), "titles": titles, "year": year})
    return results


def parse_cast(payload: Any, media: str) -> list[dict[str, Any]]:
    """Cast from `/movie/{id}?append_to_response=credits` or `/tv/{id}/aggregate_credits`."""
    data = expect_dict(payload, PROVIDER, "the credits reply")
    if media == MediaType.MOVIE:
        credits = data.get("credits")
        cast = as_list(credits.get("cast")) if isinstance(credits, dict) else []
    else:
        cast = as_list(data.get("cast"))
    members = []
    for index, item in enumerate(cast):
        if not isinstance(item, dict) or as_int(item.get("id")) is None:
            continue
        if media == MediaType.MOVIE:
            character = as_str(item.get("character"))
        else:
            roles = [
                as_str(r.get("character"))
                for r in as_list(item.get("roles"))
                if isinstance(r, dict)
            ]
            character = " / ".join(r for r in roles if r) or as_str(item.get("character"))
        order = as_int(item.get("order"))
        members.append(
            {
                "id": str(item["id"]),
                "name": as_str(item.get("name")),
                "character": character,
                "order": order if order is not None else index,
                "profile_path": as_str(item.get("profile_path")) or None,
            }
        )
    return members


@dataclass(frozen=True)
class BilledCharacter:
    """One entry of a title's cast, as `top_cast` lists it."""

    character: str  # the first name the credit gives ("Bruce Wayne" for "Bruce Wayne / Batman")
    credited_as: str  # the credit as TMDB has it
    person: str
    person_id: str
    order: int


@dataclass(frozen=True)
class CastListing:
    """A title's top billed characters, or none and the reason why."""

    characters: list[BilledCharacter]
    media_type: str
    title: str | None = None  # as TMDB spells it
    year: int | None = None
    reason: str = ""


class _TmdbSource:
    name: ClassVar[str]
    provider: ClassVar[str | None] = PROVIDER
    media: ClassVar[str]
    quality: ClassVar[int]

    def unavailable_reason(self, settings: Settings) -> str | None:
        return None if settings.tmdb_api_key else f"{ENV_KEY} is not set"

    async def _get(self, ctx: SourceContext, path: str, params: dict[str, Any]) -> Any:
        auth_params, headers = auth(ctx.settings)
        response = await ctx.http.request(
            PROVIDER,
            "GET",
            f"{ctx.settings.tmdb_api_url}{path}",
            params={**params, **auth_params},
            headers=headers,
        )
        if response.status_code == 404:
            return None
        body = json_body(response, PROVIDER)
        if response.status_code in (401, 403):
            detail = as_str(body.get("status_message")) if isinstance(body, dict) else ""
            raise CredentialRejected("TMDB", ENV_KEY, detail)
        if response.status_code >= 400:
            message = as_str(body.get("status_message")) if isinstance(body, dict) else ""
            raise ProviderResponseError(PROVIDER, f"HTTP {response.status_code} {message}".strip())
        return body

    async def _search(
        self, ctx: SourceContext, title: str, year: int | None
    ) -> list[dict[str, Any]]:
        path = f"/search/{self.media}"
        year_param = "year" if self.media == MediaType.MOVIE else "first_air_date_year"

        async def fetch() -> list[dict[str, Any]]:
            params: dict[str, Any] = {"query": title, "include_adult": "false"}
            if year:
                params[year_param] = year
            results = parse_search(await self._get(ctx, path, params) or {}, self.media)
            if not results and year:
                # Release years differ by country: ask again without the filter, match ±1 later.
                params.pop(year_param)
                results = parse_search(await self._get(ctx, path, params) or {}, self.media)
            return results

        return await cached_response(ctx, PROVIDER, (path, normalize(title), year), fetch)

    async def _cast(self, ctx: SourceContext, media_id: str) -> list[dict[str, Any]] | None:
        if self.media == MediaType.MOVIE:
            path, params = f"/movie/{media_id}", {"append_to_response": "credits"}
        else:
            path, params = f"/tv/{media_id}/aggregate_credits", {}

        async def fetch() -> list[dict[str, Any]] | None:
            payload = await self._get(ctx, path, params)
            return None if payload is None else parse_cast(payload, self.media)

        return await cached_response(ctx, PROVIDER, (path,), fetch)

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        results = await self._search(ctx, query.title, query.year)
        if not results:
            return SourceAnswer.none(f"TMDB has no {self.media} called {query.title!r}")
        titles = [
            TitleCandidate(id=r["id"], titles=tuple(r["titles"]), year=r["year"], rank=i)
            for i, r in enumerate(results)
        ]
        title_match = match_title(query.title, query.year, titles)
        if not isinstance(title_match, TitleMatch):
            return SourceAnswer.none(title_match.reason)
        media_id = title_match.candidate.id
        cast = await self._cast(ctx, media_id)
        if not cast:
            return SourceAnswer.none(f"TMDB lists no cast for {self.media} {media_id}")
        by_id = {m["id"]: m for m in cast}
        members = [
            CastMember(
                person_id=m["id"],
                person_name=m["name"],
                character=m["character"],
                order=m["order"],
                has_image=bool(m["profile_path"]),
            )
            for m in cast
        ]
        found = match_character(query.character_name, members, actor=query.actor)
        if not isinstance(found, CastMatch):
            return SourceAnswer.none(found.reason)
        member = by_id[found.member.person_id]
        match = Match(
            person=member["name"], character=member["character"], external_id=member["id"]
        )
        override = find_actor_file(
            ctx.settings.static_dir,
            person_name=member["name"],
            media_id=media_id,
            person_id=member["id"],
        )
        if override is not None:
            return SourceAnswer([local_candidate(override, ctx.settings, match)])
        if not member["profile_path"]:
            return SourceAnswer.none(
                f"found {member['name']} as {member['character']!r} but TMDB has no photo of them"
            )
        url = f"{ctx.settings.tmdb_image_base_url}/{TMDB_PROFILE_SIZE}{member['profile_path']}"
        candidate = Candidate(
            image_url=url,
            source=Source.TMDB,
            quality_score=self.quality,
            matched=match,
            media_type=self.media,
            year=title_match.candidate.year,
            title=title_match.candidate.titles[0],
        )
        return SourceAnswer([candidate])

    async def top_cast(self, query: Query, ctx: SourceContext, n: int) -> CastListing:
        """The first `n` billed characters of the title `query` names (its character is ignored).

        Costs the same two cached requests as `find` (search, then details with credits), so
        listing a cast and then resolving each of its characters asks TMDB nothing more. Credits
        without a character name ("", "Himself") are left out.
        """
        results = await self._search(ctx, query.title, query.year)
        if not results:
            reason = f"TMDB has no {self.media} called {query.title!r}"
            return CastListing([], self.media, reason=reason)
        titles = [
            TitleCandidate(id=r["id"], titles=tuple(r["titles"]), year=r["year"], rank=i)
            for i, r in enumerate(results)
        ]
        title_match = match_title(query.title, query.year, titles)
        if not isinstance(title_match, TitleMatch):
            return CastListing([], self.media, reason=title_match.reason)
        found = title_match.candidate
        cast = await self._cast(ctx, found.id) or []
        listed: list[BilledCharacter] = []
        for member in sorted(cast, key=lambda m: m["order"]):
            name = billed_name(member["character"])
            if name is None:
                continue
            listed.append(
                BilledCharacter(
                    character=name,
                    credited_as=member["character"],
                    person=member["name"],
                    person_id=member["id"],
                    order=member["order"],
                )
            )
            if len(listed) == n:
                break
        reason = "" if listed else f"TMDB lists no named characters for {found.titles[0]!r}"
        return CastListing(listed, self.media, found.titles[0], found.year, reason)


class TmdbMovieSource(_TmdbSource):
    name = "tmdb_movie"
    media = MediaType.MOVIE
    quality = QualityScore.TMDB_MOVIE


class TmdbTvSource(_TmdbSource):
    name = "tmdb_tv"
    media = MediaType.TV
    quality = QualityScore.TMDB_TV
