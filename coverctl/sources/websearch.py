"""Web image search (DuckDuckGo's unofficial image API): the last provider step (quality 30).

Query text: ``"{character}" {title} {year} character``. The name is quoted so the engine keeps it
together, the title and year keep the search inside the right work, and the word "character"
favours pictures of the character over posters of the title.

Flow: ``GET {DUCKDUCKGO_URL}/?q=`` returns a page carrying a ``vqd`` token; ``GET /i.js`` with that
token and a ``Referer`` header returns the results. The parsed results are kept forever in the
``search`` cache tier (design), so one query is sent to DuckDuckGo once; an empty answer is not
kept (it may be a soft block).

Rate limiting: DuckDuckGo answers 202, 403 or 429 when it wants us gone. The ``duckduckgo`` gate is
then paused for :data:`RATE_LIMIT_PAUSE` seconds and the source reports itself unavailable for the
row. While the gate is paused the source answers "unavailable" at once instead of waiting, and
searches queue on a lock (not inside the gate), so a batch never stalls on a pause.

Identity guard: a web search cannot confirm who is in a picture, so a result is considered only
when its title names the character: the words of the normalised name appear in order in the
normalised result title (or the name written together: "Spiderman" for "Spider-Man"; a leading
"the" is ignored), and not next to an age word ("Young Bruce Wayne" is a child actor). Names are
shared by real people ("Michael Scott (footballer)"), so the result's title or page URL must also
name the work's title; when the character's name is the title ("Joker" in Joker) it must name the
year as well. With ``--actor``, the title must name the actor too. Results failing the guard are
never downloaded.

Validation: every result is a stranger's picture. Up to :data:`MAX_CHECKED` results passing the
guard, among the first :data:`MAX_CONSIDERED`, are downloaded (http(s) only, no local or private
addresses, size-capped, short timeout, paced as ``image_fetch``) and checked with
``images.inspect_image(..., Use.PROFILE)``. The best ``combined_score(30, info)`` wins, not the
first result; ties go to the earlier result. Every passing result is returned, best first, so a
picture a curator rejected gives way to the next one.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from coverctl.config import Settings
from coverctl.constants import PictureTrust, QualityScore, Source
from coverctl.errors import ImageRejected, ProviderError, ProviderResponseError, ProviderUnavailable
from coverctl.models import Candidate, Match, Query
from coverctl.names import normalize
from coverctl.sources.base import (
    SourceAnswer,
    SourceContext,
    as_int,
    as_list,
    as_str,
    expect_dict,
    json_body,
)
from coverctl.sources.spec import (
    CallEstimate,
    HostRule,
    PictureDownloads,
    PictureHosts,
    ProviderSpec,
    Variable,
)
from coverctl.urls import is_remote

if TYPE_CHECKING:
    from coverctl.images import ImageInfo
    from coverctl.net.http import ProviderGate

PROVIDER: Final = "duckduckgo"
RATE_LIMIT_STATUSES: Final = frozenset({202, 403, 429})
RATE_LIMIT_PAUSE: Final = 60.0  # seconds without any DuckDuckGo request after a rate-limit answer
MAX_CONSIDERED: Final = 20  # results looked at (by title only)
MAX_CHECKED: Final = 5  # results downloaded and checked, at most
MIN_URL_TITLE_LENGTH: Final = 4
# Part of the cache key: change it when search_text() changes, so old results are not reused.
SEARCH_TEXT_VERSION: Final = 1  # shorter work titles ("Up") are not looked for inside URLs

_VQD_RE: Final = re.compile(r"""vqd\s*=\s*(?:"([^"]*)"|'([^']*)'|([^&"'\s<>;,]+)&)""")
_VQD_TOKEN_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_ARTICLES: Final = frozenset({"the", "a", "an"})
# Words that, next to the name in a result title, mean another actor plays an age variant.
AGE_WORDS: Final = frozenset(
    {"young", "younger", "teen", "teenage", "child", "kid", "little", "baby", "old", "older"}
)


def search_text(query: Query) -> str:
    """What is typed into the search box for `query` (see the module docstring)."""
    name = query.character_name.replace('"', "")
    parts = [f'"{name}"', query.title]
    if query.year:
        parts.append(str(query.year))
    parts.append("character")
    return " ".join(parts)


def extract_vqd(page: str) -> str | None:
    """The vqd token from the search page (`vqd="…"`, `vqd='…'` or `vqd=…&`), or None."""
    for match in _VQD_RE.finditer(page):
        token = next((g for g in match.groups() if g), "")
        if _VQD_TOKEN_RE.match(token):
            return token
    return None


def parse_results(payload: Any) -> list[dict[str, Any]]:
    """The fields we use from an i.js reply; results without an http(s) image are dropped."""
    data = expect_dict(payload, PROVIDER, "the image search reply")
    results = []
    for item in as_list(data.get("results")):
        if not isinstance(item, dict):
            continue
        image = as_str(item.get("image"))
        if not is_remote(image):
            continue
        results.append(
            {
                "title": as_str(item.get("title")),
                "image": image,
                "url": as_str(item.get("url")),
                "width": as_int(item.get("width")),
                "height": as_int(item.get("height")),
            }
        )
    return results


def _words(text: str, *, drop_article: bool = False) -> list[str]:
    words = normalize(text).split()
    if drop_article and len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return words


def _spans(wanted: list[str], words: list[str]) -> list[tuple[int, int]]:
    """Where `wanted` occurs in `words`: as a run of words, or written together or apart."""
    size = len(wanted)
    spans = [(i, i + size) for i in range(len(words) - size + 1) if words[i : i + size] == wanted]
    compact = "".join(wanted)
    for start in range(len(words)):
        joined, end = "", start
        while end < len(words) and len(joined) < len(compact):
            joined += words[end]
            end += 1
        if joined == compact and (start, end) not in spans:
            spans.append((start, end))
    return spans


def mentions(name: str, text: str, *, plain: bool = False) -> bool:
    """Whether `text` names `name`: its words in order, or the name written together or apart
    ("Spiderman" / "Spider-Man"); a leading "the" of the name is ignored. With `plain`, an
    occurrence next to an age word ("Young Bruce Wayne", "Bruce Wayne (child)") does not count:
    that picture shows another actor."""
    wanted = _words(name, drop_article=True)
    words = _words(text)
    if not wanted or not words:
        return False
    for start, end in _spans(wanted, words):
        before = words[start - 1] if start > 0 else ""
        after = words[end] if end < len(words) else ""
        if not plain or (before not in AGE_WORDS and after not in AGE_WORDS):
            return True
    return False


def names_work(work_title: str, result: dict[str, Any]) -> bool:
    """Whether a result's title, or its page URL, names the work."""
    if mentions(work_title, result["title"]):
        return True
    compact = "".join(_words(work_title, drop_article=True))
    page = "".join(_words(result["url"]))
    return len(compact) >= MIN_URL_TITLE_LENGTH and compact in page


def passes_identity_guard(query: Query, result: dict[str, Any]) -> bool:
    """The identity guard of the module docstring.

    The work must always be named (in the result's title or page URL): "Michael Scott
    (footballer)" is another Michael Scott than The Office's. When the character's name is the
    work's title ("Joker" in Joker), naming it proves nothing twice: the year must be named too.
    """
    if not mentions(query.character_name, result["title"], plain=True):
        return False
    if query.actor and not mentions(query.actor, result["title"]):
        return False
    if not names_work(query.title, result):
        return False
    same_words = _words(query.character_name, drop_article=True) == _words(
        query.title, drop_article=True
    )
    if same_words:
        return query.year is not None and str(query.year) in f"{result['title']} {result['url']}"
    return True


@dataclass(frozen=True)
class _Checked:
    result: dict[str, Any]
    rank: int
    info: ImageInfo | None = None
    problem: str = ""
    transient: bool = False


class WebSearchSource:
    name: ClassVar[str] = "web_search"
    provider: ClassVar[str | None] = PROVIDER

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None

    def turned_off(self, settings: Settings) -> bool:
        """COVERCTL_WEB_SEARCH=0 is a choice, not a mistake: the resolver skips without a notice."""
        return not settings.web_search_enabled

    def unavailable_reason(self, settings: Settings) -> str | None:
        if self.turned_off(settings):
            return "web image search is turned off (COVERCTL_WEB_SEARCH=0)"
        return None

    async def find(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        text = search_text(query)
        results = await self._results(ctx, query, text)
        if not results:
            return SourceAnswer.none(f"the web image search for {text} found nothing")
        considered = results[:MAX_CONSIDERED]
        named = [(rank, r) for rank, r in enumerate(considered) if passes_identity_guard(query, r)][
            :MAX_CHECKED
        ]
        if not named:
            return SourceAnswer.none(
                f"none of the first {len(considered)} web results is titled with "
                f"{query.character_name!r}" + (" and the title" if _one_word(query) else "")
            )
        checked = await asyncio.gather(*(self._check(ctx, rank, r) for rank, r in named))
        passing = [c for c in checked if c.info is not None]
        if not passing:
            failed = [c for c in checked if c.transient]
            if failed:
                # An outage is not a verdict: the row must not be remembered as "not found".
                raise ProviderUnavailable(
                    PROVIDER,
                    f"could not download {len(failed)} of {len(checked)} result pictures "
                    f"({failed[0].problem})",
                )
            return SourceAnswer.none(
                f"none of the {len(checked)} web results naming {query.character_name!r} passed "
                f"the image check (first: {checked[0].problem})"
            )
        from coverctl.images import combined_score

        def score(item: _Checked) -> tuple[int, int]:
            assert item.info is not None
            return combined_score(QualityScore.WEB_SEARCH, item.info), -item.rank

        # Every passing result, best first: the resolver takes the best, and when a curator
        # rejected it the next one is still there (and `coverctl candidates` lists them all).
        ranked = sorted(passing, key=score, reverse=True)
        return SourceAnswer([self._candidate(query, item, score(item)[0]) for item in ranked])

    async def candidates(self, query: Query, ctx: SourceContext) -> SourceAnswer:
        """Every result that passes the identity guard and the picture check, best first."""
        return await self.find(query, ctx)

    @staticmethod
    def _candidate(query: Query, item: _Checked, quality: int) -> Candidate:
        assert item.info is not None
        return Candidate(
            image_url=item.result["image"],
            source=Source.WEB_SEARCH,
            quality_score=quality,
            matched=Match(
                person=None,
                character=query.character_name,
                external_id=item.result["url"] or None,
            ),
            media_type=query.media_type,
            year=query.year,
            image_hash=item.info.phash,
            image_width=item.info.width,
            image_height=item.info.height,
        )

    async def _check(self, ctx: SourceContext, rank: int, result: dict[str, Any]) -> _Checked:
        from coverctl.images import Use
        from coverctl.net.pictures import check_image  # the download stack, when used

        try:
            info = await check_image(ctx, result["image"], Use.PROFILE, untrusted=True)
        except ImageRejected as exc:
            return _Checked(result, rank, problem=exc.message)
        except ProviderError as exc:
            return _Checked(result, rank, problem=exc.message, transient=True)
        return _Checked(result, rank, info=info)

    async def _results(self, ctx: SourceContext, query: Query, text: str) -> list[dict[str, Any]]:
        from coverctl.store.cache import cache_key

        # The actor is not part of the search text, so not of the key: the guard applies later.
        key = cache_key(
            "web-search",
            SEARCH_TEXT_VERSION,
            normalize(query.character_name),
            normalize(query.title),
            query.year,
        )
        cached = ctx.cache.get("search", key)
        if cached is not None:
            return list(cached)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            # Another task may have searched the same text while this one queued.
            cached = ctx.cache.get("search", key)
            if cached is not None:
                return list(cached)
            results = await self._search(ctx, text)
        if results:
            # An empty answer may be a soft block: it is not kept forever (the resolver's 24 h
            # negative cache still spares DuckDuckGo the same question).
            ctx.cache.set("search", key, results, tag=PROVIDER)
        return results

    async def _search(self, ctx: SourceContext, text: str) -> list[dict[str, Any]]:
        base = ctx.settings.duckduckgo_url
        gate = ctx.http.gate(PROVIDER)
        _refuse_while_paused(gate)
        page = await ctx.http.request(
            PROVIDER,
            "GET",
            f"{base}/",
            params={"q": text},
            headers={"Accept": "text/html"},
            return_statuses=RATE_LIMIT_STATUSES,
        )
        _back_off_if_limited(gate, page.status_code)
        if page.status_code != 200:
            raise ProviderResponseError(
                PROVIDER, f"the search page answered HTTP {page.status_code}"
            )
        token = extract_vqd(page.text)
        if token is None:
            raise ProviderResponseError(
                PROVIDER, "the search page carries no vqd token (has DuckDuckGo changed it?)"
            )
        _refuse_while_paused(gate)
        reply = await ctx.http.request(
            PROVIDER,
            "GET",
            f"{base}/i.js",
            params={"o": "json", "q": text, "l": "us-en", "vqd": token, "p": "1", "f": ",,,,"},
            headers={"Referer": f"{base}/", "Accept": "application/json"},
            return_statuses=RATE_LIMIT_STATUSES,
        )
        _back_off_if_limited(gate, reply.status_code)
        if reply.status_code != 200:
            raise ProviderResponseError(PROVIDER, f"image search answered HTTP {reply.status_code}")
        return parse_results(json_body(reply, PROVIDER))


def _one_word(query: Query) -> bool:
    return len(_words(query.character_name, drop_article=True)) == 1


def _refuse_while_paused(gate: ProviderGate) -> None:
    remaining = gate.paused_until - time.monotonic()
    if remaining > 0:
        raise ProviderUnavailable(
            PROVIDER, f"rate limited; web search is paused for another {remaining:.0f} s"
        )


def _back_off_if_limited(gate: ProviderGate, status: int) -> None:
    if status in RATE_LIMIT_STATUSES:
        gate.pause(RATE_LIMIT_PAUSE)
        raise ProviderUnavailable(
            PROVIDER,
            f"rate limited (HTTP {status}); web search is paused for {RATE_LIMIT_PAUSE:.0f} s",
        )


# --- what the rest of coverctl knows about web search (sources/spec.py) ------------------------

SPECS = (
    ProviderSpec(
        step="web_search",
        source=Source.WEB_SEARCH,
        source_class=WebSearchSource,
        provider=PROVIDER,
        rate=0.5,  # DuckDuckGo blocks clients that ask more often
        variables=(
            Variable(
                "DUCKDUCKGO_URL",
                "DuckDuckGo base URL for web image search",
                url=True,
                field="duckduckgo_url",
            ),
            # Read by Settings.from_env into `web_search_enabled`; see turned_off().
            Variable("COVERCTL_WEB_SEARCH", "set to 0 to never use web image search", default="1"),
        ),
        priority=90,  # after every provider that knows the work
        calls=CallEstimate("query", 2, 2),  # the page carrying the vqd token, then the results
        downloads=PictureDownloads(1, MAX_CHECKED),  # each result passing the guard, at most
        scores=(QualityScore.WEB_SEARCH,),
        # Strangers' pictures: the step checks each one it offers, whatever the policy.
        picture_trust=PictureTrust.ALWAYS_CHECKED,
        hosts=PictureHosts(rule=HostRule.ANY),
    ),
)
