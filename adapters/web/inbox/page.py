"""GET /inbox: the inbox page for signed-in agents, and its static files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from adapters.web.inbox.auth import current_caller

PAGE_PATH = "/inbox"
STATIC_PREFIX = "/inbox/static/"
STATIC_DIR = Path(str(resources.files(__package__).joinpath("static")))
# What the inbox's pages (this one and the sign-in page) may load: their own scripts,
# styles and API (the live socket included: 'self' covers ws: and wss: of this host),
# nothing inline, from no other site; no other site may frame them. Text that slipped
# into the markup could then run no script, and send nothing elsewhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
}


async def page(request: web.Request) -> web.StreamResponse:
    if await current_caller(request) is None:
        raise web.HTTPSeeOther("/inbox/login")
    # Read on each request: the page is small, and a deployment can change it in place.
    return web.FileResponse(STATIC_DIR / "inbox.html", headers=PAGE_HEADERS)


async def page_as_static_file(request: web.Request) -> web.StreamResponse:
    # The static route would send the page without its headers (the frame-ancestors
    # policy, no-store): the page is served at /inbox only.
    raise web.HTTPSeeOther(PAGE_PATH)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PAGE_PATH, page, name="inboxPage")
    # Before the static route, which would otherwise answer this path first.
    app.router.add_get(STATIC_PREFIX + "inbox.html", page_as_static_file)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, name="inboxStatic")
