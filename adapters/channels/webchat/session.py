"""POST /webchat/session: the widget gets (or renews) its signed session token.

New visitors are limited per client address; a visitor coming back is not. A visitor
who signs in gets a new token and the anonymous one ends; signing out (the page gives
no identity) or becoming another shop user ends the signed one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import Counter

from adapters.channels.webchat.config import CONFIG
from adapters.channels.webchat.frames import ended_frame, visitor_topic
from adapters.channels.webchat.tokens import (
    Clock,
    InvalidToken,
    SessionClaims,
    identity_matches,
    issue_token,
    new_visitor_id,
    read_token,
)
from adapters.web.errors import error_response
from adapters.web.keys import BUS, DATABASE, REDIS
from adapters.web.throttle import LocalThrottle, RedisThrottle, Throttle, address_key
from crm.models import WebchatSite
from crm.services.webchat import (
    UnknownSite,
    any_site_allows_origin,
    end_visitor_tokens,
    get_active_site,
    site_allows_origin,
    token_generation,
)

PATH = "/webchat/session"
MAX_USER_ID = 64  # the CRM keeps the shop's customer id in 64 characters
TOO_MANY_SESSIONS = "too many new chat sessions from this address; try again later"
SESSION_ENDED = "this chat session has ended (the visitor signed in or out); start a new one"

logger = logging.getLogger(__name__)

REFUSED = Counter(
    "omnihub_webchat_sessions_refused",
    "New web-chat visitors refused: their address started too many (429)",
)

# New visitors per client address; absent when the limit is off.
SESSION_THROTTLE = web.AppKey("webchat_session_throttle", Throttle)


async def throttle_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    limit, window = config.sessions_per_address, config.session_window
    redis = app.get(REDIS)
    if limit > 0 and redis is not None:
        prefix = "omnihub:webchat:sessions:"
        app[SESSION_THROTTLE] = RedisThrottle(redis, limit, window, prefix=prefix)
    elif limit > 0:
        app[SESSION_THROTTLE] = LocalThrottle(limit, window, clock=config.clock)
    yield


def cors_headers(origin: str) -> dict[str, str]:
    # Vary: a cache must not hand one shop's answer to another origin.
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight: the widget posts JSON from the shop's origin."""
    origin = request.headers.get("Origin")
    async with request.app[DATABASE].transaction() as session:
        allowed = await any_site_allows_origin(session, origin)
    if not allowed or origin is None:
        return error_response(403, "origin not allowed for the web chat")
    headers = cors_headers(origin) | {
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "600",
    }
    return web.Response(status=204, headers=headers)


async def create_session(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json reads
        return error_response(400, "the body must be JSON")
    if not isinstance(body, dict):
        return error_response(400, "the body must be a JSON object")
    if not _is_unicode(body):
        return error_response(400, "the body's text must be valid Unicode (no lone surrogates)")
    site_key = body.get("site_key")
    if not isinstance(site_key, str) or not site_key:
        return error_response(400, "site_key is required")
    async with request.app[DATABASE].transaction() as session:
        try:
            site = await get_active_site(session, site_key)
        except UnknownSite:
            return error_response(404, "unknown or inactive site")
    origin = request.headers.get("Origin")
    if origin is None or not site_allows_origin(site, origin):
        return error_response(
            403, "origin not allowed for this site", origin=origin, site_key=site_key
        )
    clock = request.app[CONFIG].clock
    try:
        shop_user = _shop_user(site, body)
        previous = _previous_claims(site, body.get("token"), clock)
        kept = None if previous is None else await _kept_visitor(request.app, previous, shop_user)
    except _Refused as refused:
        return _refusal(origin, refused.status, refused.reason)
    if kept is not None:
        visitor_id, generation = kept.visitor_id, kept.generation
    else:
        # Only new visitors count: one whose token still holds is let back in whatever
        # their neighbours behind the same address started meanwhile. request.remote is
        # the client's, also behind OMNIHUB_TRUSTED_PROXIES (adapters/web/client_address.py).
        throttle = request.app.get(SESSION_THROTTLE)
        wait = None if throttle is None else await throttle.count(address_key(request.remote))
        if wait is not None:
            REFUSED.inc()
            seconds = max(1, math.ceil(wait))
            response = _refusal(origin, 429, TOO_MANY_SESSIONS, retry_after=seconds)
            response.headers["Retry-After"] = str(seconds)
            return response
        visitor_id, generation = new_visitor_id(), 0
    claims = SessionClaims(
        site_key=site.site_key,
        visitor_id=visitor_id,
        shop_user_id=shop_user,
        generation=generation,
    )
    token = issue_token(site.token_secret, claims, clock=clock)
    return web.json_response(
        {"token": token, "visitor_id": claims.visitor_id}, headers=cors_headers(origin)
    )


@dataclass(frozen=True)
class _Kept:
    """The visitor a session goes on as, with the generation of its new token."""

    visitor_id: str
    generation: int


async def _kept_visitor(
    app: web.Application, previous: SessionClaims, shop_user: str | None
) -> _Kept | None:
    """Whom a session with a valid token goes on as; None for a new visitor.

    Raises _Refused (401) when the token was ended: the widget then starts afresh.

    - The same shop user (or still anonymous): the same visitor and token generation.
    - An anonymous visitor signing in: the same visitor (their chat goes on), with a
      new token; the anonymous one ends, so whoever copied it from a shared browser
      cannot read or write as the customer.
    - A signed-in visitor signing out (the page gives no identity) or becoming another
      shop user: their token ends and the next person starts afresh.
    """
    visitor = previous.visitor_id
    async with app[DATABASE].transaction() as session:
        current = await token_generation(session, visitor)
        if current != previous.generation:
            raise _Refused(401, SESSION_ENDED)
        if previous.shop_user_id == shop_user:
            return _Kept(visitor, current)
        ended = await end_visitor_tokens(session, visitor, current)
    if ended is None:  # a concurrent request ended this token first
        raise _Refused(401, SESSION_ENDED)
    # After the commit: sockets that check their token from now on see it ended, and
    # those open already hear it here (every hub process, with the Redis bus).
    try:
        await app[BUS].publish(visitor_topic(visitor), ended_frame(ended).encode())
    except Exception:
        # Their subscription is likely broken as well, which closes them; on their
        # next hello they are refused by the database.
        logger.exception("web chat: could not announce the end of %s's old tokens", visitor)
    return _Kept(visitor, ended) if previous.shop_user_id is None else None


def _is_unicode(body: object) -> bool:
    """False when a string in the JSON holds a lone surrogate (`"\\ud800"`), no text at all.

    Walked with a list, not recursion: json reads nesting about as deep as Python
    recurses, so a recursive walk from inside a handler could run out of stack.
    """
    waiting = [body]
    while waiting:
        value = waiting.pop()
        if isinstance(value, dict):
            waiting.extend(value.keys())
            waiting.extend(value.values())
        elif isinstance(value, list):
            waiting.extend(value)
        elif isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                return False
    return True


class _Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def _refusal(origin: str, status: int, reason: str, **details: Any) -> web.Response:
    # With CORS headers: the origin is allowed, so the shop's page may read why.
    response = error_response(status, reason, **details)
    response.headers.update(cors_headers(origin))
    return response


def _shop_user(site: WebchatSite, body: Mapping[str, Any]) -> str | None:
    """The shop's customer id when its backend signed it; None for an anonymous visitor."""
    user_id, user_hash = body.get("user_id"), body.get("user_hash")
    if user_id is None and user_hash is None:
        return None
    if not isinstance(user_id, str) or not isinstance(user_hash, str):
        raise _Refused(400, "user_id and user_hash go together, both strings")
    if not user_id or len(user_id) > MAX_USER_ID:
        raise _Refused(400, f"user_id must have 1 to {MAX_USER_ID} characters")
    if not identity_matches(site.identity_secret, user_id, user_hash):
        raise _Refused(403, "user_hash does not match user_id")
    return user_id


def _previous_claims(site: WebchatSite, previous: object, clock: Clock) -> SessionClaims | None:
    """The claims of the token the widget kept, when it is one this site signed and in date."""
    if previous is None:
        return None
    try:
        return read_token(site.token_secret, previous, site_key=site.site_key, clock=clock)
    except InvalidToken:
        return None  # expired or forged: a new visitor, not an error
