"""The web chat's tunables, held by the app under one typed key."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from adapters.channels.webchat.tokens import Clock


@dataclass(frozen=True)
class WebchatConfig:
    hello_timeout: float = 10.0  # seconds a new socket has to authenticate
    heartbeat: float = 25.0  # ping interval; proxies drop idle sockets at 30-60 s
    # How long subscribing to the bus may take before the socket is given up.
    bus_timeout: float = 5.0
    replay_batch: int = 200
    # New visitors one client address may start per window (0: no limit). Not low: a
    # shop's office, a school or a mobile carrier puts many people behind one address.
    sessions_per_address: int = 30
    session_window: timedelta = timedelta(minutes=10)
    # Messages one visitor may send (all their sockets together; 0: no limit): a burst
    # in a short window and a sustained rate in a long one. A person chatting briskly,
    # quick replies included, stays well under both.
    messages_burst: int = 10
    burst_window: timedelta = timedelta(seconds=10)
    messages_sustained: int = 100
    sustained_window: timedelta = timedelta(minutes=10)
    # Tests move it to expire tokens and end throttle windows (a wall clock's rare step
    # only moves one window's end).
    clock: Clock = time.time


CONFIG = web.AppKey("webchat_config", WebchatConfig)
