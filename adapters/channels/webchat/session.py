"""POST /webchat/session: the widget gets (or renews) its signed session token.

New visitors are limited per client address; a visitor coming back is not.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import Counter

from adapters.channels.webchat.config import CONFIG
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
from adapters.web.keys import DATABASE, REDIS
from adapters.web.throttle import LocalThrottle, RedisThrottle, Throttle, address_key
from crm.models import WebchatSite
from crm.services.webchat import (
    UnknownSite,
    any_site_allows_origin,
    get_active_site,
    site_allows_origin,
)

PATH = "/webchat/session"
MAX_USER_ID = 64  # the CRM keeps the shop's customer id in 64 characters
TOO_MANY_SESSIONS = "too many new chat sessions from this address; try again later"

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
    except ValueError:
        return error_response(400, "the body must be JSON")
    if not isinstance(body, dict):
        return error_response(400, "the body must be a JSON object")
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
    except _Refused as refused:
        return _refusal(origin, refused.status, refused.reason)
    visitor_id = _resumed_visitor(site, body.get("token"), shop_user, clock)
    if visitor_id is None:
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
        visitor_id = new_visitor_id()
    claims = SessionClaims(site_key=site.site_key, visitor_id=visitor_id, shop_user_id=shop_user)
    token = issue_token(site.token_secret, claims, clock=clock)
    return web.json_response(
        {"token": token, "visitor_id": claims.visitor_id}, headers=cors_headers(origin)
    )


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


def _resumed_visitor(
    site: WebchatSite, previous: object, shop_user: str | None, clock: Clock
) -> str | None:
    """The visitor a still valid token names, if the session may go on as them."""
    if previous is None:
        return None
    try:
        old = read_token(site.token_secret, previous, site_key=site.site_key, clock=clock)
    except InvalidToken:
        return None  # expired or forged: a new visitor, not an error
    # A visitor who was someone's logged-in account keeps that history only while
    # logged in as them: after a logout on a shared computer, the next person
    # starts afresh instead of reading the previous one's chat.
    return old.visitor_id if old.shop_user_id in (None, shop_user) else None
