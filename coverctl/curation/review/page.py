"""The review page's HTML, rendered on the server (every value escaped); `static/review.js` adds
the behaviour (thumbnails, filters, keys, actions) and `static/review.css` the looks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from html import escape

from coverctl.curation.review.cards import ReviewCard

KEYS_HELP = "a accept · r reject · j / n next · k previous · o alternatives · Esc close"
STATUSES = ("resolved", "not_found", "error", "pinned", "rejected")


def _label(value: str) -> str:
    return value.replace("_", " ")


def _options(select_id: str, label: str, counts: Counter[str]) -> str:
    options = ['<option value="">all</option>']
    for value in sorted(counts):
        options.append(
            f'<option value="{escape(value)}">{escape(_label(value))} ({counts[value]})</option>'
        )
    return f'<label>{label} <select id="{select_id}">{"".join(options)}</select></label>'


def card_html(card: ReviewCard, thumb: Callable[[str | None], str | None]) -> str:
    """One card; `thumb(url)` gives the card picture's thumbnail address (None: no picture)."""
    data = card.to_json()
    year = f" ({card.query.year})" if card.query.year else ""
    src = thumb(card.image_url)
    picture = (
        f'<img class="th" alt="{escape(card.query.character_name)}" data-thumb="{escape(src)}">'
        if src
        else '<img class="th" alt="" hidden>'
    )
    badges = "".join(f'<span class="b">{escape(_label(p))}</span>' for p in card.problems)
    details = "".join(f"<li>{escape(d)}</li>" for d in card.details if d)
    disabled = "" if card.actionable else " disabled"
    score = "—" if card.quality_score is None else str(card.quality_score)
    return (
        f'<article class="card" id="card-{escape(card.id)}" data-id="{escape(card.id)}" '
        f'data-source="{escape(card.source or "")}" '
        f'data-problems="{escape(" ".join(card.problems))}" '
        f'data-status="{escape(card.status)}" data-decision="{escape(card.decision or "")}" '
        f'data-url="{escape(card.image_url or "")}" data-version="0" tabindex="-1">'
        f'<div class="pic">{picture}<div class="why" hidden></div></div>'
        f'<div class="bd"><h2>{escape(card.query.character_name)}</h2>'
        f'<div class="sub">{escape(card.query.title)}{escape(year)}</div>'
        '<dl class="kv">'
        f'<dt>person</dt><dd class="person">{escape(data["person"] or "—")}</dd>'
        f'<dt>credit</dt><dd class="credit">{escape(data["credit"] or "—")}</dd>'
        f'<dt>source</dt><dd class="source">{escape(card.source or "—")}</dd>'
        f'<dt>score</dt><dd class="score">{score}</dd></dl>'
        f'<div class="bs problems">{badges}</div>'
        f'<ul class="dl">{details}</ul>'
        f'<div class="state">{escape(card.decision or "")}</div>'
        f'<div class="msg">{escape(card.message or "")}</div>'
        '<div class="actions">'
        f'<button type="button" data-act="accept"{disabled}>Accept (a)</button>'
        f'<button type="button" data-act="reject"{disabled}>Reject (r)</button>'
        f'<button type="button" data-act="alternatives"{disabled}>Alternatives (o)</button>'
        "</div></div></article>"
    )


def render_page(
    cards: Sequence[ReviewCard],
    *,
    token: str,
    origin_label: str,
    thumb: Callable[[str | None], str | None],
) -> str:
    """The whole page. `token` is put in a meta tag for the page's own requests."""
    sources: Counter[str] = Counter(c.source or "none" for c in cards)
    problems: Counter[str] = Counter(p for c in cards for p in c.problems)
    statuses: Counter[str] = Counter(c.status for c in cards)
    statuses.update(c.decision for c in cards if c.decision)
    body = "".join(card_html(card, thumb) for card in cards)
    grid = f'<div class="grid">{body}</div>' if cards else '<p class="empty">Nothing to review.</p>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="coverctl-token" content="{escape(token)}">'
        "<title>coverctl review</title>"
        '<link rel="stylesheet" href="/static/review.css"></head><body>\n'
        f'<header><h1>coverctl review</h1><p class="meta">{escape(origin_label)} · '
        f'{len(cards)} cards</p><p class="keys">{escape(KEYS_HELP)}</p></header>\n'
        '<div class="filters">'
        f"{_options('filter-source', 'Source', sources)}"
        f"{_options('filter-problem', 'Problem', problems)}"
        f"{_options('filter-status', 'Status', statuses)}"
        f'<span class="shown">Showing <b id="shown">{len(cards)}</b> of {len(cards)}</span>'
        '<span id="status" role="status"></span></div>\n'
        f"<main>{grid}</main>\n"
        '<aside id="panel" hidden><div class="ph"><h2 id="panel-title"></h2>'
        '<button type="button" id="panel-close">Close (Esc)</button></div>'
        '<p class="hint">Choose a picture to pin it (or press its number).</p>'
        '<div id="panel-body" class="alts"></div></aside>\n'
        '<script src="/static/review.js"></script></body></html>\n'
    )
