"""The HTML audit report: one self-contained page a person reads in the morning.

The page needs no network: CSS and JS are inline, thumbnails (fetched once when the report is
written, `coverctl.curation.thumbnails`) are embedded as ``data:`` URIs and remote image URLs are
shown as links, never loaded. A card without a thumbnail says why (dead, not an image...). A
Content-Security-Policy that allows only the page's own script and style (by hash) and ``data:``
images backs this up, so a hostile value that slipped past escaping still could not run or fetch
anything.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coverctl.maintenance.audit import Finding

__all__ = ["ReportCard", "render_report", "write_report"]


@dataclass(frozen=True)
class ReportCard:
    """One flagged row as the report shows it: the audit's finding (its problem kinds, e.g.
    "low_quality", "dead_link", and one human sentence each), and a preview of its picture."""

    finding: Finding
    thumbnail: bytes | None = None  # small JPEG/PNG/WebP bytes, embedded as a data: URI
    picture_problem: str | None = None  # why the picture has no thumbnail, or is unusable
    picture_detail: str | None = None  # the sentence behind it (shown on hover)


# Problem kinds with a colour of their own; any other kind gets the neutral "other" badge.
KNOWN_PROBLEM_KINDS = frozenset(
    {"low_quality", "wrong_source", "duplicate_image", "dead_link", "never_checked"}
)

# Leading bytes of the image formats every browser decodes.
_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)

_CSS = """\
:root{--bg:#f4f5f7;--fg:#1f2328;--muted:#59636e;--card:#fff;--line:#d8dee4}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:var(--bg);color:var(--fg)}
header{background:#1f2a44;color:#fff;padding:16px 24px}
h1{margin:0 0 2px;font-size:22px}
.meta{margin:0 0 12px;color:#c9d1e3}
.stats{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 10px;padding:0;list-style:none}
.stat{background:#2c3a5c;border-radius:6px;padding:6px 12px;min-width:90px}
.stat b{display:block;font-size:20px}
.stat span{font-size:12px;color:#c9d1e3}
.counts{display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin:6px 0}
.counts .lbl{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:#c9d1e3;
min-width:70px}
.chip{background:#e8ebf2;color:#1f2a44;border-radius:10px;padding:1px 8px;font-size:12px}
.filters{display:flex;flex-wrap:wrap;gap:16px;align-items:center;padding:10px 24px;
background:#fff;border-bottom:1px solid var(--line);position:sticky;top:0;z-index:1}
.filters select{font:inherit;padding:3px 6px;margin-left:4px}
.shown{color:var(--muted)}
main{padding:16px 24px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden;
display:flex;flex-direction:column;content-visibility:auto;contain-intrinsic-size:auto 360px}
[hidden]{display:none!important}
.th{height:170px;width:100%;object-fit:cover;background:#dfe3ea;display:block}
.ph{display:flex;flex-direction:column;align-items:center;justify-content:center;font-size:56px;
font-weight:600;color:#9aa4b5;
background:repeating-linear-gradient(45deg,#e6e9ef 0 12px,#dde1e8 12px 24px)}
.why{font-size:13px;font-weight:600;color:#fff;background:#c62828;border-radius:10px;
padding:1px 8px;margin-top:4px}
.thw{position:relative}.thw .why{position:absolute;left:8px;bottom:8px;margin:0}
.bd{padding:10px 12px;display:flex;flex-direction:column;gap:4px;min-width:0}
.bd h2{margin:0;font-size:16px;overflow-wrap:anywhere}
.sub{color:var(--muted);overflow-wrap:anywhere}
.kv{display:grid;grid-template-columns:auto 1fr;gap:0 8px;margin:4px 0;font-size:12px}
.kv dt{color:var(--muted)}
.kv dd{margin:0;min-width:0;overflow-wrap:anywhere}
.url{font-size:12px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:#0b57d0}
.bs{display:flex;flex-wrap:wrap;gap:4px}
.b{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600}
.b-dead_link{background:#c62828}.b-wrong_source{background:#7b1fa2}
.b-low_quality{background:#b45f06}.b-duplicate_image{background:#1565c0}
.b-never_checked{background:#546e7a}.b-other{background:#00796b}
.dl{margin:2px 0 0;padding-left:18px;font-size:12.5px}
.empty{font-size:18px;text-align:center;padding:60px 0;color:#2e7d32}
"""

# Show a card when it matches both filters; "" means "all".
_JS = """\
(function(){
var s=document.getElementById("filter-source"),p=document.getElementById("filter-problem"),
n=document.getElementById("shown"),cards=document.querySelectorAll("article.card");
function apply(){
var sv=s.value,pv=p.value,c=0;
for(var i=0;i<cards.length;i++){
var e=cards[i],ok=(sv===""||e.dataset.source===sv)&&
(pv===""||(" "+e.dataset.problems+" ").indexOf(" "+pv+" ")>=0);
e.hidden=!ok;if(ok)c++;}
n.textContent=c;}
s.addEventListener("change",apply);p.addEventListener("change",apply);apply();
})();
"""


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


_CSP = (
    "default-src 'none'; img-src data:; "
    f"style-src {_csp_hash(_CSS)}; script-src {_csp_hash(_JS)}; "
    "base-uri 'none'; form-action 'none'"
)


def _token(kind: str) -> str:
    """A problem kind as one whitespace-free token, so data-problems splits cleanly."""
    return "_".join(kind.split()) or "unknown"


def _label(kind: str) -> str:
    return kind.replace("_", " ")


@functools.cache  # a handful of kinds, each rendered on thousands of cards
def _badge(kind: str, count: int | None = None) -> str:
    css = kind if kind in KNOWN_PROBLEM_KINDS else "other"
    suffix = f" {count}" if count is not None else ""
    return f'<span class="b b-{css}">{escape(_label(kind))}{suffix}</span>'


def _why(card: ReportCard) -> str:
    if not card.picture_problem:
        return ""
    detail = escape(card.picture_detail or card.picture_problem)
    return f'<span class="why" title="{detail}">{escape(card.picture_problem)}</span>'


def _thumbnail(card: ReportCard) -> str:
    mime = None
    if card.thumbnail:
        mime = next((m for sig, m in _IMAGE_SIGNATURES if card.thumbnail.startswith(sig)), None)
        if mime is None and card.thumbnail[:4] == b"RIFF" and card.thumbnail[8:12] == b"WEBP":
            mime = "image/webp"
    if card.thumbnail and mime:
        data = base64.b64encode(card.thumbnail).decode("ascii")
        img = (
            f'<img class="th" src="data:{mime};base64,{data}" '
            f'alt="{escape(card.finding.character_name)}">'
        )
        # A usable preview of an unusable picture (too small for its use): say so on it.
        return f'<div class="thw">{img}{_why(card)}</div>' if card.picture_problem else img
    # No usable bytes: a neutral box with the character's initial and why, never the remote URL.
    initial = escape(card.finding.character_name.strip()[:1].upper() or "?")
    label = escape(f"no picture: {card.picture_problem or 'no preview'}")
    return f'<div class="th ph" role="img" aria-label="{label}">{initial}{_why(card)}</div>'


def _image_link(url: str | None) -> str:
    if not url:
        return '<div class="url sub">no image URL</div>'
    text = escape(url)
    # Only http(s) becomes a link: escaping alone would not stop a javascript: URL.
    if url[:8].lower().startswith(("http://", "https://")):
        return (
            f'<a class="url" href="{text}" title="{text}" target="_blank" '
            f'rel="noopener noreferrer nofollow">{text}</a>'
        )
    return f'<div class="url sub" title="{text}">{text}</div>'


def _card(card: ReportCard, kinds: list[str]) -> str:
    row = card.finding
    score = "—" if row.quality_score is None else str(row.quality_score)
    checked = escape(row.last_checked or "never")
    if row.last_status:
        checked += f" ({escape(row.last_status)})"
    details = "".join(f"<li>{escape(d)}</li>" for d in row.details)
    if details:
        details = f'<ul class="dl">{details}</ul>'
    return (
        f'<article class="card" data-source="{escape(row.source)}" '
        f'data-problems="{escape(" ".join(kinds))}" data-row="{escape(row.row_id)}">'
        f"{_thumbnail(card)}"
        f'<div class="bd"><h2>{escape(row.character_name)}</h2>'
        f'<div class="sub">{escape(row.title)}</div>'
        f'<dl class="kv"><dt>source</dt><dd>{escape(row.source)}</dd>'
        f"<dt>score</dt><dd>{score}</dd><dt>checked</dt><dd>{checked}</dd>"
        f"<dt>row</dt><dd>{escape(row.row_id)}</dd></dl>"
        f"{_image_link(row.image_url)}"
        f'<div class="bs">{"".join(_badge(k) for k in kinds)}</div>'
        f"{details}"
        "</div></article>"
    )


def _options(select_id: str, label: str, counts: Counter[str], *, pretty: bool) -> str:
    options = ['<option value="">all</option>']
    for value in sorted(counts):
        text = _label(value) if pretty else value
        options.append(f'<option value="{escape(value)}">{escape(text)} ({counts[value]})</option>')
    return f'<label>{label} <select id="{select_id}">{"".join(options)}</select></label>'


def render_report(
    cards: Iterable[ReportCard],
    *,
    title: str = "coverctl audit",
    generated_at: datetime | None = None,
    summary: Mapping[str, int] | None = None,
) -> str:
    """Render the audit report as one self-contained HTML page.

    ``summary`` adds extra figures to the header (e.g. ``{"rows checked": 5210}``).
    Every value taken from the data is HTML-escaped.
    """
    generated_at = generated_at or datetime.now(UTC)
    by_source: Counter[str] = Counter()
    by_problem: Counter[str] = Counter()
    parts: list[str] = []
    for card in cards:
        kinds = list(dict.fromkeys(_token(k) for k in card.finding.problems))
        by_source[card.finding.source] += 1
        by_problem.update(kinds)
        parts.append(_card(card, kinds))
    total = len(parts)

    stats = [("cards", total), *(summary or {}).items()]
    stats_html = "".join(
        f'<li class="stat"><b>{int(value)}</b><span>{escape(name)}</span></li>'
        for name, value in stats
    )
    problem_counts = "".join(_badge(k, n) for k, n in by_problem.most_common()) or (
        '<span class="chip">none</span>'
    )
    source_counts = (
        "".join(f'<span class="chip">{escape(s)} {n}</span>' for s, n in by_source.most_common())
        or '<span class="chip">none</span>'
    )
    body = (
        f'<div class="grid">{"".join(parts)}</div>'
        if parts
        else '<p class="empty">No problems found.</p>'
    )
    stamp = generated_at.isoformat(timespec="seconds")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<header><h1>{escape(title)}</h1>"
        f'<p class="meta">Generated <time datetime="{escape(stamp)}">{escape(stamp)}</time></p>'
        f'<ul class="stats">{stats_html}</ul>'
        f'<div class="counts" id="problem-counts"><span class="lbl">Problems</span>'
        f"{problem_counts}</div>"
        f'<div class="counts" id="source-counts"><span class="lbl">Sources</span>'
        f"{source_counts}</div></header>\n"
        '<div class="filters">'
        f"{_options('filter-source', 'Source', by_source, pretty=False)}"
        f"{_options('filter-problem', 'Problem', by_problem, pretty=True)}"
        f'<span class="shown">Showing <b id="shown">{total}</b> of {total}</span></div>\n'
        f"<main>{body}</main>\n"
        f"<script>{_JS}</script></body></html>\n"
    )


def write_report(
    path: Path,
    cards: Iterable[ReportCard],
    *,
    title: str = "coverctl audit",
    generated_at: datetime | None = None,
    summary: Mapping[str, int] | None = None,
) -> None:
    """Render the report and replace ``path`` atomically: a reader never sees half a page."""
    html = render_report(cards, title=title, generated_at=generated_at, summary=summary)
    path = Path(path)
    # Same directory, so os.replace is a rename on one filesystem; opened with "x" so the
    # usual umask applies and an existing file is never clobbered by the temp name.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(html)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
