"""The review page's web application (Starlette): the page, thumbnails, and the actions.

Security, for a page that can change what is served:

- it listens on 127.0.0.1 only (`server.py`), and answers only requests whose ``Host`` is that
  address and port (a DNS-rebinding page naming another host is refused);
- every request carries the random token: in the URL (``?token=``, which also sets an HttpOnly,
  SameSite=Strict cookie for the page's own requests) or in that cookie; without it, 403;
- a request that writes (POST) must come from the page itself: its ``Origin`` (or, without one,
  its ``Referer``) must be this server's own origin, ``Sec-Fetch-Site`` (when sent) must be
  ``same-origin``, and the token must also be in the ``X-Coverctl-Token`` header or a ``token``
  form field, which another site cannot read (cross-site request forgery);
- responses forbid framing, sniffing and any script, style, image or connection not from this
  server (Content-Security-Policy).

Every write goes through `coverctl.curation.service.Curator`, as the commands do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coverctl.config import Settings
from coverctl.constants import Source
from coverctl.curation.review.cards import ReviewCard
from coverctl.curation.review.page import render_page
from coverctl.errors import CoverctlError, UsageError
from coverctl.models import Candidate, Match

log = logging.getLogger(__name__)

COOKIE = "coverctl_review"
TOKEN_HEADER = "x-coverctl-token"
CSP = (
    "default-src 'none'; img-src 'self' blob:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATIC_FILES = {"review.js": "text/javascript", "review.css": "text/css"}
FORBIDDEN = "Forbidden: open the address `coverctl review` printed (it carries the page's token)."


@dataclass
class ReviewState:
    """What the running page knows: its cards, the pictures it may show, the last listings."""

    settings: Settings
    cards: list[ReviewCard]
    token: str
    origin_label: str
    by: str | None = None
    allow_private: bool = False
    transport: Any = None
    policy: Any = None
    thumbs: dict[str, tuple[str, bool]] = field(default_factory=dict)  # key -> (url, untrusted)
    listings: dict[str, Any] = field(default_factory=dict)  # card id -> CandidateList
    curator: Any = None  # set while the app runs (lifespan)

    def thumb_key(self, url: str | None, *, untrusted: bool = True) -> str | None:
        """The address of `url`'s thumbnail on this page (registered: only pictures the page
        shows can be fetched through it, so it is not a proxy for any URL)."""
        if not url:
            return None
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:24]
        known = self.thumbs.get(key)
        # A picture known from a provider's answer keeps its trusted fetch.
        self.thumbs[key] = (url, untrusted and (known is None or known[1]))
        return f"/thumb/{key}"

    def card_thumb(self, url: str | None) -> str | None:
        return self.thumb_key(url, untrusted=not self.allow_private)

    def card(self, card_id: str) -> ReviewCard:
        for card in self.cards:
            if card.id == card_id:
                return card
        raise LookupError(card_id)


class Guard:
    """ASGI middleware: the host, token and same-origin rules of the module docstring."""

    def __init__(self, app: ASGIApp, token: str, hosts: Sequence[str]) -> None:
        self.app = app
        self.token = token
        self.hosts = frozenset(hosts)  # "127.0.0.1:PORT" (and "localhost:PORT")
        self.origins = frozenset(f"http://{host}" for host in hosts)

    def _refuse(self, why: str) -> Response:
        log.info("review: refused a request (%s)", why)
        return PlainTextResponse(FORBIDDEN, status_code=403, headers=_security_headers())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        from_query = query.get("token", "")
        cookie = _cookie(headers.get("cookie", ""), COOKIE)
        problem = None
        if headers.get("host", "") not in self.hosts:
            problem = "unexpected Host header"
        elif not (_same(from_query, self.token) or _same(cookie, self.token)):
            problem = "no valid token"
        elif scope["method"] not in ("GET", "HEAD"):
            problem = self._cross_site(headers)
        if problem is not None:
            await self._refuse(problem)(scope, receive, send)
            return

        set_cookie = _same(from_query, self.token)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.encode(), v.encode()) for k, v in _security_headers().items()]
                if set_cookie:
                    value = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                    extra.append((b"set-cookie", value.encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _cross_site(self, headers: Headers) -> str | None:
        """Why a writing request does not come from this page, or None."""
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site != "same-origin":
            return f"Sec-Fetch-Site {fetch_site}"
        origin = headers.get("origin")
        if origin is not None:
            return None if origin in self.origins else "cross-site Origin"
        referer = headers.get("referer", "")
        if any(referer.startswith(f"{o}/") for o in self.origins):
            return None
        return "no Origin or Referer of this page"


def _same(given: str | None, token: str) -> bool:
    return bool(given) and secrets.compare_digest(str(given).encode(), token.encode())


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _security_headers() -> dict[str, str]:
    return {
        "content-security-policy": CSP,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "same-origin",
        "cache-control": "no-store",
    }


async def _posted(request: Request) -> dict[str, Any]:
    """The body of a writing request, once its token is checked (header or form field)."""
    state: ReviewState = request.app.state.review
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind == "application/x-www-form-urlencoded":
        body: Any = dict(parse_qsl(raw.decode("utf-8", "replace")))
    elif raw:
        try:
            body = json.loads(raw)
        except ValueError:
            raise _Refused(400, "The request body is not JSON.") from None
    else:
        body = {}
    if not isinstance(body, dict):
        raise _Refused(400, "The request body is not a JSON object.")
    token = request.headers.get(TOKEN_HEADER) or body.get("token")
    if not _same(token, state.token):
        raise _Refused(403, FORBIDDEN)
    return body


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[Request], Any]


def _json_errors(handler: Handler) -> Handler:
    """Our errors become JSON answers with one sentence; nothing else leaks a traceback."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except _Refused as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except LookupError:
            return JSONResponse({"error": "No such card."}, status_code=404)
        except CoverctlError as exc:
            status = 400 if isinstance(exc, UsageError) else 409
            return JSONResponse({"error": exc.message}, status_code=status)
        except Exception:
            log.exception("review: unexpected error")
            return JSONResponse({"error": "Unexpected error; see the terminal."}, status_code=500)

    return wrapped


# -- handlers ------------------------------------------------------------------------------------


async def page(request: Request) -> Response:
    state: ReviewState = request.app.state.review
    html = render_page(
        state.cards, token=state.token, origin_label=state.origin_label, thumb=state.card_thumb
    )
    return HTMLResponse(html)


async def favicon(request: Request) -> Response:
    return Response(status_code=204)  # no icon; and no 404 in the browser's console


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC_FILES:
        return PlainTextResponse("Not found.", status_code=404)
    text = resources.files("coverctl.curation.review").joinpath("static", name).read_text("utf-8")
    return Response(text, media_type=STATIC_FILES[name])


async def thumb(request: Request) -> Response:
    from coverctl.curation.thumbnails import thumbnail

    state: ReviewState = request.app.state.review
    known = state.thumbs.get(request.path_params["key"])
    if known is None:
        return JSONResponse({"problem": "unknown", "detail": "Not a picture of this page."}, 404)
    url, untrusted = known
    preview = await thumbnail(
        state.curator.resolver.context, url, untrusted=untrusted, allow_private=state.allow_private
    )
    if preview.data is None:
        return JSONResponse({"problem": preview.problem, "detail": preview.detail}, 404)
    headers = {"x-picture-size": preview.size or ""}
    return Response(preview.data, media_type=preview.mime or "image/webp", headers=headers)


@_json_errors
async def cards(request: Request) -> Response:
    state: ReviewState = request.app.state.review
    return JSONResponse({"cards": [_card_json(state, c) for c in state.cards]})


@_json_errors
async def candidates(request: Request) -> Response:
    state: ReviewState = request.app.state.review
    card = state.card(request.path_params["card"])
    listing = await state.curator.candidates(card.query, sizes=True)
    state.listings[card.id] = listing
    items = []
    for listed in listing.candidates:
        item = listed.to_json()
        untrusted = listed.candidate.source == Source.WEB_SEARCH
        item["thumb"] = state.thumb_key(listed.candidate.image_url, untrusted=untrusted)
        items.append(item)
    return JSONResponse({"card": card.id, "candidates": items, "notes": listing.notes})


@_json_errors
async def act(request: Request) -> Response:
    state: ReviewState = request.app.state.review
    body = await _posted(request)
    card = state.card(request.path_params["card"])
    action = request.path_params["action"]
    curator = state.curator
    if not card.actionable:
        raise UsageError("This row's character or title is not valid; fix the input and rerun.")
    if action == "accept":
        if card.image_url is None:
            raise UsageError("There is no picture to accept; choose one of the alternatives.")
        if card.source != Source.PINNED:
            shown = Candidate(
                image_url=card.image_url,
                source=card.source or "url",
                quality_score=card.quality_score or 0,
                matched=Match(card.person, card.credit, card.external_id),
            )
            outcome = await curator.pin_picture(
                card.query, shown, untrusted=not state.allow_private
            )
            card.update(outcome.resolution)
        card.decision, card.message = Source.PINNED, "Pinned: served first from now on."
    elif action == "pin":
        listing = state.listings.get(card.id) or await curator.candidates(card.query)
        chosen = listing.number(int(body.get("number", 0))).candidate
        outcome = await curator.pin_picture(card.query, chosen)
        card.update(outcome.resolution)
        card.decision, card.message = Source.PINNED, f"Pinned candidate {body.get('number')}."
    elif action == "reject":
        if card.image_url is None:
            raise UsageError("There is no picture to reject.")
        if card.source == Source.PINNED:
            raise UsageError("This picture is pinned; unpin it first.")
        old = card.image_url
        rejected = await curator.reject(card.query, old, note=body.get("note") or None)
        card.update(rejected.resolution)
        card.decision = "rejected"
        now = "nothing else was found" if card.image_url is None else f"now {card.source}"
        card.message = f"Rejected; re-resolved: {now}."
    elif action == "unpin":
        removed = curator.unpin(card.query)
        card.update(await curator.resolve(card.query))
        card.decision = None
        card.message = "Unpinned." if removed else "Nothing was pinned."
    elif action == "unreject":
        removed = await curator.unreject(card.query)
        card.update(await curator.resolve(card.query))
        card.decision = None
        card.message = f"Lifted {len(removed)} rejection(s)."
    else:
        return JSONResponse({"error": f"Unknown action {action!r}."}, status_code=404)
    state.listings.pop(card.id, None)
    return JSONResponse(_card_json(state, card))


def _card_json(state: ReviewState, card: ReviewCard) -> dict[str, Any]:
    data = card.to_json()
    data["thumb"] = state.card_thumb(card.image_url)
    return data


def build_app(state: ReviewState, hosts: Sequence[str]) -> ASGIApp:
    """The application, wrapped in its Guard. The curator (a resolver with its store, cache and
    HTTP client) lives as long as the app runs."""
    from coverctl.curation.service import open_curator

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_curator(
            state.settings, by=state.by, transport=state.transport, policy=state.policy
        ) as curator:
            from coverctl.curation.review.cards import apply_decisions

            apply_decisions(state.cards, curator.store, state.settings)
            state.curator = curator
            try:
                yield
            finally:
                state.curator = None

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/favicon.ico", favicon),
            Route("/static/{name}", static),
            Route("/thumb/{key}", thumb),
            Route("/api/cards", cards),
            Route("/api/cards/{card}/candidates", candidates),
            Route("/api/cards/{card}/{action}", act, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.review = state
    return Guard(app, state.token, hosts)
