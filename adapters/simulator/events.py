"""What the simulated customers' phones show: a numbered log of chat events and its live fan-out."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from crm.models import Channel

# Enough for a long demo session; a page that reconnects after more than this many
# events replays only the newest ones.
LOG_SIZE = 5000
# A page that falls this far behind is dropped; its EventSource reconnects and
# catches up from the log.
QUEUE_SIZE = 1000


class Direction(StrEnum):
    FROM_CUSTOMER = "in"
    TO_CUSTOMER = "out"


class Status(StrEnum):
    """Where a message stands, as far as the simulated customer's phone can tell."""

    SENDING = "sending"  # posted to the hub's webhook, no answer yet
    RECEIVED = "received"  # the hub's webhook answered 2xx
    REFUSED = "refused"  # the hub's webhook answered 4xx or 5xx
    UNREACHABLE = "unreachable"  # the hub's webhook did not answer at all
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"


@dataclass(frozen=True)
class InlineButton:
    """A Telegram inline button; `data` is None for buttons that only open a URL."""

    text: str
    data: str | None


@dataclass(frozen=True)
class ChatMessage:
    """A message shown in one customer's thread, either way."""

    channel: Channel
    customer: str  # the customer's address on the channel: E.164 phone or Telegram user id
    direction: Direction
    ref: str  # the provider's id for it: Twilio sid, Telegram message id or update id
    text: str
    status: Status
    buttons: tuple[tuple[InlineButton, ...], ...] = ()
    detail: str | None = None  # what kind of message: "contact", "press"; None for text


@dataclass(frozen=True)
class StatusChange:
    channel: Channel
    customer: str
    ref: str
    status: Status
    detail: str | None = None  # e.g. the HTTP status the hub's webhook answered


@dataclass(frozen=True)
class Typing:
    """The bot shows "typing..." in a Telegram chat."""

    channel: Channel
    customer: str


Happening = ChatMessage | StatusChange | Typing


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    happening: Happening

    def to_json(self) -> dict[str, Any]:
        """The event as the simulator page reads it."""
        what = self.happening
        data: dict[str, Any] = {
            "id": self.id,
            "at": self.at.isoformat(),
            "channel": what.channel.value,
            "customer": what.customer,
        }
        if isinstance(what, ChatMessage):
            data |= {
                "type": "message",
                "direction": what.direction.value,
                "ref": what.ref,
                "text": what.text,
                "status": what.status.value,
                "detail": what.detail,
                "buttons": [
                    [{"text": b.text, "data": b.data} for b in row] for row in what.buttons
                ],
            }
        elif isinstance(what, StatusChange):
            data |= {
                "type": "status",
                "ref": what.ref,
                "status": what.status.value,
                "detail": what.detail,
            }
        else:
            data["type"] = "typing"
        return data


@dataclass
class Subscription:
    """A page's view of the log: what happened before it came, then live events.

    `next()` returns None once the log is closed (the demo is stopping) or the page
    fell too far behind.
    """

    backlog: list[Event]
    _queue: asyncio.Queue[Event | None] = field(repr=False)

    async def next(self) -> Event | None:
        return await self._queue.get()


class EventLog:
    """Numbered events, kept for pages that come later, and pushed to the pages open now."""

    def __init__(self) -> None:
        self._events: deque[Event] = deque(maxlen=LOG_SIZE)
        self._ids = itertools.count(1)
        self._queues: set[asyncio.Queue[Event | None]] = set()
        self._closed = False

    def publish(self, happening: Happening) -> Event:
        event = Event(next(self._ids), datetime.now(UTC), happening)
        self._events.append(event)
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._drop(queue)
        return event

    def since(self, after: int = 0) -> list[Event]:
        return [event for event in self._events if event.id > after]

    @contextlib.asynccontextmanager
    async def subscribe(self, after: int = 0) -> AsyncIterator[Subscription]:
        """The events after id `after`, then every new one, until the block is left."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        if self._closed:
            queue.put_nowait(None)
        else:
            self._queues.add(queue)
        try:
            # No await between reading the backlog and joining: nothing is missed or doubled.
            yield Subscription(self.since(after), queue)
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        """End every subscription (idempotent); later ones end at once."""
        self._closed = True
        for queue in list(self._queues):
            self._drop(queue)

    def _drop(self, queue: asyncio.Queue[Event | None]) -> None:
        self._queues.discard(queue)
        # Room is made for the end marker: the subscriber must learn it is cut off.
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)
