"""Mounts the web chat on the hub's app: session, websocket, widget script."""

from __future__ import annotations

import hashlib
from importlib import resources

from aiohttp import WSCloseCode, web
from aiohttp.typedefs import Handler

from adapters.channels.webchat import limits, session, websocket
from adapters.channels.webchat.config import CONFIG, WebchatConfig

WIDGET_PATH = "/webchat/widget.js"


def add_routes(app: web.Application, config: WebchatConfig | None = None) -> None:
    """Adds POST /webchat/session, GET /webchat/ws and GET /webchat/widget.js.

    Needs app[DATABASE], app[INBOUND] (the router) and app[BUS] from adapters.web.keys;
    with app[REDIS], new sessions and each visitor's messages are counted in Redis,
    shared by every hub process.
    """
    app[CONFIG] = config or WebchatConfig()
    app[websocket.CONNECTIONS] = websocket.Connections()
    # After the hub's Redis, when it has one.
    app.cleanup_ctx.extend([session.throttle_ctx, limits.message_rate_ctx])
    app.on_shutdown.append(_close_sockets)
    app.router.add_post(session.PATH, session.create_session, name="webchatSession")
    app.router.add_route("OPTIONS", session.PATH, session.preflight)
    app.router.add_get(websocket.PATH, websocket.connect, name="webchatSocket", allow_head=False)
    app.router.add_get(WIDGET_PATH, _widget_handler(), name="webchatWidget")


async def drop_connections(app: web.Application) -> None:
    """Closes every open widget socket as a restart would; the widgets reconnect."""
    await app[websocket.CONNECTIONS].close_all(WSCloseCode.SERVICE_RESTART, b"service restart")


async def _close_sockets(app: web.Application) -> None:
    # Without this, shutdown waits for each idle widget socket to time out.
    await app[websocket.CONNECTIONS].close_all(WSCloseCode.GOING_AWAY, b"server shutdown")


def _widget_handler() -> Handler:
    script = resources.files(__package__).joinpath("static", "widget.js").read_bytes()
    etag = hashlib.sha256(script).hexdigest()[:16]
    headers = {
        "Content-Type": "text/javascript; charset=utf-8",
        # Short: shops embed the URL, not a versioned one, and should get fixes soon.
        "Cache-Control": "public, max-age=300",
        "ETag": f'"{etag}"',
        "X-Content-Type-Options": "nosniff",
    }

    async def widget(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == headers["ETag"]:
            return web.Response(status=304, headers=headers)
        return web.Response(body=script, headers=headers)

    return widget
