"""Typed keys for what the application holds (opened at start, closed at exit)."""

from __future__ import annotations

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
