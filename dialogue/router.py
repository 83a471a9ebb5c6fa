"""The conversation router: stores what customers send, answers in order, once.

Every message goes through the same two steps, each in a part of its own:

1. receiving (`dialogue.receiver`, called by a webhook, awaited before the provider is
   acknowledged): the message is stored (deduped on channel and provider id, its
   sender resolved to a customer, the customer's one conversation opened or
   continued) and committed. After that nothing can be lost.
2. answering (`dialogue.answerer`, right after, and again by `recover` after a crash):
   under a row lock on the conversation, its oldest unprocessed messages are answered
   by the responder, the replies queued in the outbox and the messages marked
   processed, all in one transaction. So a message is answered once, in arrival order,
   also with several hub processes.

Both steps work in batches, which is what lets one process take hundreds of messages
a second (`dialogue.intake`, docs/decisions.md). This module wires the two for one of
three run modes, picked once at construction (`Mode`, `HandOver`), and tells one
`Listener` what others must hear. docs/message-path.md draws the whole path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import select

from crm.db import Database
from crm.models import Message, MessageDirection, utcnow
from dialogue.answerer import MESSAGES_PER_TRANSACTION, RESPOND_TIMEOUT, Answerer
from dialogue.aside import give_up_unsent
from dialogue.background import Background
from dialogue.messages import DeliveryUpdate, Inbound
from dialogue.outbox import Outbox
from dialogue.ports import Accepted, AnswerQueue, IdentityGuard, Listener, Nobody, Responder
from dialogue.receiver import Receiver
from dialogue.replies import Replies

log = logging.getLogger(__name__)

# With answering handed to workers: hints a worker takes from the queue at once.
HINTS_PER_TAKE = 64
QUEUE_RETRY = 1.0  # seconds before taking again after the queue failed


class Mode(Enum):
    """Who stores and answers what this process receives (OMNIHUB_ANSWERING)."""

    # Stored before the acknowledgement, answered here: one process, `serve` alone.
    ALONE = "alone"
    # Webhooks wait only for a receipt (PostgreSQL); stored and answered here:
    # `omnihub worker` with OMNIHUB_ANSWERING=worker (see `answer_from`).
    RECEIPTS = "receipts"


@dataclass(frozen=True)
class HandOver:
    """Webhooks wait only for a receipt (PostgreSQL); `omnihub worker` processes store
    and answer, told through `queue`: `serve` with OMNIHUB_ANSWERING=worker."""

    queue: AnswerQueue


class Router:
    """Implements dialogue.ports.InboundSink, and runs the answering of messages."""

    def __init__(
        self,
        db: Database,
        responder: Responder,
        outbox: Outbox,
        *,
        mode: Mode | HandOver = Mode.ALONE,
        listener: Listener | None = None,
        replies: Replies | None = None,
        identity_guard: IdentityGuard | None = None,
        clock: Callable[[], datetime] = utcnow,
        respond_timeout: float = RESPOND_TIMEOUT,
        messages_per_transaction: int = MESSAGES_PER_TRANSACTION,
    ):
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.mode = mode
        listener = listener or Nobody()
        # The inbox's replies are sent in tasks of their own: `idle` waits for them too.
        self._replies = replies or Replies(outbox)
        self._background = Background()  # sending, telling, after a commit
        self.answerer = Answerer(
            db,
            responder,
            outbox,
            listener,
            self._background,
            identity_guard=identity_guard,
            clock=lambda: self.clock(),
            respond_timeout=respond_timeout,
            messages_per_transaction=messages_per_transaction,
        )
        self.receiver = Receiver(
            db,
            outbox,
            self.answerer,
            listener,
            self._background,
            clock=lambda: self.clock(),
            receipts=mode is not Mode.ALONE and db.dialect == "postgresql",
            hand_over=mode.queue if isinstance(mode, HandOver) else None,
        )
        self._deliveries = self.receiver.deliveries

    # -- step 1: store, then acknowledge (dialogue.receiver) ----------------------------

    async def accept(self, inbound: Inbound) -> int:
        return await self.receiver.accept(inbound)

    async def accept_new(self, inbound: Inbound) -> Accepted:
        return await self.receiver.accept_new(inbound)

    async def receive(self, inbound: Inbound) -> None:
        await self.receiver.receive(inbound)

    async def delivery(self, update_: DeliveryUpdate) -> None:
        await self.receiver.delivery(update_)

    # -- step 2: answer, in order, once (dialogue.answerer) -------------------------------

    async def process(self, conversation_id: int) -> None:
        await self.answerer.process(conversation_id)

    async def answer_from(self, queue: AnswerQueue, stop: asyncio.Event) -> None:
        """Store the receipts `serve` processes write, apply the status callbacks they
        kept and answer the conversations, as their hints arrive, until `stop`
        (`omnihub worker` with OMNIHUB_ANSWERING=worker). What this process stores, it
        answers itself."""
        if isinstance(self.mode, HandOver):
            raise ValueError("a router that hands its messages over does not take them")
        while not stop.is_set():
            try:
                hints = await queue.take(HINTS_PER_TAKE)
            except Exception:
                # Redis is away: the recovery sweeps answer meanwhile.
                log.exception("could not take conversations to answer; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), QUEUE_RETRY)
                continue
            if hints.receipts and self.receiver.receipts_on:
                self.receiver.sort_soon()
            if hints.deliveries:
                self._deliveries.apply_soon()
            self.answerer.schedule(hints.conversation_ids)

    # -- recovery and shutdown --------------------------------------------------------

    async def recover(self, *, older_than: timedelta = timedelta(0)) -> int:
        """Process what a crash left behind: unprocessed messages and unsent replies.

        Returns how many conversations it looked at. Safe to run in every process at
        any time: processing takes the conversation's row lock and is idempotent.
        """
        if self.receiver.receipts_on:  # first, what was acknowledged but not stored yet
            self.receiver.sort_soon()
            await self.receiver.sorted()
        cutoff = self.clock() - older_than
        async with self.db.transaction() as session:
            unanswered = set(
                (
                    await session.scalars(
                        select(Message.conversation_id)
                        .where(
                            Message.direction == MessageDirection.INBOUND,
                            Message.processed_at.is_(None),
                            Message.created_at <= cutoff,
                        )
                        .distinct()
                    )
                ).all()
            )
        await asyncio.gather(*(self.process(c) for c in sorted(unanswered)))
        found = len(unanswered) + await self.outbox.recover()
        await give_up_unsent(self.outbox)  # one-time codes a crash kept from going
        # After the sends a crash left are recorded: their callbacks find them now.
        await self._deliveries.apply_waiting()
        await self._deliveries.forget_expired()
        return found

    async def idle(self) -> None:
        """Wait until every message accepted so far has been answered and its replies
        sent or scheduled (tests, shutdown)."""
        while True:
            await self.receiver.idle()
            running = self.answerer.running | self._background.tasks | self._replies.running
            if self.receiver.busy:
                continue
            if not running:
                break
            await asyncio.gather(*running, return_exceptions=True)
        await self.outbox.idle()

    async def close(self) -> None:
        """Let go of the receipt writer's connection and of timers (after `idle`)."""
        await self.receiver.close()
