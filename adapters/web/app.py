"""Builds the hub's aiohttp application from the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from adapters.settings import Settings
from adapters.web import api, health
from adapters.web.errors import json_errors
from adapters.web.keys import DATABASE, REDIS, SETTINGS
from crm.db import Database


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


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[json_errors])
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([_database, _redis])
    health.add_routes(app)
    api.add_routes(app)
    return app
