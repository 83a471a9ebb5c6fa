"""Bearer-token authentication of the shop's systems on /api/v1."""

from __future__ import annotations

import functools

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from adapters.web.keys import DATABASE
from crm.services.staff import verify_api_token

REALM = "omnihub"


def _unauthorized(reason: str, error: str | None = None) -> web.HTTPUnauthorized:
    # RFC 6750: a request without credentials gets the bare challenge; a bad one says why.
    challenge = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    return web.HTTPUnauthorized(text=reason, headers={hdrs.WWW_AUTHENTICATE: challenge})


def _bearer_token(request: web.Request) -> str:
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is None:
        raise _unauthorized("authentication required: send Authorization: Bearer TOKEN")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise _unauthorized(
            "malformed Authorization header: expected Bearer TOKEN", "invalid_request"
        )
    return token


def require_token(handler: Handler) -> Handler:
    """The handler, answering 401 unless the request carries a live API token."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        token = _bearer_token(request)
        # Its own transaction: last_used_at is recorded even when the request then fails.
        async with request.app[DATABASE].transaction() as session:
            known = await verify_api_token(session, token) is not None
        if not known:
            raise _unauthorized("unknown or revoked token", "invalid_token")
        return await handler(request)

    return guarded
