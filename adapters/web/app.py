"""Builds the hub's aiohttp application from the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Middleware
from redis.asyncio import Redis

from adapters.channels import telegram, twilio, webchat
from adapters.hub import RESPONDER, hub_ctx
from adapters.settings import Settings
from adapters.web import api, health, inbox
from adapters.web.client_address import forwarded_client
from adapters.web.errors import json_errors
from adapters.web.keys import DATABASE, REDIS, SETTINGS
from crm.db import Database
from dialogue.ports import Responder


async def _database(app: web.Application) -> AsyncIterator[None]:
    database = Database(app[SETTINGS].database_url)
    app[DATABASE] = database
    yield
    await database.dispose()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].redis_url
    if url is None:
        yield
        return
    client = Redis.from_url(url)
    app[REDIS] = client
    yield
    await client.aclose()


def create_app(settings: Settings, *, responder: Responder | None = None) -> web.Application:
    middlewares: list[Middleware] = [json_errors]
    if settings.trusted_proxies:
        # First: every handler and middleware after it sees the client as request.remote.
        middlewares.insert(0, forwarded_client(settings.trusted_proxies))
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=middlewares)
    app[SETTINGS] = settings
    if responder is not None:
        app[RESPONDER] = responder
    app.cleanup_ctx.extend([_database, _redis, telegram.telegram_ctx, hub_ctx])
    health.add_routes(app)
    api.add_routes(app)
    twilio.add_routes(app)
    telegram.add_routes(app)
    webchat.add_routes(
        app,
        webchat.WebchatConfig(
            sessions_per_address=settings.webchat_sessions_per_address,
            messages_burst=settings.webchat_messages_burst,
            messages_sustained=settings.webchat_messages_sustained,
        ),
    )
    inbox.add_routes(app)
    return app
