"""Bus frames for one open widget, subscribed before its replay so that none fall between."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from adapters.channels.webchat.frames import BusFrame, read_bus_frame
from dialogue.ports import Bus

# Frames waiting for a slow widget; past this the connection is dropped and the widget
# catches up by replay, rather than the hub holding an unbounded backlog for it.
MAX_BACKLOG = 500


class RelayStopped(Exception):
    """The subscription ended or fell behind: the widget must reconnect and replay."""


class Relay:
    """A visitor's topic, followed from a known live point.

    The widget's history comes from the database and what happens next from the bus.
    The subscription must be live before the history is read, or a message published
    in between would be in neither. The hub's buses (dialogue.local_bus, the Redis
    bus) give that point: entering their subscription returns once it is live.
    """

    def __init__(self, bus: Bus, topic: str) -> None:
        self._topic = topic
        self._subscription = bus.subscribe(topic)
        self._queue: asyncio.Queue[BusFrame | RelayStopped] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Returns once the subscription is live; the caller bounds the wait."""
        subscription = self._subscription
        if isinstance(subscription, AbstractAsyncContextManager):
            await subscription.__aenter__()
        # A bus without a live point (none in the hub) goes live on the first read,
        # soon after this; a message in that instant shows at the next reconnect.
        self._task = asyncio.create_task(self._pump(subscription))

    async def _pump(self, frames: AsyncIterator[bytes]) -> None:
        async for data in frames:
            frame = read_bus_frame(data)
            if frame is None:
                continue
            if self._queue.qsize() >= MAX_BACKLOG:
                self._queue.put_nowait(RelayStopped(f"{self._topic}: widget too slow"))
                return
            self._queue.put_nowait(frame)
        self._queue.put_nowait(RelayStopped(f"{self._topic}: subscription ended"))

    async def next(self) -> BusFrame:
        """The next live frame; raises RelayStopped once there will be no more."""
        item = await self._queue.get()
        if isinstance(item, RelayStopped):
            raise item
        return item

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        aclose = getattr(self._subscription, "aclose", None)
        if aclose is not None:
            await aclose()
