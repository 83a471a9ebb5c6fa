"""Typed keys for what the application holds (opened at start, closed at exit)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.asyncio import Redis

from adapters.settings import Settings
from crm.db import Database
from dialogue.ports import Bus, InboundSink

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
REDIS = web.AppKey("redis", Redis)  # present only when OMNIHUB_REDIS_URL is set
# Where webhooks deliver what providers send (the router).
INBOUND = web.AppKey("inbound", InboundSink)
BUS = web.AppKey("bus", Bus)
# Run before each /metrics scrape, so gauges read from the database are fresh then
# (and cost nothing between scrapes).
BEFORE_SCRAPE = web.AppKey("before_scrape", list[Callable[[web.Application], Awaitable[None]]])
