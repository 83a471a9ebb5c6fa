"""The outbox: sends queued replies in order, rate-limited, retried, never twice.

A reply is a `messages` row with status pending, written in the same transaction
that answered the customer. Sending claims the conversation's oldest pending row
with a lease (`next_attempt_at` in the future), so another process does not send it
too and later replies wait their turn. A transient failure moves the lease to the
back-off time; success or a permanent failure records the outcome. Only a crash
between the provider's answer and the recording can repeat a send, once the lease
has run out: the one place where at-least-once is the price of losing nothing.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from weakref import WeakValueDictionary

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import Database
from crm.models import (
    Channel,
    ConsentPurpose,
    Conversation,
    DeliveryStatus,
    Message,
    MessageDirection,
    utcnow,
)
from crm.services.consents import record_consent
from dialogue.messages import Button, Outgoing, Reply, SendReceipt
from dialogue.ports import (
    Capabilities,
    ChannelSender,
    PermanentSendError,
    RecipientOptedOut,
    SendError,
    TransientSendError,
)
from dialogue.ratelimit import RateLimiter
from dialogue.rendering import Part, render, sms_segments
from dialogue.store import offered_buttons

log = logging.getLogger(__name__)

# Rendering for a channel that is switched off: the reply is kept, marked failed.
_PLAIN = Capabilities(max_buttons=0, max_length=1600, typing=False)
CHANNEL_OFF = "channel_off"
GAVE_UP = "gave_up"


@dataclass(frozen=True)
class Backoff:
    """How long to wait before trying a transient failure again, and how often."""

    base: float = 1.0
    cap: float = 300.0
    max_attempts: int = 8
    lease: float = 60.0  # how long a claimed message is left to its sender

    def delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.cap, retry_after)
        # Full jitter: concurrent retries after an outage do not come back in step.
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempts - 1)))


@dataclass(frozen=True)
class SendRate:
    """A sender's token bucket: its own key (shared by every hub process), rate, burst."""

    key: str
    rate: float
    burst: float


_UNLIMITED = SendRate("send:unlimited", 1e6, 1e6)


@dataclass(frozen=True)
class _Claimed:
    id: int
    conversation_id: int
    channel: Channel
    address: str
    text: str
    attempts: int
    buttons: tuple[tuple[str, str], ...]


class Outbox:
    def __init__(
        self,
        db: Database,
        senders: Mapping[Channel, ChannelSender],
        limiter: RateLimiter,
        rates: Mapping[Channel, SendRate],
        *,
        backoff: Backoff = Backoff(),
        clock: Callable[[], datetime] = utcnow,
    ):
        self.db = db
        self.senders = senders
        self.limiter = limiter
        self.rates = rates
        self.backoff = backoff
        self.clock = clock
        self._locks: WeakValueDictionary[int, asyncio.Lock] = WeakValueDictionary()
        self._retries: set[asyncio.Task[None]] = set()

    def render(self, channel: Channel, reply: Reply) -> list[Part]:
        sender = self.senders.get(channel)
        return render(reply, sender.capabilities if sender else _PLAIN)

    async def dispatch(self, conversation_id: int) -> None:
        """Send the conversation's pending replies, oldest first, until one must wait."""
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        async with lock:
            while (claimed := await self._claim(conversation_id)) is not None:
                if not await self._send(claimed):
                    return

    async def _claim(self, conversation_id: int) -> _Claimed | None:
        now = self.clock()
        async with self.db.transaction() as session:
            message = await session.scalar(
                select(Message)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.direction == MessageDirection.OUTBOUND,
                    Message.delivery_status == DeliveryStatus.PENDING,
                )
                .order_by(Message.id)
                .limit(1)
            )
            if message is None:
                return None
            if message.next_attempt_at is not None and message.next_attempt_at > now:
                # In flight in another process (which sends the rest in order), or
                # waiting out a back-off (whose process has its own timer). Either way
                # not ours now; recover() picks it up if that process died.
                return None
            claimed = await session.scalar(
                update(Message)
                .where(
                    Message.id == message.id,
                    Message.delivery_status == DeliveryStatus.PENDING,
                    (Message.next_attempt_at.is_(None)) | (Message.next_attempt_at <= now),
                )
                .values(
                    next_attempt_at=now + timedelta(seconds=self.backoff.lease),
                    attempts=Message.attempts + 1,
                )
                .returning(Message.attempts)
                .execution_options(synchronize_session=False)
            )
            if claimed is None:
                return None  # another process holds it; it sends the rest in order
            return _Claimed(
                id=message.id,
                conversation_id=conversation_id,
                channel=message.channel,
                address=message.address or "",
                text=message.body,
                attempts=claimed,
                buttons=tuple((b.title, b.payload) for b in offered_buttons(message)),
            )

    async def _send(self, claimed: _Claimed) -> bool:
        """Send one claimed message; True when the next one may go right away."""
        sender = self.senders.get(claimed.channel)
        if sender is None:
            await self._finish(claimed, DeliveryStatus.FAILED, error_code=CHANNEL_OFF)
            return True
        bucket = self.rates.get(claimed.channel, _UNLIMITED)
        cost = sms_segments(claimed.text) if claimed.channel is Channel.SMS else 1
        await self.limiter.acquire(bucket.key, bucket.rate, bucket.burst, cost)
        outgoing = Outgoing(
            message_id=claimed.id,
            channel=claimed.channel,
            address=claimed.address,
            text=claimed.text,
            buttons=_native_buttons(claimed, sender),
        )
        try:
            receipt = await sender.send(outgoing)
        except TransientSendError as exc:
            if claimed.attempts >= self.backoff.max_attempts:
                await self._finish(claimed, DeliveryStatus.FAILED, error_code=exc.code or GAVE_UP)
                return True
            delay = self.backoff.delay(claimed.attempts, exc.retry_after)
            log.warning("send of message %d failed (%s); retry in %.1fs", claimed.id, exc, delay)
            await self._postpone(claimed, delay)
            return False
        except PermanentSendError as exc:
            log.warning("send of message %d failed for good: %s", claimed.id, exc)
            await self._finish(
                claimed,
                DeliveryStatus.FAILED,
                error_code=exc.code,
                opted_out=isinstance(exc, RecipientOptedOut),
            )
            return True
        except SendError as exc:  # a sender that did not say which kind: do not loop on it
            await self._finish(claimed, DeliveryStatus.FAILED, error_code=exc.code)
            return True
        await self._finish(claimed, receipt.status, receipt=receipt)
        return True

    async def _finish(
        self,
        claimed: _Claimed,
        status: DeliveryStatus,
        *,
        receipt: SendReceipt | None = None,
        error_code: str | None = None,
        opted_out: bool = False,
    ) -> None:
        async with self.db.transaction() as session:
            message = await session.get_one(Message, claimed.id)
            message.delivery_status = status
            message.next_attempt_at = None
            if receipt is not None:
                message.provider_message_id = receipt.provider_id
            if error_code is not None:
                message.error_code = error_code
            if opted_out:
                await record_opt_out(session, message, "provider:opted_out", self.clock())

    async def _postpone(self, claimed: _Claimed, delay: float) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(Message)
                .where(Message.id == claimed.id)
                .values(next_attempt_at=self.clock() + timedelta(seconds=delay))
                .execution_options(synchronize_session=False)
            )
        self._retry_at(claimed.conversation_id, delay)

    def _retry_at(self, conversation_id: int, delay: float) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            await self.dispatch(conversation_id)

        task = asyncio.create_task(later())
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def recover(self) -> int:
        """Send every reply that is due (after a restart, or a lease that ran out)."""
        async with self.db.transaction() as session:
            due = (
                await session.scalars(
                    select(Message.conversation_id)
                    .where(
                        Message.direction == MessageDirection.OUTBOUND,
                        Message.delivery_status == DeliveryStatus.PENDING,
                        func.coalesce(Message.next_attempt_at, self.clock()) <= self.clock(),
                    )
                    .distinct()
                )
            ).all()
        for conversation_id in sorted(due):
            await self.dispatch(conversation_id)
        return len(due)

    async def idle(self) -> None:
        """Wait for the retries scheduled so far (tests, shutdown)."""
        while self._retries:
            await asyncio.gather(*list(self._retries), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._retries):
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)


def _native_buttons(claimed: _Claimed, sender: ChannelSender) -> tuple[Button, ...]:
    if not claimed.buttons or len(claimed.buttons) > sender.capabilities.max_buttons:
        return ()
    return tuple(Button(title, payload) for title, payload in claimed.buttons)


async def record_opt_out(
    session: AsyncSession, message: Message, source: str, now: datetime
) -> None:
    """The customer behind a message said STOP on its channel: record the opt-out."""
    conversation = await session.get_one(Conversation, message.conversation_id)
    await record_consent(
        session,
        conversation.customer_id,
        message.channel,
        ConsentPurpose.MARKETING,
        False,
        source,
        now=now,
    )
