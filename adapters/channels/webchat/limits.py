"""How many messages one web-chat visitor may send: a burst and a sustained rate."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from aiohttp import web
from prometheus_client import Counter

from adapters.channels.webchat.config import CONFIG
from adapters.web.keys import REDIS
from adapters.web.throttle import LocalThrottle, RedisThrottle, Throttle


class MessageRate:
    """Counts a visitor's messages in each window; past any limit, says how long to wait.

    A message refused by the burst window is not counted in the longer one, so a
    visitor who typed too fast for a moment does not use up their next ten minutes.
    """

    def __init__(self, throttles: Sequence[Throttle]) -> None:
        self._throttles = tuple(throttles)

    async def wait(self, visitor_id: str) -> float | None:
        """Counts one message; seconds to wait when it is past a limit, else None."""
        for throttle in self._throttles:
            wait = await throttle.count(visitor_id)
            if wait is not None:
                return wait
        return None


REFUSED = Counter(
    "omnihub_webchat_messages_refused",
    "Web-chat messages not taken: their visitor was writing too fast (rate_limited)",
)

# Absent when both limits are off.
MESSAGE_RATE = web.AppKey("webchat_message_rate", MessageRate)


async def message_rate_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    windows = [
        ("burst", config.messages_burst, config.burst_window),
        ("sustained", config.messages_sustained, config.sustained_window),
    ]
    redis = app.get(REDIS)
    throttles: list[Throttle] = []
    for name, limit, window in windows:
        if limit <= 0:
            continue
        if redis is not None:  # shared by every hub process: a visitor's tabs may be on several
            prefix = f"omnihub:webchat:messages:{name}:"
            throttles.append(RedisThrottle(redis, limit, window, prefix=prefix))
        else:
            throttles.append(LocalThrottle(limit, window, clock=config.clock))
    if throttles:
        app[MESSAGE_RATE] = MessageRate(throttles)
    yield
