"""The in-process Bus (live updates within one hub process) and what a subscription is."""

from __future__ import annotations

import asyncio
import logging
import weakref
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from dialogue.ports import Bus

log = logging.getLogger(__name__)

# Messages a subscriber may fall behind by before its oldest are dropped.
DEFAULT_QUEUE_SIZE = 1000


class Subscription(Protocol):
    """A subscription to one topic: the messages published after it went live, in order.

    `async with bus.subscribe(topic) as updates:` returns once the subscription is
    live, so a consumer can subscribe, then read history, then follow `updates`
    (deduplicating by id) without a gap. Iterating without `async with` goes live on
    the first `__anext__`. Iteration ends when the subscription is closed, or when
    the bus can no longer promise that nothing was missed (the consumer re-reads
    history and subscribes again). Close it (leaving `async with` does) to free it.

    It belongs in dialogue/ports.py, as what Bus.subscribe returns; until it moves,
    code that holds a plain Bus sees only the async-iterator half.
    """

    # An AsyncIterator[bytes], spelled out: Python 3.11 protocols cannot inherit it.
    def __aiter__(self) -> Subscription: ...

    async def __anext__(self) -> bytes: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    async def aclose(self) -> None: ...


class LocalSubscription:
    """One subscriber's queue on an InProcessBus; live as soon as it is created."""

    def __init__(self, bus: InProcessBus, topic: str, queue_size: int) -> None:
        self.topic = topic
        self.dropped = 0  # messages lost because this subscriber fell behind
        self._bus = bus
        # None is the end-of-subscription marker that wakes a waiting reader.
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(queue_size)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        data = await self._queue.get()
        if data is None:
            raise StopAsyncIteration
        return data

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        """End the subscription; a reader waiting on it stops iterating."""
        if self._closed:
            return
        self._closed = True
        self._bus._forget(self)
        # A reader can only be waiting on an empty queue, so a full one needs no marker.
        if not self._queue.full():
            self._queue.put_nowait(None)

    def _push(self, data: bytes) -> None:
        if self._closed:
            return
        if self._queue.full():
            # The inbox and web chat re-read history from the database when they
            # (re)connect, so a live update may be lost; blocking the publisher (the
            # router) on one slow browser tab may not.
            self._queue.get_nowait()
            self.dropped += 1
            # Logged at 1, 2, 4, 8... drops: a stuck reader would otherwise log once
            # per message.
            if self.dropped & (self.dropped - 1) == 0:
                log.warning(
                    "subscriber to %r is falling behind: dropped %d oldest messages",
                    self.topic,
                    self.dropped,
                )
        self._queue.put_nowait(data)


class InProcessBus:
    """Publish/subscribe between the tasks of one process (the default, without Redis).

    Each subscriber has its own bounded queue; publishing never waits for a
    subscriber, and one that falls behind loses its oldest messages.
    """

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError(f"a subscriber's queue must hold a message, not {queue_size}")
        self._queue_size = queue_size
        # Weak, so a subscription its consumer dropped without closing it goes away
        # with it instead of filling up forever.
        self._topics: dict[str, weakref.WeakSet[LocalSubscription]] = {}

    async def publish(self, topic: str, data: bytes) -> None:
        self.deliver(topic, data)

    def deliver(self, topic: str, data: bytes) -> None:
        """Publish without awaiting: hand `data` to every subscriber of `topic` now."""
        subscribers = self._topics.get(topic)
        if subscribers is None:
            return
        if not subscribers:
            del self._topics[topic]
            return
        for subscription in list(subscribers):
            subscription._push(data)

    def subscribe(self, topic: str) -> LocalSubscription:
        subscription = LocalSubscription(self, topic, self._queue_size)
        self._topics.setdefault(topic, weakref.WeakSet()).add(subscription)
        return subscription

    def subscribers(self, topic: str) -> int:
        """How many open subscriptions `topic` has (for tests and metrics)."""
        return len(self._topics.get(topic, ()))

    def end(self, topic: str | None = None) -> None:
        """End the subscriptions to `topic`, or all of them (at shutdown)."""
        topics = list(self._topics) if topic is None else [topic]
        for name in topics:
            for subscription in list(self._topics.get(name, ())):
                subscription.close()

    def _forget(self, subscription: LocalSubscription) -> None:
        subscribers = self._topics.get(subscription.topic)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._topics[subscription.topic]


if TYPE_CHECKING:  # checked by mypy, never run: the classes fit the ports
    _bus: type[Bus] = InProcessBus
    _subscription: type[Subscription] = LocalSubscription
