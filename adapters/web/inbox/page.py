"""GET /inbox: the inbox page for signed-in agents, and its static files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from adapters.web.inbox.auth import current_caller

PAGE_PATH = "/inbox"
STATIC_PREFIX = "/inbox/static/"
STATIC_DIR = Path(str(resources.files(__package__).joinpath("static")))
PAGE_FILE = "inbox.html"
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
    return web.FileResponse(STATIC_DIR / PAGE_FILE, headers=PAGE_HEADERS)


async def static_file(request: web.Request) -> web.StreamResponse:
    """One of the page's files by its exact path in the folder: never the page itself.

    Not aiohttp's static route: it resolved `inbox.html/`, `./inbox.html` and
    `x/../inbox.html` to the page's file too, sent without the page's headers (the
    frame-ancestors policy, no-store). Here every part of the path is a plain name
    (`texts/es.json`): no empty part, none starting with a dot, no backslash.
    """
    name = request.match_info["name"]
    if name == PAGE_FILE:
        raise web.HTTPSeeOther(PAGE_PATH)
    parts = name.split("/")
    path = STATIC_DIR.joinpath(*parts)
    if any(not p or p.startswith(".") or "\\" in p for p in parts) or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"X-Content-Type-Options": "nosniff"})


def add_routes(app: web.Application) -> None:
    app.router.add_get(PAGE_PATH, page, name="inboxPage")
    # One file of the folder (or of a folder inside it), by the path it has there.
    app.router.add_get(STATIC_PREFIX + "{name:.+}", static_file, name="inboxStatic")
