"""The outbox: sends queued replies in order, rate-limited, retried, never twice.

A reply is a `messages` row with status pending, written in the same transaction
that answered the customer. Sending claims the conversation's oldest pending row
with a lease (`next_attempt_at` in the future), so another process does not send it
too and later replies wait their turn. The router writes most replies already
claimed (`deliver` sends those), which spares a claim per reply; `dispatch` claims
one at a time (retries, recovery, replies queued behind an unsent one). A transient
failure moves the lease to the back-off time; success or a permanent failure records
the outcome, for many replies in one statement. Only a crash
between the provider's answer and the recording can repeat a send, once the lease
has run out: the one place where at-least-once is the price of losing nothing.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast
from weakref import WeakValueDictionary

from sqlalchemy import String, Table, bindparam, func, select, update

from crm.db import Database
from crm.models import (
    Channel,
    DeliveryStatus,
    Message,
    MessageDirection,
    utcnow,
)
from dialogue.batching import Batcher
from dialogue.consent import record_opt_out
from dialogue.messages import Button, Outgoing, Reply, Template
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
from dialogue.store import offered_buttons, template_of

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
class Claimed:
    """A reply this process holds the lease on, with what sending it needs."""

    id: int
    conversation_id: int
    channel: Channel
    address: str
    text: str
    attempts: int  # including the one about to be made
    buttons: tuple[Button, ...]
    template: Template | None = None


@dataclass(frozen=True)
class _Outcome:
    """What became of one claimed reply: finished (sent or failed) or to be retried."""

    claimed: Claimed
    status: DeliveryStatus | None = None  # None: retry after `delay`
    provider_id: str | None = None
    error_code: str | None = None
    opted_out: bool = False
    delay: float = 0.0
    tried: bool = True  # False: held back behind an earlier reply that must wait
    look_behind: bool = False  # once written, look for replies queued behind it


_messages = cast(Table, Message.__table__)
_OLDEST_PENDING = (
    select(
        _messages.c.id,
        _messages.c.channel,
        _messages.c.address,
        _messages.c.body,
        _messages.c.payload,
        _messages.c.next_attempt_at,
    )
    .where(
        _messages.c.conversation_id == bindparam("conversation_id"),
        _messages.c.direction == MessageDirection.OUTBOUND,
        _messages.c.delivery_status == DeliveryStatus.PENDING,
    )
    .order_by(_messages.c.id)
    .limit(1)
)
_CLAIM = (
    update(_messages)
    .where(
        _messages.c.id == bindparam("b_id"),
        _messages.c.delivery_status == DeliveryStatus.PENDING,
        (_messages.c.next_attempt_at.is_(None))
        | (_messages.c.next_attempt_at <= bindparam("b_now")),
    )
    .values(next_attempt_at=bindparam("b_lease_until"), attempts=_messages.c.attempts + 1)
    .returning(_messages.c.attempts)
)
_FINISH = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"))
    .values(
        delivery_status=bindparam("b_status"),
        next_attempt_at=None,
        provider_message_id=func.coalesce(
            bindparam("b_provider_id", type_=String), _messages.c.provider_message_id
        ),
        error_code=func.coalesce(bindparam("b_error_code", type_=String), _messages.c.error_code),
        updated_at=bindparam("b_now"),
    )
)
# Which of some conversations have a reply still unsent (new replies queue behind it).
UNSENT = (
    select(_messages.c.conversation_id)
    .where(
        _messages.c.conversation_id.in_(bindparam("ids", expanding=True)),
        _messages.c.direction == MessageDirection.OUTBOUND,
        _messages.c.delivery_status == DeliveryStatus.PENDING,
    )
    .distinct()
)
# A reply waits for its retry; `b_attempts` gives back a claim that was never tried.
_POSTPONE = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"))
    .values(
        next_attempt_at=bindparam("b_at"),
        attempts=_messages.c.attempts - bindparam("b_untried"),
        updated_at=bindparam("b_now"),
    )
)


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
        self._retries: set[asyncio.Task[None]] = set()  # back-off timers, later sends
        # Outcomes are recorded as soon as they are known, together with whatever
        # other sends finished meanwhile: one transaction, one statement per kind.
        self._recorder: Batcher[_Outcome, None] = Batcher(self._record_batch, max_size=256)
        # Sends the provider took whose outcome is not written yet, by provider id.
        self._unrecorded: dict[tuple[Channel, str], asyncio.Future[None]] = {}

    def render(self, channel: Channel, reply: Reply) -> list[Part]:
        sender = self.senders.get(channel)
        return render(reply, sender.capabilities if sender else _PLAIN)

    async def deliver(self, claimed: Sequence[Claimed]) -> None:
        """Send replies claimed when they were written (see Router), and record how it went.

        Each conversation's replies go in order, one after the other; conversations go
        side by side. The rate limits are booked once per sender for all of them.
        """
        for bucket, cost in _costs(claimed, self.rates).items():
            await self.limiter.acquire(bucket.key, bucket.rate, bucket.burst, cost)
        by_conversation: dict[int, list[Claimed]] = {}
        for reply in sorted(claimed, key=lambda c: c.id):
            by_conversation.setdefault(reply.conversation_id, []).append(reply)
        failures = [
            result
            for result in await asyncio.gather(
                *(self._send_in_turn(replies) for replies in by_conversation.values()),
                return_exceptions=True,
            )
            if isinstance(result, BaseException)
        ]
        if failures:  # the replies stay pending and leased; recover() sends them later
            raise failures[0]

    async def _send_in_turn(self, replies: list[Claimed]) -> None:
        for index, reply in enumerate(replies):
            last = index == len(replies) - 1
            outcome = await self._attempt(reply, look_behind=last)
            if outcome.status is None:
                # Later replies wait for this one: their claims are given back untried.
                held = [
                    _Outcome(later, delay=outcome.delay, tried=False)
                    for later in replies[index + 1 :]
                ]
                await asyncio.gather(*(self._recorder.submit(o) for o in [outcome, *held]))
                return
            await self._recorder.submit(outcome)

    async def book(self, channel: Channel, text: str) -> None:
        """Wait for the sender's rate to allow one message of `text` on `channel`."""
        bucket = self.rates.get(channel, _UNLIMITED)
        await self.limiter.acquire(bucket.key, bucket.rate, bucket.burst, _cost(channel, text))

    async def dispatch(self, conversation_id: int) -> None:
        """Send the conversation's pending replies, oldest first, until one must wait."""
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        async with lock:
            while (claimed := await self._claim(conversation_id)) is not None:
                await self.book(claimed.channel, claimed.text)
                # What waits behind it is this loop's next claim, not another dispatch.
                outcome = await self._attempt(claimed, look_behind=False)
                await self._recorder.submit(outcome)
                if outcome.status is None:
                    return

    async def settled(self, channel: Channel, provider_id: str) -> None:
        """Wait until the outcome of this process's send with that provider id is written.

        A provider's status callback can overtake the recording of the send it is
        about (the provider answers the send, then calls back at once).
        """
        future = self._unrecorded.get((channel, provider_id))
        if future is not None:
            await asyncio.shield(future)

    async def _claim(self, conversation_id: int) -> Claimed | None:
        now = self.clock()
        async with self.db.connection() as conn:
            message = (
                await conn.execute(_OLDEST_PENDING, {"conversation_id": conversation_id})
            ).first()
            if message is None:
                return None
            if message.next_attempt_at is not None and message.next_attempt_at > now:
                # In flight in another process (which sends the rest in order), or
                # waiting out a back-off (whose process has its own timer). Either way
                # not ours now; recover() picks it up if that process died.
                return None
            attempts = (
                await conn.execute(
                    _CLAIM,
                    {
                        "b_id": message.id,
                        "b_now": now,
                        "b_lease_until": now + timedelta(seconds=self.backoff.lease),
                    },
                )
            ).scalar()
            if attempts is None:
                return None  # another process holds it; it sends the rest in order
            return Claimed(
                id=message.id,
                conversation_id=conversation_id,
                channel=message.channel,
                address=message.address or "",
                text=message.body,
                attempts=attempts,
                buttons=offered_buttons(message.payload),
                template=template_of(message.payload),
            )

    async def _attempt(self, claimed: Claimed, *, look_behind: bool) -> _Outcome:
        """Send one claimed message (its rate limit already booked); say how it went.

        `look_behind`: once it is recorded, look for replies queued behind it.
        """
        outcome = await self._send(claimed)
        if outcome.provider_id is not None:
            key = (claimed.channel, outcome.provider_id)
            self._unrecorded[key] = asyncio.get_running_loop().create_future()
        return replace(outcome, look_behind=look_behind and outcome.status is not None)

    async def _send(self, claimed: Claimed) -> _Outcome:
        sender = self.senders.get(claimed.channel)
        if sender is None:
            return _Outcome(claimed, DeliveryStatus.FAILED, error_code=CHANNEL_OFF)
        outgoing = Outgoing(
            message_id=claimed.id,
            channel=claimed.channel,
            address=claimed.address,
            text=claimed.text,
            buttons=_native_buttons(claimed, sender),
            template=claimed.template,
        )
        try:
            receipt = await sender.send(outgoing)
        except TransientSendError as exc:
            if claimed.attempts >= self.backoff.max_attempts:
                return _Outcome(claimed, DeliveryStatus.FAILED, error_code=exc.code or GAVE_UP)
            delay = self.backoff.delay(claimed.attempts, exc.retry_after)
            log.warning("send of message %d failed (%s); retry in %.1fs", claimed.id, exc, delay)
            return _Outcome(claimed, delay=delay)
        except PermanentSendError as exc:
            log.warning("send of message %d failed for good: %s", claimed.id, exc)
            return _Outcome(
                claimed,
                DeliveryStatus.FAILED,
                error_code=exc.code,
                opted_out=isinstance(exc, RecipientOptedOut),
            )
        except SendError as exc:  # a sender that did not say which kind: do not loop on it
            return _Outcome(claimed, DeliveryStatus.FAILED, error_code=exc.code)
        return _Outcome(claimed, receipt.status, provider_id=receipt.provider_id)

    async def _record_batch(self, outcomes: list[_Outcome]) -> list[Exception | None]:
        try:
            behind = await self._record(outcomes)
        except Exception as exc:  # the senders' callers log it; the replies stay leased
            return [exc] * len(outcomes)
        finally:
            for outcome in outcomes:
                if outcome.provider_id is not None:
                    key = (outcome.claimed.channel, outcome.provider_id)
                    future = self._unrecorded.pop(key, None)
                    if future is not None:
                        future.set_result(None)
        for conversation_id in behind:
            self._later(self.dispatch(conversation_id))
        return [None] * len(outcomes)

    async def _record(self, outcomes: Sequence[_Outcome]) -> list[int]:
        """Write what became of the replies: one statement per kind of outcome.

        Returns the conversations that have other replies waiting behind these ones
        (queued by a later answer, in this process or another, which found these in
        flight and left their sending to whoever finished them).
        """
        now = self.clock()
        finished = [o for o in outcomes if o.status is not None]
        waiting = [o for o in outcomes if o.status is None]
        async with self.db.transaction() as session:
            conn = await session.connection()
            if finished:
                await conn.execute(
                    _FINISH,
                    [
                        {
                            "b_id": o.claimed.id,
                            "b_status": o.status,
                            "b_provider_id": o.provider_id,
                            "b_error_code": o.error_code,
                            "b_now": now,
                        }
                        for o in finished
                    ],
                )
            if waiting:
                await conn.execute(
                    _POSTPONE,
                    [
                        {
                            "b_id": o.claimed.id,
                            "b_at": now + timedelta(seconds=o.delay),
                            "b_untried": 0 if o.tried else 1,
                            "b_now": now,
                        }
                        for o in waiting
                    ],
                )
            for outcome in finished:
                if outcome.opted_out:
                    await record_opt_out(
                        session,
                        outcome.claimed.conversation_id,
                        outcome.claimed.channel,
                        "provider:opted_out",
                        now,
                    )
            # A conversation waiting out a back-off has its own timer.
            retried = {o.claimed.conversation_id: o.delay for o in waiting}
            done = {o.claimed.conversation_id for o in finished if o.look_behind}
            done -= retried.keys()
            behind: list[int] = []
            if done:
                behind = list((await conn.execute(UNSENT, {"ids": sorted(done)})).scalars())
        for conversation_id, delay in retried.items():
            self._retry_at(conversation_id, delay)
        return behind

    def _retry_at(self, conversation_id: int, delay: float) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            await self.dispatch(conversation_id)

        self._later(later())

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._retries.add(task)
        task.add_done_callback(self._retried)

    def _retried(self, task: asyncio.Task[None]) -> None:
        self._retries.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The reply stays pending in the database; recover() sends it.
            log.error("retrying a send failed", exc_info=task.exception())

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
        """Wait for the retries scheduled so far, and the recording (tests, shutdown)."""
        while self._retries or self._recorder.busy:
            await self._recorder.idle()
            await asyncio.gather(*list(self._retries), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._retries):
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)


def _cost(channel: Channel, text: str) -> float:
    """What one message takes from its sender's rate: SMS are counted in segments."""
    return sms_segments(text) if channel is Channel.SMS else 1


def _costs(claimed: Sequence[Claimed], rates: Mapping[Channel, SendRate]) -> dict[SendRate, float]:
    costs: dict[SendRate, float] = {}
    for reply in claimed:
        bucket = rates.get(reply.channel, _UNLIMITED)
        costs[bucket] = costs.get(bucket, 0) + _cost(reply.channel, reply.text)
    return costs


def _native_buttons(claimed: Claimed, sender: ChannelSender) -> tuple[Button, ...]:
    if not claimed.buttons or len(claimed.buttons) > sender.capabilities.max_buttons:
        return ()
    return claimed.buttons
