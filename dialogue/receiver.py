"""Receiving: what providers send, stored once, before they are acknowledged.

A webhook's message is stored (deduped on channel and provider id, its sender resolved
to a customer, the customer's one conversation opened or continued) and committed
before the webhook is answered; with receipts on, only a receipt is written first and
the message is stored right after. Status callbacks are recorded here too. What is
stored is handed to whoever answers: this process's Answerer, or the workers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import AutocommitWriter, Database
from crm.models import (
    Channel,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    MessageAuthor,
    MessageDirection,
)
from dialogue.answerer import Answerer
from dialogue.background import Background
from dialogue.batching import Batcher
from dialogue.deliveries import DeliveryRecorder
from dialogue.identity import resolve_sender
from dialogue.intake import (
    DELETE_RECEIPTS,
    PENDING_RECEIPTS,
    RECEIPT_FAILED,
    RECEIPT_ORDER_LOCK,
    WRITE_RECEIPTS,
    Stored,
    receipt_row,
    store_inbound,
)
from dialogue.messages import DeliveryUpdate, Inbound
from dialogue.outbox import Outbox
from dialogue.ports import Accepted, AnswerQueue, Listener
from dialogue.store import inbound_from_message, inbound_payload

log = logging.getLogger(__name__)

_ACCEPT_ATTEMPTS = 3  # concurrent first messages of one sender race to create rows
# Webhooks stored per transaction at most.
STORE_BATCH = 128
# Receipts written per statement, and stored as messages per transaction, at most.
RECEIPT_BATCH = 256
# A receipt that could not be stored is tried again after this, doubled each time.
RECEIPT_RETRY = timedelta(seconds=15)
RECEIPT_RETRY_MOST = timedelta(hours=1)


class Receiver:
    """Implements dialogue.ports.InboundSink: stores messages and status callbacks.

    With `receipts` (PostgreSQL), webhooks wait only for a receipt. With `hand_over`,
    what is stored or kept is answered or applied by `omnihub worker` processes, told
    through that queue; without, by this process.
    """

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        answerer: Answerer,
        listener: Listener,
        background: Background,
        *,
        clock: Callable[[], datetime],
        receipts: bool,
        hand_over: AnswerQueue | None,
    ):
        self.db = db
        self.clock = clock
        self._answerer = answerer
        self._background = background
        self._answer_queue = hand_over
        self._intake: Batcher[Inbound, Stored] = Batcher(self._store_batch, max_size=STORE_BATCH)
        # With `receipts`, on PostgreSQL: a webhook waits only for its receipt (one
        # round trip), and the receipts are stored as messages after (see `receive`).
        self.receipts_on = receipts
        self._receipt_writer = AutocommitWriter(db)
        self._receipts: Batcher[Inbound, None] = Batcher(
            self._write_receipts, max_size=RECEIPT_BATCH
        )
        self._sorting: asyncio.Task[None] | None = None  # storing receipts as messages
        self._sort_again = False
        self.deliveries = DeliveryRecorder(
            db, outbox, clock, on_changed=listener.delivered, on_kept=self._kept
        )

    async def accept(self, inbound: Inbound) -> int:
        """Store an inbound message once; return its id. See dialogue.ports.InboundSink.

        The storing runs in the router's own task: a caller that goes away (a client
        hanging up, a server shutting down) cannot cut it off half-way, with a
        connection left mid-transaction; the storing finishes and the caller hears
        nothing.
        """
        stored = await self._intake.submit(inbound)
        return stored.message_id

    async def accept_new(self, inbound: Inbound) -> Accepted:
        """`accept`, telling whether this call stored the message (see InboundSink)."""
        stored = await self._intake.submit(inbound)
        return Accepted(stored.message_id, stored.new)

    async def receive(self, inbound: Inbound) -> None:
        """Record a provider's message durably; see dialogue.ports.InboundSink.

        With receipts on (PostgreSQL, `OMNIHUB_ANSWERING=worker`) the message is
        written as a receipt, in one statement for all the webhooks waiting, and
        stored as a message (sender, conversation) after the webhooks are
        acknowledged, by a worker: storing takes about ten round trips, which on a
        busy machine keep providers waiting. Otherwise it is stored at once: in one
        process, storing later costs more than it saves (docs/decisions.md).
        """
        if self.receipts_on:
            await self._receipts.submit(inbound)
        else:
            await self.accept(inbound)

    async def _write_receipts(self, inbounds: list[Inbound]) -> list[None]:
        now = self.clock()
        await self._receipt_writer.write(WRITE_RECEIPTS, [receipt_row(i, now) for i in inbounds])
        if self._answer_queue is None:
            self.sort_soon()
        else:  # a worker stores them, and answers; not awaited, as in _hand_over
            self._background.spawn(self._answer_queue.put_receipts())
        return [None] * len(inbounds)

    def sort_soon(self) -> None:
        """Store the waiting receipts as messages, in a task of this process (one at a time)."""
        self._sort_again = True
        if self._sorting is None:
            self._sorting = asyncio.create_task(self._sort_all())

    async def sorted(self) -> None:
        """Wait until the receipts this process is storing are stored."""
        if self._sorting is not None:
            await asyncio.wait([self._sorting])

    async def _sort_all(self) -> None:
        """Store receipts as messages until none is due; one task per process."""
        try:
            while self._sort_again:
                self._sort_again = False
                while await self._sort_batch() == RECEIPT_BATCH:
                    pass
        except Exception:
            # The database is away: the receipts wait for the next recovery sweep.
            log.exception("storing received messages failed; the next sweep tries again")
        finally:
            self._sorting = None

    async def _sort_batch(self) -> int:
        """Store the oldest due receipts as messages, delete them; return how many."""
        now = self.clock()
        rows: Sequence[Any] = ()
        results: list[Stored | None] | None = None
        try:
            async with self.db.connection() as conn:
                await conn.execute(RECEIPT_ORDER_LOCK)
                rows = (
                    await conn.execute(PENDING_RECEIPTS, {"now": now, "limit": RECEIPT_BATCH})
                ).all()
                if not rows:
                    return 0
                together = await store_inbound(conn, [inbound_from_message(r) for r in rows], now)
                done = [row.id for row, r in zip(rows, together, strict=True) if r is not None]
                if done:
                    await conn.execute(DELETE_RECEIPTS, {"ids": done})
                results = together
        except Exception:
            if not rows:
                raise
            # One message's trouble (see _store_batch): each alone, below.
        stored = [
            result if result is not None else await self._sort_alone(row, now)
            for row, result in zip(rows, results or [None] * len(rows), strict=True)
        ]
        self._hand_over(stored)
        return len(rows)

    async def _sort_alone(self, row: Any, now: datetime) -> Stored | Exception:
        """Store one receipt in transactions of its own; on failure, try it later."""
        result = await self._store_alone(inbound_from_message(row))
        async with self.db.connection() as conn:
            if isinstance(result, Stored):
                await conn.execute(DELETE_RECEIPTS, {"ids": [row.id]})
                return result
            log.error("could not store received message %s; tried again later", row.id)
            delay = min(RECEIPT_RETRY * 2 ** min(row.attempts, 16), RECEIPT_RETRY_MOST)
            await conn.execute(RECEIPT_FAILED, {"b_id": row.id, "b_next": now + delay})
        return result

    async def _store_batch(self, inbounds: list[Inbound]) -> list[Stored | Exception]:
        results: list[Stored | Exception]
        if len(inbounds) == 1:
            results = [await self._store_alone(inbounds[0])]
        else:
            try:
                together = await self._store_together(inbounds)
            except Exception:
                # One message's trouble (a race with another process that created the
                # same row, an address that is not a phone) must not fail the others.
                results = [await self._store_alone(inbound) for inbound in inbounds]
            else:
                results = [
                    stored if stored is not None else await self._store_alone(inbound)
                    for inbound, stored in zip(inbounds, together, strict=True)
                ]
        self._hand_over(results)
        return results

    def _hand_over(self, results: Sequence[Stored | Exception]) -> None:
        """Answer the conversations with new messages, here or in a worker."""
        new = [r.conversation_id for r in results if isinstance(r, Stored) and r.new]
        if self._answer_queue is None:
            self._answerer.schedule(new)
        elif new:
            # Not awaited: the acknowledgement does not wait for Redis. A hint lost
            # here is made up for by the next recovery sweep.
            self._background.spawn(self._answer_queue.put(sorted(set(new))))

    async def _store_together(self, inbounds: Sequence[Inbound]) -> list[Stored | None]:
        async with self.db.connection() as conn:
            return await store_inbound(conn, inbounds, self.clock())

    async def _store_alone(self, inbound: Inbound) -> Stored | Exception:
        for attempt in range(_ACCEPT_ATTEMPTS):
            try:
                (stored,) = await self._store_together([inbound])
                return stored if stored is not None else await self._store_moving(inbound)
            except IntegrityError as exc:
                # Another request created the same identity, conversation or message
                # first; the next attempt finds it.
                if attempt == _ACCEPT_ATTEMPTS - 1:
                    return exc
            except Exception as exc:
                return exc
        raise AssertionError("unreachable")

    async def _store_moving(self, inbound: Inbound) -> Stored:
        """Store a message whose sender's identity moves to a vouched customer (ORM)."""
        now = self.clock()
        async with self.db.transaction() as session:
            seen = (
                await session.execute(
                    select(Message.id, Message.conversation_id).where(
                        Message.channel == inbound.channel,
                        Message.provider_message_id == inbound.provider_id,
                    )
                )
            ).first()
            if seen is not None:
                return Stored(seen.id, seen.conversation_id, False)
            customer, identity = await resolve_sender(session, inbound, now)
            conversation = await _continue_conversation(
                session, customer.id, inbound.channel, identity.address, now
            )
            message = Message(
                conversation_id=conversation.id,
                direction=MessageDirection.INBOUND,
                author=MessageAuthor.CUSTOMER,
                channel=inbound.channel,
                address=identity.address,
                provider_message_id=inbound.provider_id,
                body=inbound.text,
                payload=inbound_payload(inbound),
                delivery_status=DeliveryStatus.RECEIVED,
                created_at=now,
            )
            session.add(message)
            await session.flush()
            return Stored(message.id, conversation.id, True)

    async def delivery(self, update_: DeliveryUpdate) -> None:
        """Record a provider's status callback (see dialogue.deliveries); returns once
        it is committed, applied to its message or kept until the message is found."""
        if self.receipts_on:  # applied after the acknowledgement, see `receive`
            await self.deliveries.keep(update_)
        else:
            await self.deliveries.record(update_)

    def _kept(self) -> None:
        """Status callbacks were kept to be applied: here, or by a worker."""
        if self._answer_queue is None:
            self.deliveries.apply_soon()
        else:  # not awaited, as in _write_receipts
            self._background.spawn(self._answer_queue.put_deliveries())

    @property
    def busy(self) -> bool:
        """Receipts are being written or stored as messages."""
        return self._sorting is not None or self._receipts.busy

    async def idle(self) -> None:
        """Wait for the receipts, messages and callbacks in hand now to be stored."""
        await self._receipts.idle()
        await self.sorted()
        await self._intake.idle()
        await self.deliveries.idle()

    async def close(self) -> None:
        """Let go of the writers' connections and of timers (after `idle`)."""
        await self.deliveries.close()
        await self._receipt_writer.close()


async def _continue_conversation(
    session: AsyncSession, customer_id: int, channel: Channel, address: str, now: datetime
) -> Conversation:
    """The customer's open conversation, whatever the channel, or a new one with the bot.

    As in `dialogue.intake`, an open one is not written to: answering may hold its row,
    and records there the channel of the customer's latest message itself.
    """
    conversation = await session.scalar(
        select(Conversation).where(
            Conversation.customer_id == customer_id,
            Conversation.status != ConversationStatus.RESOLVED,
        )
    )
    if conversation is None:
        conversation = Conversation(
            customer_id=customer_id,
            status=ConversationStatus.BOT,
            last_channel=channel,
            last_address=address,
            last_inbound_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(conversation)
        await session.flush()
    return conversation
