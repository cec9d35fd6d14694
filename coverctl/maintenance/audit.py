"""Audit the store: rows below the quality bar, recorded under the wrong source, sharing one picture
with other characters, never link-checked or dead at the last check. Optionally fix them.

The scan streams rows with plain SQL (a tuple per row, a handful of columns, never all of
them), so 100k rows cost a couple of seconds and a few MB. Only the worst ``keep`` findings are
held in memory, in a bounded heap; every other figure is a counter.

Problem kinds (``coverctl.maintenance.report`` has a colour for each):

``low_quality``      ``quality_score`` below ``min_quality`` (default 70, the design's bar).
``wrong_source``     the URL does not fit the recorded source (:func:`source_problem`).
``duplicate_image``  the same image URL, or the same picture (equal ``image_hash``), recorded for
                     more than one character - a placeholder or a mistaken match - unless every
                     row names the same person (one actor's photo reused for each of their roles
                     is expected: TMDB profile pictures are per person).
``dead_link``        the last link check (``coverctl dead-links``) failed.
``never_checked``    no link check yet.

``coverctl.maintenance.fix`` re-resolves flagged rows (``audit --fix``).
"""

from __future__ import annotations

import functools
import heapq
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from coverctl.config import Settings
from coverctl.constants import GENERATED_URL_PATTERNS, Source
from coverctl.errors import UsageError
from coverctl.sources import registry
from coverctl.sources.spec import HostRule, host_matches
from coverctl.store.interfaces import ImageStore

if TYPE_CHECKING:
    from coverctl.maintenance.report import ReportCard

__all__ = [
    "DEFAULT_MIN_QUALITY",
    "PROBLEM_KINDS",
    "AuditOptions",
    "AuditResult",
    "Finding",
    "is_alive_status",
    "report_cards",
    "run_audit",
    "source_problem",
    "write_audit_report",
]

log = logging.getLogger(__name__)

DEFAULT_MIN_QUALITY: Final = 70

LOW_QUALITY: Final = "low_quality"
WRONG_SOURCE: Final = "wrong_source"
DUPLICATE_IMAGE: Final = "duplicate_image"
DEAD_LINK: Final = "dead_link"
NEVER_CHECKED: Final = "never_checked"
# Most serious first: the order findings are listed, reported and fixed in.
PROBLEM_KINDS: Final = (DEAD_LINK, WRONG_SOURCE, DUPLICATE_IMAGE, LOW_QUALITY, NEVER_CHECKED)
_SEVERITY: Final = {kind: n for n, kind in enumerate(PROBLEM_KINDS)}
# Problems that make a row wrong, not merely weak: any different picture is an improvement.
BROKEN_KINDS: Final = frozenset({DEAD_LINK, WRONG_SOURCE, DUPLICATE_IMAGE})
# Re-resolving cannot help a row that was simply never checked.
FIXABLE_KINDS: Final = frozenset({DEAD_LINK, WRONG_SOURCE, DUPLICATE_IMAGE, LOW_QUALITY})

ALIVE_STATUS: Final = "ok"  # what coverctl dead-links stores for a live link

# Generated-image markers that cannot occur by chance in a provider's file name. The bare "tmp"
# pattern is left out: it matches random TMDB names such as "/aTmPx...jpg".
_GENERATED_MARKERS: Final = tuple(p for p in GENERATED_URL_PATTERNS if "_" in p or "/" in p)
_SCHEME: Final = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_HTTP_HOST: Final = re.compile(r"^\s*https?://(?:[^/?#@]*@)?(\[[^\]/]*\]|[^/?#:]*)", re.I)
_GENERATED: Final = re.compile("|".join(re.escape(m) for m in _GENERATED_MARKERS), re.I)


def is_alive_status(status: str | None) -> bool:
    """True for the status of a link that worked at its last check ("ok", or a legacy 2xx)."""
    if status is None:
        return False
    if status == ALIVE_STATUS:
        return True
    status = status.strip().lower()
    return status == ALIVE_STATUS or (status.isdigit() and 200 <= int(status) < 300)


# --------------------------------------------------------------------------------------------
# Which source a URL can belong to


@dataclass(frozen=True)
class ProviderHosts:
    """What the wrong-source rule knows of each source label, read from the provider specs
    (sources/spec.py) and the settings (tests point the image hosts elsewhere): the image hosts
    that identify a provider, how strictly each source keeps to them, and the most it can score.
    Hashable, so `_rule` can be memoised per audit."""

    owners: tuple[tuple[str, str], ...]  # (host, label); a host ".x.com" matches its subdomains
    labels: frozenset[str]  # every label a row may carry
    remote: frozenset[str]  # labels whose pictures are http(s) URLs from a provider
    rules: tuple[tuple[str, HostRule], ...]  # label -> how strictly it keeps to its own hosts
    ceilings: tuple[tuple[str, int], ...]  # label -> the highest quality it can record
    # The same as dicts: read once per stored row.
    _rule_of: dict[str, HostRule] = field(init=False, compare=False, repr=False)
    _ceiling_of: dict[str, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rule_of", dict(self.rules))
        object.__setattr__(self, "_ceiling_of", dict(self.ceilings))

    @classmethod
    def from_settings(cls, settings: Settings | None) -> ProviderHosts:
        from coverctl.images import MAX_BONUS  # the most combined_score adds to a base score

        owners: dict[str, str] = {}
        for spec in registry.specs():
            names = list(spec.hosts.names)
            if settings is not None:
                names += [_host(str(settings.setting(v) or "")) for v in spec.hosts.variables]
            for name in names:
                if name:
                    owners.setdefault(name.lower(), spec.source)
        labels = registry.source_labels()
        ceilings = (
            (label, min(100, (registry.base_score(label) or 0) + MAX_BONUS)) for label in labels
        )
        return cls(
            owners=tuple(owners.items()),
            labels=frozenset(labels),
            remote=registry.remote_labels(),
            rules=tuple({spec.source: spec.hosts.rule for spec in registry.specs()}.items()),
            ceilings=tuple(ceilings),
        )

    def provider_of(self, host: str) -> str | None:
        """The label of the provider whose image host `host` is, or None."""
        for name, label in self.owners:
            if host_matches(host, name):
                return label
        return None

    def home_of(self, label: str) -> str:
        """The first image host of `label`'s provider (named in a wrong-source sentence)."""
        return next((name for name, owner in self.owners if owner == label), "its own hosts")

    def rule_of(self, label: str) -> HostRule:
        return self._rule_of.get(label, HostRule.NOT_FOREIGN)

    def ceiling(self, label: str) -> int:
        return self._ceiling_of.get(label, 100)


def _host(url: str) -> str:
    match = _HTTP_HOST.match(url)
    return match.group(1).lower() if match else ""


def _url_parts(url: str) -> tuple[str, str, bool]:
    """(kind, detail, looks generated): kind "http" (detail: host), "path", "scheme" (detail:
    the scheme) or "empty". A plain regex, not urlsplit: this runs once per stored row."""
    url = url.strip()
    if not url:
        return "empty", "", False
    generated = _GENERATED.search(url) is not None
    match = _SCHEME.match(url)
    if match is None or len(match.group(1)) == 1:  # "C:\..." is a path, not a scheme
        return "path", "", generated
    scheme = match.group(1).lower()
    if scheme in ("http", "https"):
        return "http", _host(url), generated
    return "scheme", scheme, generated


def source_problem(
    source: str,
    image_url: str | None,
    quality_score: int | None = None,
    hosts: ProviderHosts | None = None,
) -> str | None:
    """One sentence saying why ``image_url`` does not fit ``source``, or None when it fits.

    Rules: a pinned row (a curator's choice) may be any file path or http(s) URL; a remote source
    (a provider step's: tmdb, tvdb, hardcover, web_search) needs an http(s) URL, not a local path
    or another scheme, and never an AI-generated file name (``anonymous_``...); its spec's
    `PictureHosts` say the rest: tmdb needs a TMDB image host, tvdb and hardcover must not carry
    another provider's host, web results may be anywhere; a local override (character_specific)
    or AI image must not be a provider's picture, and a local override must not be a generated
    image; no row may claim more quality than its source can score (its base score plus the most
    ``images.combined_score`` adds).
    """
    hosts = hosts or ProviderHosts.from_settings(None)
    if source not in hosts.labels:
        return f"Unknown source {source!r}."
    kind, detail, generated = _url_parts(image_url or "")
    too_high = (
        quality_score
        if quality_score is not None and quality_score > hosts.ceiling(source)
        else None
    )
    return _rule(source, kind, detail, generated, too_high, hosts)


@functools.lru_cache(maxsize=4096)
def _rule(
    source: str, kind: str, detail: str, generated: bool, too_high: int | None, hosts: ProviderHosts
) -> str | None:
    # Few distinct arguments (sources x hosts): memoised, so 100k rows cost 100k dict lookups.
    if kind == "empty":
        return "No image URL is recorded."
    if too_high is not None:
        return f"Quality {too_high} is more than {source} can score ({hosts.ceiling(source)})."
    if source == Source.PINNED:
        # A curator chose it: any provider's picture, a web picture or a pinned file.
        if kind == "scheme":
            return f"A {detail}: URL is recorded as pinned; it needs a file path or an http(s) URL."
        return None
    if source in hosts.remote:
        if kind == "path":
            return f"A local path is recorded for the remote source {source}."
        if kind == "scheme":
            return f"A {detail}: URL is recorded for the remote source {source}; it needs http(s)."
        if generated:
            return f"An AI-generated image name is recorded as {source}."
        owner = hosts.provider_of(detail)
        rule = hosts.rule_of(source)
        if rule is HostRule.OWN and owner != source:
            return (
                f"A {detail} URL is recorded as {source} "
                f"({source.upper()} images come from {hosts.home_of(source)})."
            )
        if rule is HostRule.NOT_FOREIGN and owner not in (None, source):
            return f"A {(owner or '').upper()} image URL is recorded as {source}."
        return None
    # character_specific and ai_generated: a local file, the backend, or a generated image.
    if kind == "scheme":
        return f"A {detail}: URL is recorded as {source}; it needs a file path or an http(s) URL."
    owner = hosts.provider_of(detail) if kind == "http" else None
    if owner is not None:
        return f"A {owner.upper()} image URL is recorded as {source}."
    if source == Source.CHARACTER_SPECIFIC and generated:
        return "An AI-generated image is recorded as character_specific (a curated file)."
    return None


# --------------------------------------------------------------------------------------------
# The scan


@dataclass(frozen=True)
class AuditOptions:
    min_quality: int = DEFAULT_MIN_QUALITY
    source: str | None = None
    keep: int = 1000  # findings held for listing, the report and --fix (worst first)

    def __post_init__(self) -> None:
        if not 0 <= self.min_quality <= 100:
            raise UsageError(f"--min-quality must be between 0 and 100, got {self.min_quality}.")
        labels = registry.source_labels()
        if self.source is not None and self.source not in labels:
            raise UsageError(f"Unknown source {self.source!r}; use one of {', '.join(labels)}.")
        if self.keep < 0:
            raise UsageError("The number of rows to list cannot be negative.")


@dataclass(frozen=True)
class Finding:
    """One stored row with at least one problem."""

    row_id: str
    character_name: str
    title: str
    source: str
    quality_score: int | None
    image_url: str | None
    last_checked: str | None
    last_status: str | None
    year: int | None
    media_type: str | None
    person_name: str | None
    updated_at: str | None
    problems: tuple[str, ...]  # kinds, most serious first
    details: tuple[str, ...]  # one sentence per kind, same order

    def to_json(self) -> dict[str, Any]:
        return {
            "row_id": self.row_id,
            "character_name": self.character_name,
            "title": self.title,
            "source": self.source,
            "quality_score": self.quality_score,
            "image_url": self.image_url,
            "last_checked": self.last_checked,
            "last_status": self.last_status,
            "problems": list(self.problems),
            "details": list(self.details),
        }


@dataclass
class AuditResult:
    options: AuditOptions
    rows_scanned: int = 0
    rows_with_problems: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    rows_by_source: Counter[str] = field(default_factory=Counter)
    flagged_by_source: Counter[str] = field(default_factory=Counter)
    problems_by_source: dict[str, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    findings: list[Finding] = field(default_factory=list)  # the worst `keep`, worst first
    elapsed_ms: int = 0

    @property
    def findings_omitted(self) -> int:
        return self.rows_with_problems - len(self.findings)

    def problem_counts(self) -> dict[str, int]:
        """Every kind, zero included, in severity order."""
        return {kind: self.problems.get(kind, 0) for kind in PROBLEM_KINDS}

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        listed = self.findings if limit is None else self.findings[:limit]
        return {
            "rows_scanned": self.rows_scanned,
            "rows_with_problems": self.rows_with_problems,
            "min_quality": self.options.min_quality,
            "source": self.options.source,
            "problems": self.problem_counts(),
            "by_source": {
                source: {
                    "rows": self.rows_by_source[source],
                    "rows_with_problems": self.flagged_by_source.get(source, 0),
                    "problems": {
                        k: self.problems_by_source[source].get(k, 0) for k in PROBLEM_KINDS
                    },
                }
                for source in sorted(self.rows_by_source)
            },
            "rows": [f.to_json() for f in listed],
            "rows_omitted": self.rows_with_problems - len(listed),
            "elapsed_ms": self.elapsed_ms,
        }


def _duplicate_details(store: ImageStore) -> dict[str, str]:
    """Row id -> sentence, for every row in a group sharing one picture across characters.

    Groups by exact image URL, then by exact ``image_hash`` (equal perceptual hashes: the same
    picture at another address). Exact hash equality keeps this one GROUP BY on 100k rows; hashes
    a few bits apart (within SAME_PICTURE_DISTANCE) are not grouped.
    """
    details: dict[str, str] = {}
    for column, what in (("image_url", "image URL"), ("image_hash", "picture (same image hash)")):
        for members in store.shared_picture_groups(column):
            for row_id, _label in members:
                if row_id in details:
                    continue
                others = [other for oid, other in members if oid != row_id]
                shown = ", ".join(others[:3]) + (
                    f" and {len(others) - 3} more" if len(others) > 3 else ""
                )
                details[row_id] = (
                    f"Same {what} as {len(others)} other row{'s' if len(others) != 1 else ''}, "
                    f"not all the same character: {shown}."
                )
    return details


class _Worst:
    """Keeps the ``capacity`` most serious flagged rows seen so far (a bounded min-heap whose
    root is the least serious one kept). Holds ids and kinds only; details are read afterwards
    for the few rows kept."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._heap: list[tuple[int, int, int, int, str, tuple[str, ...]]] = []

    def offer(self, kinds: tuple[str, ...], quality: int | None, rank: int, row_id: str) -> None:
        # More serious = larger: worse kind, more problems, lower quality, scanned earlier.
        item = (-_SEVERITY[kinds[0]], len(kinds), -(quality if quality is not None else -1), -rank)
        heap = self._heap
        if len(heap) < self.capacity:
            heapq.heappush(heap, (*item, row_id, kinds))
        elif heap and item > heap[0][:4]:
            heapq.heapreplace(heap, (*item, row_id, kinds))

    def worst_first(self) -> list[tuple[str, tuple[str, ...]]]:
        return [(item[4], item[5]) for item in sorted(self._heap, reverse=True)]


def _details(
    kinds: tuple[str, ...],
    row: dict[str, Any],
    options: AuditOptions,
    hosts: ProviderHosts,
    duplicates: dict[str, str],
) -> tuple[str, ...]:
    sentences = []
    for kind in kinds:
        if kind == DEAD_LINK:
            when = row["last_checked"] or "an unknown date"
            sentences.append(f"The link check on {when} failed: {row['last_status']}.")
        elif kind == WRONG_SOURCE:
            wrong = source_problem(row["source"], row["image_url"], row["quality_score"], hosts)
            sentences.append(wrong or "The URL does not fit the source.")
        elif kind == DUPLICATE_IMAGE:
            sentences.append(duplicates.get(row["id"], "The picture is shared with other rows."))
        elif kind == LOW_QUALITY:
            bar = options.min_quality
            sentences.append(f"Quality {row['quality_score']} is below the bar of {bar}.")
        else:
            sentences.append("Never link-checked (run `coverctl dead-links`).")
    return tuple(sentences)


def _read_findings(
    store: ImageStore,
    kept: list[tuple[str, tuple[str, ...]]],
    options: AuditOptions,
    hosts: ProviderHosts,
    duplicates: dict[str, str],
) -> list[Finding]:
    rows = store.rows_by_id([row_id for row_id, _ in kept])
    findings = []
    for row_id, kinds in kept:
        row = rows.get(row_id)
        if row is None:  # deleted since the scan (a concurrent --fix or prune)
            continue
        findings.append(
            Finding(
                row_id=row_id,
                character_name=row["character_name"],
                title=row["movie_title"],
                source=row["source"],
                quality_score=row["quality_score"],
                image_url=row["image_url"],
                last_checked=row["last_checked"],
                last_status=row["last_status"],
                year=row["year"],
                media_type=row["media_type"],
                person_name=row["person_name"],
                updated_at=row["updated_at"],
                problems=kinds,
                details=_details(kinds, row, options, hosts, duplicates),
            )
        )
    return findings


def run_audit(
    store: ImageStore, options: AuditOptions | None = None, settings: Settings | None = None
) -> AuditResult:
    """Scan every row (of ``options.source``, if given) and count and collect its problems.

    One pass over six narrow columns; the full rows are read afterwards only for the worst
    ``options.keep`` findings.
    """
    options = options or AuditOptions()
    started = time.perf_counter()
    hosts = ProviderHosts.from_settings(settings)
    duplicates = _duplicate_details(store)
    result = AuditResult(options)
    worst = _Worst(options.keep)
    min_quality = options.min_quality
    rows_by_source: dict[str, int] = defaultdict(int)
    flagged_by_source: dict[str, int] = defaultdict(int)
    kinds_by_source: dict[tuple[str, tuple[str, ...]], int] = defaultdict(int)
    rank = 0
    # Oldest change first (see ImageStore.audit_scan): a --fix-limit works through the store.
    for row_id, source, quality, url, checked, status in (
        (r.id, r.source, r.quality_score, r.image_url, r.last_checked, r.last_status)
        for r in store.audit_scan(options.source)
    ):
        rank += 1
        rows_by_source[source] += 1
        kinds: tuple[str, ...] = ()
        if status is not None and not is_alive_status(status):
            kinds += (DEAD_LINK,)
        if source_problem(source, url, quality, hosts) is not None:
            kinds += (WRONG_SOURCE,)
        if row_id in duplicates:
            kinds += (DUPLICATE_IMAGE,)
        if quality is None or quality < min_quality:
            kinds += (LOW_QUALITY,)
        if checked is None:
            kinds += (NEVER_CHECKED,)
        if not kinds:
            continue
        flagged_by_source[source] += 1
        kinds_by_source[(source, kinds)] += 1
        worst.offer(kinds, quality, rank, row_id)
    result.rows_scanned = rank
    result.rows_by_source.update(rows_by_source)
    result.flagged_by_source.update(flagged_by_source)
    result.rows_with_problems = sum(flagged_by_source.values())
    for (source, kinds), count in kinds_by_source.items():
        for kind in kinds:
            result.problems[kind] += count
            result.problems_by_source[source][kind] += count
    result.findings = _read_findings(store, worst.worst_first(), options, hosts, duplicates)
    result.elapsed_ms = round((time.perf_counter() - started) * 1000)
    log.debug("audit scanned %d rows in %d ms", result.rows_scanned, result.elapsed_ms)
    return result


# --------------------------------------------------------------------------------------------
# The HTML report


def report_cards(
    findings: Iterable[Finding], thumbnails: Mapping[str, Any] | None = None
) -> list[ReportCard]:
    """ReportCards for the HTML report, with the pictures' thumbnails when given (by URL:
    `coverctl.curation.thumbnails.Thumbnail`), and why a picture has none or is unusable."""
    from coverctl.maintenance.report import ReportCard
    from coverctl.net.pictures import image_use

    cards = []
    for finding in findings:
        preview = (thumbnails or {}).get(finding.image_url or "")
        problem = preview.problem_for(image_use(finding.source)) if preview is not None else None
        cards.append(
            ReportCard(
                finding,
                thumbnail=preview.data if preview is not None else None,
                picture_problem=problem[0] if problem else None,
                picture_detail=problem[1] if problem else None,
            )
        )
    return cards


def write_audit_report(
    path: Path,
    result: AuditResult,
    limit: int,
    *,
    settings: Settings | None = None,
    allow_private: bool = False,
    transport: Any = None,
) -> int:
    """Write the self-contained HTML report of the worst ``limit`` findings; returns how many
    flagged rows were left out.

    With ``settings``, each card's picture is fetched once (through the thumbnail cache and the
    guarded download: no private or loopback address unless ``allow_private``) and embedded as a
    small thumbnail, so the page shows the pictures with no network needed to view it.
    """
    from coverctl.maintenance.report import write_report

    shown = result.findings[:limit]
    omitted = result.rows_with_problems - len(shown)
    summary = {"rows audited": result.rows_scanned, "rows with problems": result.rows_with_problems}
    if omitted:
        summary["rows not shown"] = omitted
    thumbnails: dict[str, Any] = {}
    if settings is not None and shown:
        from coverctl.curation.thumbnails import fetch_thumbnails

        urls = [f.image_url for f in shown if f.image_url]
        thumbnails = fetch_thumbnails(
            urls, settings, untrusted=True, allow_private=allow_private, transport=transport
        )
        failed = sum(1 for t in thumbnails.values() if t.data is None)
        log.info("audit: %d thumbnails, %d pictures without one", len(thumbnails) - failed, failed)
    title = "coverctl audit" + (f" ({result.options.source})" if result.options.source else "")
    write_report(path, report_cards(shown, thumbnails), title=title, summary=summary)
    return omitted
