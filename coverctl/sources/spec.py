"""What coverctl knows about one provider step, declared once, next to the step's source class.

A `ProviderSpec` says everything the rest of coverctl needs to know about a cascade step without
reading its code: the step's name and the source label its answers carry, the rate-limited
provider it calls and that provider's default pace, the variables it reads (and which one it
cannot run without), the media types it serves and where it stands in the cascade, what a dry run
should expect it to cost, where its pictures come from and how far they are trusted, the cache
tags that clear together, and doctor's cheap authenticated request, built from the source's own
auth and error handling.

Each source module declares `SPECS` (tmdb.py declares two: the movie and the TV step) and
`coverctl.sources.registry` collects them. The resolver, config, the batch dry run, doctor, audit
and `cache clear` read the registry, so a new provider is one new module and one line in
`registry.BUILTIN_MODULES` (or a `registry.register(spec)` call from a test or plugin).

This module stays light (no httpx at import time): config and doctor import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal

from coverctl.constants import MediaType, PictureTrust

if TYPE_CHECKING:
    import httpx

    from coverctl.config import Settings
    from coverctl.sources.base import ImageSource

# Every media type a query may name, and None: a query without one.
ANY_MEDIA: Final[frozenset[str | None]] = frozenset({*MediaType.ALL, None})


@dataclass(frozen=True)
class Variable:
    """One setting a provider reads (environment, or `coverctl config set`)."""

    name: str
    description: str  # one line, shown by `coverctl config show`
    secret: bool = False  # wrapped in config.Secret, scrubbed from every text, never shown
    url: bool = False  # an http(s) base URL: checked, and its trailing slash removed
    # The value when unset. A variable with a typed Settings field (`field`) has its default on
    # that field instead.
    default: str | None = None
    # The config.Settings attribute holding it, for the providers coverctl had before specs
    # (their code reads `settings.tmdb_api_key`). A provider added later leaves it None and reads
    # `settings.setting(name)`, which needs no Settings edit.
    field: str | None = None


@dataclass(frozen=True)
class CallEstimate:
    """The provider requests one step costs, for `batch --dry-run`."""

    per: Literal["title", "query"]  # rows asking about one title (or one question) share them
    expected: int  # when the step answers
    at_most: int  # with every fallback it may try


@dataclass(frozen=True)
class PictureDownloads:
    """Picture downloads for one question the step answers, when its pictures are checked."""

    expected: int = 1
    at_most: int = 1
    # The source checks its own pictures (generation checks its output before storing it): the
    # downloads are counted whatever the picture-check policy.
    always: bool = False


class HostRule(StrEnum):
    """How strictly a source's stored picture URLs must keep to its own image hosts (audit)."""

    OWN = "own"  # only its own hosts (TMDB's profiles come from TMDB's image CDN)
    NOT_FOREIGN = "not_foreign"  # its own or an unknown host, never another provider's
    ANY = "any"  # anywhere, a provider's CDN included (web search results)


@dataclass(frozen=True)
class PictureHosts:
    """The image hosts that identify a provider's pictures, for audit's wrong-source check and
    for downloads from a provider's own picture host (net/pictures.py)."""

    names: tuple[str, ...] = ()  # a name starting with "." matches every subdomain
    variables: tuple[str, ...] = ()  # settings whose URL's host counts too (a mirror, a fake)
    rule: HostRule = HostRule.NOT_FOREIGN


def host_matches(host: str, name: str) -> bool:
    """Whether `host` is the picture host `name` ("image.tmdb.org"), or one of its subdomains
    when `name` starts with "." (".thetvdb.com")."""
    return host == name or (name.startswith(".") and host.endswith(name))


@dataclass(frozen=True)
class ProviderSpec:
    """One cascade step: see the module docstring. Frozen: the registry hands out the same one."""

    step: str  # the step's name ("tmdb_movie"), shown by --explain
    source: str  # the label its answers carry in JSON and the store (constants.Source)
    source_class: type[ImageSource]
    provider: str  # the rate-limited name its requests go through (http.HttpClient gates)
    rate: float  # default requests per second (COVERCTL_RATE_<PROVIDER> and --rate change it)
    burst: int | None = None  # requests that may go out back to back before pacing applies
    variables: tuple[Variable, ...] = ()
    key_variable: str | None = None  # without it the step is skipped ("<NAME> is not set")
    media_types: frozenset[str | None] = ANY_MEDIA  # MediaType values served; None: no type
    priority: int = 50  # order among the steps one media type consults, lowest first
    opt_in: bool = False  # consulted only when the run allows AI generation (--generate)
    calls: CallEstimate = CallEstimate("query", 1, 1)
    downloads: PictureDownloads = PictureDownloads()
    scores: tuple[int, ...] = ()  # the base quality scores its answers carry (constants)
    picture_trust: PictureTrust = PictureTrust.TRUSTED  # whether the resolver checks them
    remote_pictures: bool = True  # its pictures are http(s) URLs, never local files
    hosts: PictureHosts = PictureHosts()
    cache_tags: frozenset[str] = frozenset()  # more tags `cache clear --source` clears with it
    probe: Callable[[Settings], HttpProbe] | None = None  # doctor's check, None: none

    @property
    def base_score(self) -> int:
        """The highest base score the step's answers carry (audit's ceiling starts here)."""
        return max(self.scores, default=0)

    @property
    def tags(self) -> frozenset[str]:
        """The cache tags of this step's entries: answers are tagged by source label, provider
        replies by provider, so `cache clear --source` given either name clears both."""
        return frozenset({self.source, self.provider, *self.cache_tags})

    def missing_key(self, settings: Settings) -> str | None:
        """Why the step cannot run for want of its key ("TMDB_API_KEY is not set"), or None."""
        if self.key_variable is None or settings.setting(self.key_variable):
            return None
        return f"{self.key_variable} is not set"


# --- doctor's probe --------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpProbe:
    """One provider's cheap authenticated request and how to read its answer (`coverctl doctor`).

    Sources build theirs from their own auth and error mapping; doctor sends it with a short
    timeout, maps transport errors, 401/403, 429 and 5xx alike for every provider, and calls
    `accept` on any other answer.
    """

    component: str  # the name doctor reports it under (the provider)
    label: str  # how a sentence names the service ("TMDB")
    key_var: str
    url_var: str
    url: str
    request: httpx.Request | None  # None: not configured (skipped), unless `misconfigured`
    accept: Callable[[httpx.Response], str]  # detail of a good answer; raises ProbeRejected/Failed
    key_fix: str  # the sentence that says how to fix a rejected key
    unset: str = ""  # detail when skipped; default "<key_var> is not set"
    # For a provider that refuses a key with another status than 401/403 (Gemini: 400).
    rejects: Callable[[httpx.Response], bool] | None = None
    misconfigured: tuple[str, str] | None = None  # (detail, fix): half configured, so failed


class ProbeRejected(Exception):
    """The answer says the credentials were refused (HTTP 200 GraphQL errors, for instance)."""


class ProbeFailed(Exception):
    """The service answered, but not usefully (not a credential problem)."""


def probe_json(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; ValueError when it is not one (doctor says "not JSON")."""
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


@dataclass(frozen=True)
class LocalStep:
    """A step that reads local state (a curator's pin, override files, stored AI pictures): no
    provider, no key, asked before every provider. Imported by name on first use."""

    step: str
    module: str
    class_name: str
    source: str  # its answers' label
    score: int  # their base quality score
