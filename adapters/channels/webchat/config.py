"""The web chat's tunables, held by the app under one typed key."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from adapters.channels.webchat.tokens import Clock


@dataclass(frozen=True)
class WebchatConfig:
    hello_timeout: float = 10.0  # seconds a new socket has to authenticate
    heartbeat: float = 25.0  # ping interval; proxies drop idle sockets at 30-60 s
    # How long subscribing to the bus may take before the socket is given up.
    bus_timeout: float = 5.0
    replay_batch: int = 200
    clock: Clock = time.time  # tests move it to expire tokens


CONFIG = web.AppKey("webchat_config", WebchatConfig)
