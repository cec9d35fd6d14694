"""TMDB v3: search the title, fetch its cast in the same round trip, match the character.

A title with one matching work costs two requests however many of its characters are asked
for: the search and the details with `append_to_response=credits,alternative_titles` (TV:
`aggregate_credits,alternative_titles`) are cached (24 h) and shared by concurrent tasks.

A title several works share ("House of Cards" 1990 and 2013), or that only a variant of their
titles matches (the US title of a film TMDB lists under its UK one, a subtitle, a franchise
name), costs a details request for each of at most `TITLE_WORKS_COMPARED` of them; the
character decides between them (`names.pick_work`), and which works the title string stands
for is remembered (`remembered_works`), so its other characters cost nothing more.

Rows with TMDB ids skip the search (`_find_by_ids`, rules in `coverctl/identity.py`): `tmdb_id`
costs the same cached details request (a series: its details with the aggregate credits, which
carry its titles), `credit_id` alone one `/credit/{id}` request.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Final

from coverctl.config import Settings
from coverctl.constants import (
    MAX_PERSON_IMAGES,
    TITLE_WORKS_COMPARED,
    TMDB_PROFILE_SIZE,
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
    TitleQuery,
    character_aliases,
    match_character,
    normalize,
    pick_work,
    plan_titles,
    rank_title,
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
    remembered_works,
    year_of,
)
from coverctl.sources.local import find_actor_file, local_candidate
from coverctl.sources.spec import (
    CallEstimate,
    HostRule,
    HttpProbe,
    PictureHosts,
    ProviderSpec,
    Variable,
)

PROVIDER = "tmdb"
ENV_KEY = "TMDB_API_KEY"
_SELF_CREDITS = frozenset({"self", "himself", "herself", "themselves", "themself"})
_ALIAS_SEPARATOR = re.compile(r"\s*[/;|]\s*")
_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
# What a details request appends: the cast (every season's, for a series) and every title the
# work is listed under, so one request serves a search's match, a `tmdb_id` and a title variant.
DETAILS_APPEND: Final = {
    MediaType.MOVIE: "credits,alternative_titles",
    MediaType.TV: "aggregate_credits,alternative_titles",
}


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
    """Cast from `/movie/{id}?append_to_response=credits`, `/tv/{id}/aggregate_credits` or
    `/tv/{id}?append_to_response=aggregate_credits`. Each member's `roles` keep every credit id
    with its character (a series credits one person once per role)."""
    data = expect_dict(payload, PROVIDER, "the credits reply")
    if media == MediaType.MOVIE:
        credits = data.get("credits")
        cast = as_list(credits.get("cast")) if isinstance(credits, dict) else []
    else:
        appended = data.get("aggregate_credits")
        cast = as_list((appended if isinstance(appended, dict) else data).get("cast"))
    members = []
    for index, item in enumerate(cast):
        if not isinstance(item, dict) or as_int(item.get("id")) is None:
            continue
        if media == MediaType.MOVIE:
            character = as_str(item.get("character"))
            roles = [{"credit_id": as_str(item.get("credit_id")), "character": character}]
        else:
            roles = [
                {"credit_id": as_str(r.get("credit_id")), "character": as_str(r.get("character"))}
                for r in as_list(item.get("roles"))
                if isinstance(r, dict)
            ]
            joined = " / ".join(r["character"] for r in roles if r["character"])
            character = joined or as_str(item.get("character"))
        order = as_int(item.get("order"))
        members.append(
            {
                "id": str(item["id"]),
                "name": as_str(item.get("name")),
                "character": character,
                "order": order if order is not None else index,
                "profile_path": as_str(item.get("profile_path")) or None,
                "roles": [r for r in roles if r["credit_id"]],
                # TMDB's gender: 0 not set, 1 female, 2 male, 3 non-binary.
                "gender": _GENDERS.get(as_int(item.get("gender")) or 0),
            }
        )
    return members


_GENDERS = {1: "female", 2: "male"}


def parse_details(payload: Any, media: str) -> dict[str, Any]:
    """A work's titles, year and cast from a details reply with its credits appended (an
    aggregate credits reply alone has no titles: `titles` is then empty)."""
    data = expect_dict(payload, PROVIDER, "the details reply")
    if media == MediaType.MOVIE:
        titles = [as_str(data.get("title")), as_str(data.get("original_title"))]
        year = year_of(data.get("release_date"))
    else:
        titles = [as_str(data.get("name")), as_str(data.get("original_name"))]
        year = year_of(data.get("first_air_date"))
    alternatives = data.get("alternative_titles")
    if isinstance(alternatives, dict):  # movies list `titles`, series `results`
        listed = as_list(alternatives.get("titles")) or as_list(alternatives.get("results"))
        titles += [as_str(a.get("title")) for a in listed if isinstance(a, dict)]
    return {
        "titles": [t for t in dict.fromkeys(titles) if t],
        "year": year,
        "cast": parse_cast(payload, media),
    }


def parse_credit(payload: Any) -> dict[str, Any]:
    """The fields we use from `GET /credit/{credit_id}`: the credit, its work and its person."""
    data = expect_dict(payload, PROVIDER, "the credit reply")
    media = data.get("media")
    media = media if isinstance(media, dict) else {}
    person = data.get("person")
    person = person if isinstance(person, dict) else {}
    media_type = as_str(data.get("media_type")) or as_str(media.get("media_type"))
    if media_type == MediaType.MOVIE:
        titles = [as_str(media.get("title")), as_str(media.get("original_title"))]
        year = year_of(media.get("release_date"))
    else:
        titles = [as_str(media.get("name")), as_str(media.get("original_name"))]
        year = year_of(media.get("first_air_date"))
    person_id = as_int(person.get("id"))
    media_id = as_int(media.get("id"))
    if person_id is None or media_id is None:
        raise ProviderResponseError(PROVIDER, "the credit reply names no person or no work")
    return {
        "credit_type": as_str(data.get("credit_type")),
        "job": as_str(data.get("job")),
        "media_type": media_type,
        "media_id": str(media_id),
        "titles": [t for t in dict.fromkeys(titles) if t],
        "year": year,
        "member": {
            "id": str(person_id),
            "name": as_str(person.get("name")),
            "character": as_str(media.get("character")),
            "profile_path": as_str(person.get("profile_path")) or None,
        },
    }


def credit_in_cast(cast: list[dict[str, Any]], credit_id: str) -> tuple[dict[str, Any], str] | None:
    """The cast member holding `credit_id`, and the character of that one credit."""
    for member in cast:
        for role in member.get("roles") or ():
            if role["credit_id"] == credit_id:
                return member, role["character"] or member["character"]
    return None


def other_person(label: str, member: dict[str, Any], person_id: int | None) -> str | None:
    """Why a credit held by `member` is not the row's `tmdb_person_id`, or None when it is."""
    if person_id is None or member["id"] == str(person_id):
        return None
    return (
        f"{label} is {member['name']} (tmdb_person_id {member['id']}), "
        f"not tmdb_person_id {person_id}."
    )


def cast_members(cast: list[dict[str, Any]]) -> list[CastMember]:
    """A parsed cast as `names` matches it."""
    return [
        CastMember(
            person_id=m["id"],
            person_name=m["name"],
            character=m["character"],
            order=m["order"],
            has_image=bool(m["profile_path"]),
            gender=m.get("gender"),  # absent from replies cached before it was kept
        )
        for m in cast
    ]


def matched_member(query: Query, cast: list[dict[str, Any]]) -> dict[str, Any] | NoMatch:
    """The member of `cast` who plays the query's character (names.match_character decides)."""
    by_id = {m["id"]: m for m in cast}
    found = match_character(
        query.character_name, cast_members(cast), actor=query.actor, title=query.title
    )
    if not isinstance(found, CastMatch):
        return found
    return by_id[found.member.person_id]


def parse_person_images(payload: Any) -> list[dict[str, Any]]:
    """The profile photos of a `/person/{id}/images` reply, in TMDB's order (best voted first)."""
    data = expect_dict(payload, PROVIDER, "the person images reply")
    photos = []
    for item in as_list(data.get("profiles")):
        if not isinstance(item, dict):
            continue
        path = as_str(item.get("file_path"))
        if not path.startswith("/"):
            continue
        photos.append(
            {
                "file_path": path,
                "width": as_int(item.get("width")),
                "height": as_int(item.get("height")),
            }
        )
    return photos


def served_size(width: int | None, height: int | None, size: str) -> tuple[int | None, int | None]:
    """The size TMDB serves a picture at for a size name such as "w500" (never upscaled)."""
    if not width or not height or not size.startswith("w") or not size[1:].isdigit():
        return width, height
    target = min(width, int(size[1:]))
    return target, round(height * target / width)


def _remembered(work: RankedTitle) -> dict[str, Any]:
    candidate = work.candidate
    return {
        "id": candidate.id,
        "title": candidate.titles[0] if candidate.titles else candidate.id,
        "year": candidate.year,
        "strength": work.strength,
        "evidence": work.evidence,
        "distance": work.distance,
    }


def _recalled(entry: dict[str, Any], rank: int) -> RankedTitle:
    candidate = TitleCandidate(entry["id"], (entry["title"],), entry["year"], rank)
    return RankedTitle(candidate, entry["strength"], entry["evidence"], entry["distance"])


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
        details = await self._details(ctx, media_id)
        return None if details is None else details["cast"]

    async def _details(self, ctx: SourceContext, media_id: str) -> dict[str, Any] | None:
        """The work's `parse_details`, one cached request shared by every row of the work (None:
        TMDB has no such work): its details with its credits (a series: the aggregate credits
        of every season) and its alternative titles appended (`DETAILS_APPEND`)."""
        path = f"/{self.media}/{media_id}"
        params = {"append_to_response": DETAILS_APPEND[self.media]}

        async def fetch() -> dict[str, Any] | None:
            payload = await self._get(ctx, path, params)
            return None if payload is None else parse_details(payload, self.media)

        key = ("details", path, params["append_to_response"])
        return await cached_response(ctx, PROVIDER, key, fetch)

    def _plan(self, wanted: TitleQuery, results: list[dict[str, Any]]) -> TitlePlan:
        titles = [
            TitleCandidate(id=r["id"], titles=tuple(r["titles"]), year=r["year"], rank=i)
            for i, r in enumerate(results)
        ]
        return plan_titles(wanted.title, wanted.year, titles)

    async def _works(
        self, ctx: SourceContext, wanted: TitleQuery, candidates: list[RankedTitle], tier: str
    ) -> list[RankedTitle]:
        """The works a shared or variant title may stand for, with the evidence for each.

        The first `TITLE_WORKS_COMPARED` of `candidates` (one tier of the plan) are looked up; a
        work whose title is not certain is kept only when what it is also called (its
        alternative and original titles), or the given year, speaks for it. Remembered per
        title string and tier.
        """

        async def choose() -> list[dict[str, Any]]:
            shortlist = candidates[:TITLE_WORKS_COMPARED]
            looked_up = await asyncio.gather(
                *(self._details(ctx, work.candidate.id) for work in shortlist)
            )
            chosen: list[dict[str, Any]] = []
            for work, details in zip(shortlist, looked_up, strict=True):
                if details is None:
                    continue
                if not work.certain:
                    listed = replace(work.candidate, alternative_titles=tuple(details["titles"]))
                    work = rank_title(wanted.title, wanted.year, listed) or work
                if work.certain or work.evidence:
                    chosen.append(_remembered(work))
            return chosen

        key = (self.media, normalize(wanted.title), wanted.year, tier)
        remembered = await remembered_works(ctx, PROVIDER, key, choose)
        return [_recalled(entry, rank) for rank, entry in enumerate(remembered)]

    async def _credit(self, ctx: SourceContext, credit_id: str) -> dict[str, Any]:
        """`parse_credit` of one credit ({} when TMDB has none), cached: with no media type the
        movie and the TV step both ask, and only the first one sends the request."""
        path = f"/credit/{credit_id}"

        async def fetch() -> dict[str, Any]:
            payload = await self._get(ctx, path, {})
            return {} if payload is None else parse_credit(payload)

        return await cached_response(ctx, PROVIDER, (path,), fetch)

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        if query.ids:
            return await self._find_by_ids(query, ctx)
        wanted = split_title_year(query.title, query.year)
        if isinstance(wanted, NoMatch):
            return SourceAnswer.none(wanted.reason)
        results = await self._search(ctx, wanted.title, wanted.year)
        if not results:
            return SourceAnswer.none(f"TMDB has no {self.media} called {wanted.title!r}")
        picked = await self._pick_work(ctx, query, wanted, self._plan(wanted, results))
        if isinstance(picked, NoMatch):
            return SourceAnswer.none(picked.reason)
        title_match, member = picked
        media_id = title_match.candidate.id
        match = Match(
            person=member["name"], character=member["character"], external_id=member["id"]
        )
        found = title_match.candidate
        return self._answer(ctx, member, match, media_id, found.year, found.titles[0])

    async def _pick_work(
        self, ctx: SourceContext, query: Query, wanted: TitleQuery, plan: TitlePlan
    ) -> tuple[RankedTitle, dict[str, Any]] | NoMatch:
        """The work and the cast member the query names.

        The works whose own title it is come first: one costs its details request, as ever;
        several (a shared title) are compared by the character. When none of them has the
        character, or no work has the title, the other results a second signal speaks for
        (an alternative title, a subtitle or franchise name, the year) are compared the same
        way, each at most once per title string.
        """
        found: tuple[RankedTitle, dict[str, Any]] | NoMatch = NoMatch(plan.reason)
        if plan.certain:
            certain = plan.certain
            if len(certain) > 1:
                certain = await self._works(ctx, wanted, certain, "certain")
            found = await self._pick_in(ctx, query, certain)
            settled = not isinstance(found, NoMatch) or found.reason.startswith("ambiguous")
            if settled or not plan.others:
                return found
        variants = await self._works(ctx, wanted, plan.others, "others")
        if not variants:
            return found
        fallback = await self._pick_in(ctx, query, variants)
        if isinstance(fallback, NoMatch) and plan.certain:
            return fallback if fallback.reason.startswith("ambiguous") else found
        return fallback

    async def _pick_in(
        self, ctx: SourceContext, query: Query, works: list[RankedTitle]
    ) -> tuple[RankedTitle, dict[str, Any]] | NoMatch:
        """`names.pick_work` over `works` (their casts: one cached details request each)."""
        casts = [await self._cast(ctx, work.candidate.id) or [] for work in works]
        if len(works) == 1 and works[0].certain and not casts[0]:
            return NoMatch(f"TMDB lists no cast for {self.media} {works[0].candidate.id}")
        chosen = pick_work(
            query.character_name,
            [(work, cast_members(cast)) for work, cast in zip(works, casts, strict=True)],
            actor=query.actor,
        )
        if isinstance(chosen, NoMatch):
            return chosen
        cast = casts[works.index(chosen.work)]
        return chosen.work, next(m for m in cast if m["id"] == chosen.match.member.person_id)

    def _answer(
        self,
        ctx: SourceContext,
        member: dict[str, Any],
        match: Match,
        media_id: str,
        year: int | None,
        title: str | None,
    ) -> SourceAnswer:
        """The picture of the cast member found (by name or by id): a local actor file, else
        their TMDB profile photo; never another person's when they have none."""
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
                f"found {member['name']} as {match.character!r} but TMDB has no photo of them"
            )
        url = f"{ctx.settings.tmdb_image_base_url}/{TMDB_PROFILE_SIZE}{member['profile_path']}"
        candidate = Candidate(
            image_url=url,
            source=Source.TMDB,
            quality_score=self.quality,
            matched=match,
            media_type=self.media,
            year=year,
            title=title,
        )
        return SourceAnswer([candidate])

    async def _find_by_ids(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        """Resolve a row by its TMDB ids: the work's cast by `tmdb_id` (the cached details
        request), then the member by `credit_id` or `tmdb_person_id`, or by name when only the
        work is given. IdentityMismatch when the row's title or character is not the id's."""
        ids = query.ids
        if ids.tmdb_id is None:
            return await self._find_by_credit(query, ctx)
        media_id = str(ids.tmdb_id)
        work_label = id_label("tmdb_id", media_id)
        work = await self._details(ctx, media_id)
        if work is None:
            return SourceAnswer.none(f"TMDB has no {self.media} with {work_label}")
        if mismatch := title_contradiction(work_label, query, work["titles"], work["year"]):
            raise IdentityMismatch(mismatch)
        title = work["titles"][0] if work["titles"] else None
        shown = f"the {self.media} {title!r}" if title else f"{self.media} {media_id}"
        cast: list[dict[str, Any]] = work["cast"]
        if ids.credit_id is not None:
            label = id_label("credit_id", ids.credit_id)
            held = credit_in_cast(cast, ids.credit_id)
            if held is None:
                raise IdentityMismatch(f"{label} is not a role in {shown} ({work_label}).")
            member, character = held
            if mismatch := other_person(label, member, ids.tmdb_person_id):
                raise IdentityMismatch(mismatch)
        elif ids.tmdb_person_id is not None:
            label = id_label("tmdb_person_id", ids.tmdb_person_id)
            person = next((m for m in cast if m["id"] == str(ids.tmdb_person_id)), None)
            if person is None:
                raise IdentityMismatch(f"{label} is not in the cast of {shown} ({work_label}).")
            member, character = person, person["character"]
        else:
            # Only the work is known: its cast is matched by name, as after a search.
            if not cast:
                return SourceAnswer.none(f"TMDB lists no cast for {shown}")
            found = matched_member(query, cast)
            if isinstance(found, NoMatch):
                return SourceAnswer.none(found.reason)
            member, character, label = found, found["character"], ""
        if label and (mismatch := character_contradiction(label, query, member["name"], character)):
            raise IdentityMismatch(mismatch)
        roles = member.get("roles") or []
        credit_id = ids.credit_id or (roles[0]["credit_id"] if len(roles) == 1 else None)
        match = Match(
            person=member["name"],
            character=character,
            external_id=member["id"],
            credit_id=credit_id,
            work_id=media_id,
        )
        return self._answer(ctx, member, match, media_id, work["year"], title)

    async def _find_by_credit(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        """Resolve a row by its `credit_id` alone: one `/credit/{id}` request names the work,
        the person and the character."""
        credit_id = query.ids.credit_id
        if credit_id is None:
            return SourceAnswer.none("the row has no TMDB id")
        label = id_label("credit_id", credit_id)
        credit = await self._credit(ctx, credit_id)
        if not credit:
            return SourceAnswer.none(f"TMDB has no credit with {label}")
        titles, member = credit["titles"], credit["member"]
        title = titles[0] if titles else None
        if credit["media_type"] != self.media:
            what = "series" if credit["media_type"] == MediaType.TV else credit["media_type"]
            if query.media_type is None:  # the other TMDB step answers it
                return SourceAnswer.none(f"{label} is a {what} credit, not a {self.media} one")
            raise IdentityMismatch(
                f"{label} is a credit of the {what} {title!r}, not of a {query.media_type}."
            )
        if credit["credit_type"] != "cast":
            job = credit["job"] or "crew"
            raise IdentityMismatch(f"{label} is {member['name']}'s {job} credit, not a role.")
        if mismatch := other_person(label, member, query.ids.tmdb_person_id):
            raise IdentityMismatch(mismatch)
        if mismatch := title_contradiction(label, query, titles, credit["year"]):
            raise IdentityMismatch(mismatch)
        character = member["character"]
        if mismatch := character_contradiction(label, query, member["name"], character):
            raise IdentityMismatch(mismatch)
        match = Match(
            person=member["name"],
            character=character,
            external_id=member["id"],
            credit_id=credit_id,
            work_id=credit["media_id"],
        )
        return self._answer(ctx, member, match, credit["media_id"], credit["year"], title)

    async def candidates(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        """`find`'s answer, then the other profile photos of the same person (one cached
        `/person/{id}/images` request): never another person's."""
        answer = await self.find(query, ctx)
        if not answer.candidates or not answer.candidates[0].matched.external_id:
            return answer
        first = answer.candidates[0]
        person_id = first.matched.external_id
        path = f"/person/{person_id}/images"

        async def fetch() -> list[dict[str, Any]]:
            payload = await self._get(ctx, path, {})
            return [] if payload is None else parse_person_images(payload)

        photos = await cached_response(ctx, PROVIDER, (path,), fetch)
        base = f"{ctx.settings.tmdb_image_base_url}/{TMDB_PROFILE_SIZE}"
        sizes = {
            f"{base}{p['file_path']}": served_size(p["width"], p["height"], TMDB_PROFILE_SIZE)
            for p in photos
        }
        listed = [
            replace(c, image_width=sizes[c.image_url][0], image_height=sizes[c.image_url][1])
            if c.image_url in sizes
            else c
            for c in answer.candidates
        ]
        for photo in photos[:MAX_PERSON_IMAGES]:
            url = f"{base}{photo['file_path']}"
            if any(c.image_url == url for c in listed):
                continue
            width, height = sizes[url]
            listed.append(
                replace(
                    first,
                    image_url=url,
                    source=Source.TMDB,
                    quality_score=self.quality,
                    image_hash=None,
                    image_width=width,
                    image_height=height,
                )
            )
        return SourceAnswer(listed)

    async def top_cast(self, query: Query, ctx: SourceContext, n: int) -> CastListing:
        """The first `n` billed characters of the title `query` names (its character is ignored).

        Costs the same two cached requests as `find` (search, then details with credits), so
        listing a cast and then resolving each of its characters asks TMDB nothing more. With no
        character to confirm a variant title, only a work's own or listed alternative title is
        accepted. Credits without a character name ("", "Himself") are left out.
        """
        wanted = split_title_year(query.title, query.year)
        if isinstance(wanted, NoMatch):
            return CastListing([], self.media, reason=wanted.reason)
        results = await self._search(ctx, wanted.title, wanted.year)
        if not results:
            reason = f"TMDB has no {self.media} called {wanted.title!r}"
            return CastListing([], self.media, reason=reason)
        plan = self._plan(wanted, results)
        if plan.certain:
            # No character to decide between works sharing the title: TMDB's first, as ever.
            found = plan.certain[0].candidate
        else:
            # Nor to confirm a variant: only a title TMDB lists for the work is enough.
            works = await self._works(ctx, wanted, plan.others, "others")
            also = [work for work in works if work.strength == "alternative"]
            if len(also) != 1:
                reason = plan.reason
                if also:
                    named = " and ".join(work.describe() for work in also)
                    reason = f"ambiguous: '{wanted.title}' is also the title of {named}"
                return CastListing([], self.media, reason=reason)
            found = also[0].candidate
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


# --- what the rest of coverctl knows about TMDB (sources/spec.py) ------------------------------


def doctor_probe(settings: Settings) -> HttpProbe:
    """`GET /configuration`, the cheapest request that needs a valid key, sent the way the
    source sends its own (`auth`: a v4 token as Bearer, a v3 key as `api_key`)."""
    import httpx

    request = None
    if settings.tmdb_api_key:
        params, headers = auth(settings)
        request = httpx.Request(
            "GET", f"{settings.tmdb_api_url}/configuration", params=params, headers=headers
        )
    return HttpProbe(
        PROVIDER,
        "TMDB",
        ENV_KEY,
        "TMDB_API_URL",
        settings.tmdb_api_url,
        request,
        lambda response: "API key accepted",
        "Check TMDB_API_KEY: a v3 API key or a v4 read access token from "
        "https://www.themoviedb.org/settings/api.",
    )


TMDB_MOVIE_SPEC = ProviderSpec(
    step="tmdb_movie",
    source=Source.TMDB,
    source_class=TmdbMovieSource,
    provider=PROVIDER,
    rate=40.0,  # default rates: cli-contract.md "Rate limits"
    variables=(
        Variable(
            ENV_KEY,
            "TMDB v3 API key or v4 read access token",
            secret=True,
            field="tmdb_api_key",
        ),
        Variable("TMDB_API_URL", "TMDB API base URL", url=True, field="tmdb_api_url"),
        Variable(
            "TMDB_IMAGE_BASE_URL", "TMDB image base URL", url=True, field="tmdb_image_base_url"
        ),
    ),
    key_variable=ENV_KEY,
    media_types=frozenset({MediaType.MOVIE, None}),
    priority=10,  # first for films and for titles of unknown type
    # A search and the details with credits per title; a search without the year when the first
    # found nothing.
    calls=CallEstimate("title", 2, 3),
    scores=(QualityScore.TMDB_MOVIE,),
    # TMDB's image CDN serves the profile it lists: checking it would cost a download per row.
    picture_trust=PictureTrust.TRUSTED,
    hosts=PictureHosts(("image.tmdb.org",), ("TMDB_IMAGE_BASE_URL",), HostRule.OWN),
    probe=doctor_probe,
)
TMDB_TV_SPEC = replace(
    TMDB_MOVIE_SPEC,
    step="tmdb_tv",
    source_class=TmdbTvSource,
    media_types=frozenset({MediaType.TV, None}),
    priority=30,  # after TVDB, whose character artwork scores higher
    scores=(QualityScore.TMDB_TV,),
)
SPECS = (TMDB_MOVIE_SPEC, TMDB_TV_SPEC)
