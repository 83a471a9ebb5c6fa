"""POST /webchat/session: the widget gets (or renews) its signed session token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

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
from adapters.web.keys import DATABASE
from crm.models import WebchatSite
from crm.services.webchat import (
    UnknownSite,
    any_site_allows_origin,
    get_active_site,
    site_allows_origin,
)

PATH = "/webchat/session"
MAX_USER_ID = 64  # the CRM keeps the shop's customer id in 64 characters


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
        claims = _claims(site, body, clock)
    except _Refused as refused:
        response = error_response(refused.status, refused.reason)
        response.headers.update(cors_headers(origin))
        return response
    token = issue_token(site.token_secret, claims, clock=clock)
    return web.json_response(
        {"token": token, "visitor_id": claims.visitor_id}, headers=cors_headers(origin)
    )


class _Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def _claims(site: WebchatSite, body: Mapping[str, Any], clock: Clock) -> SessionClaims:
    user_id, user_hash = body.get("user_id"), body.get("user_hash")
    if user_id is None and user_hash is None:
        shop_user = None
    elif not isinstance(user_id, str) or not isinstance(user_hash, str):
        raise _Refused(400, "user_id and user_hash go together, both strings")
    elif not user_id or len(user_id) > MAX_USER_ID:
        raise _Refused(400, f"user_id must have 1 to {MAX_USER_ID} characters")
    elif not identity_matches(site.identity_secret, user_id, user_hash):
        raise _Refused(403, "user_hash does not match user_id")
    else:
        shop_user = user_id

    previous = body.get("token")
    visitor_id = None
    if previous is not None:
        try:
            old = read_token(site.token_secret, previous, site_key=site.site_key, clock=clock)
        except InvalidToken:
            old = None  # expired or forged: a new visitor, not an error
        # A visitor who was someone's logged-in account keeps that history only while
        # logged in as them: after a logout on a shared computer, the next person
        # starts afresh instead of reading the previous one's chat.
        if old is not None and old.shop_user_id in (None, shop_user):
            visitor_id = old.visitor_id
    return SessionClaims(
        site_key=site.site_key,
        visitor_id=visitor_id or new_visitor_id(),
        shop_user_id=shop_user,
    )
