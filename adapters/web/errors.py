"""JSON error bodies: every 4xx/5xx the hub returns says what was wrong."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

# Headers of an HTTP error that the client needs to act on it.
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


def error_response(status: int, reason: str, **details: Any) -> web.Response:
    return web.json_response({"error": reason, **details}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's plain-text HTTP errors (404, 405, 413...) into JSON with a reason."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        text = exc.text or ""
        reason = text if text and not text.startswith(f"{exc.status}:") else exc.reason
        headers = {k: v for k, v in exc.headers.items() if k in _KEPT_HEADERS}
        return web.json_response({"error": reason}, status=exc.status, headers=headers)
