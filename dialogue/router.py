"""The conversation router: stores what customers send, answers in order, once.

Every message goes through the same two steps:

1. `accept` (called by a webhook, awaited before the provider is acknowledged):
   in one transaction, dedupe on (channel, provider id), resolve the sender to a
   customer, open or continue the customer's one conversation, and store the message
   as not yet processed. After the commit nothing can be lost.
2. `process` (right after, and again by `recover` after a crash): take the
   conversation's oldest unprocessed message under a row lock on the conversation,
   let the responder answer it (only while the bot owns the conversation), queue the
   replies in the outbox and mark the message processed, all in one transaction. So a
   message is answered once, in arrival order, also with several hub processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakValueDictionary

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import Database
from crm.models import (
    Channel,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    MessageAuthor,
    MessageDirection,
    utcnow,
)
from dialogue.identity import resolve_sender
from dialogue.messages import DeliveryUpdate, Inbound, Reply
from dialogue.outbox import Outbox, record_opt_out
from dialogue.ports import Responder, Turn
from dialogue.rendering import match_choice
from dialogue.store import buttons_payload, inbound_from_message, inbound_payload, offered_buttons

log = logging.getLogger(__name__)

_ACCEPT_ATTEMPTS = 3  # concurrent first messages of one sender race to create rows
# The responder answers inside the conversation's transaction: one that hangs would
# hold the row lock (on SQLite, the whole database). Past this it is abandoned, its
# transaction rolled back, and the message answered by a later recovery sweep.
RESPOND_TIMEOUT = 15.0

# A status callback never moves a message backwards (callbacks arrive out of order).
_PROGRESS = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.READ: 4,
    DeliveryStatus.FAILED: 5,
    DeliveryStatus.UNDELIVERED: 5,
}
OPTED_OUT_CODE = "21610"  # Twilio: the recipient sent STOP


class Router:
    """Implements dialogue.ports.InboundSink, and runs the answering of messages."""

    def __init__(
        self,
        db: Database,
        responder: Responder,
        outbox: Outbox,
        *,
        clock: Callable[[], datetime] = utcnow,
        respond_timeout: float = RESPOND_TIMEOUT,
    ):
        self.db = db
        self.respond_timeout = respond_timeout
        self.responder = responder
        self.outbox = outbox
        self.clock = clock
        self._locks: WeakValueDictionary[int, asyncio.Lock] = WeakValueDictionary()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- step 1: store, then acknowledge -------------------------------------------

    async def accept(self, inbound: Inbound) -> int:
        """Store an inbound message once; return its id. See dialogue.ports.InboundSink.

        Shielded: a caller that goes away (a client hanging up, a server shutting
        down) must not cut a message's storing off half-way, with a connection left
        mid-transaction; the storing finishes and the caller hears nothing.
        """
        return await asyncio.shield(self._accept(inbound))

    async def _accept(self, inbound: Inbound) -> int:
        for attempt in range(_ACCEPT_ATTEMPTS):
            try:
                message_id, conversation_id, new = await self._store(inbound)
            except IntegrityError:
                # Another request created the same identity, conversation or message
                # first; the next attempt finds it.
                if attempt == _ACCEPT_ATTEMPTS - 1:
                    raise
                continue
            if new:
                self._spawn(self.process(conversation_id))
            return message_id
        raise AssertionError("unreachable")

    async def _store(self, inbound: Inbound) -> tuple[int, int, bool]:
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
                return seen.id, seen.conversation_id, False
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
            return message.id, conversation.id, True

    async def delivery(self, update_: DeliveryUpdate) -> None:
        """Record a provider's status callback; an opt-out error becomes a consent row."""
        async with self.db.transaction() as session:
            message = await session.scalar(
                select(Message).where(
                    Message.channel == update_.channel,
                    Message.provider_message_id == update_.provider_id,
                )
            )
            if message is None:
                log.info("status for an unknown message %s", update_.provider_id)
                return
            if _PROGRESS.get(update_.status, 0) >= _PROGRESS.get(message.delivery_status, 0):
                message.delivery_status = update_.status
            if update_.error_code:
                message.error_code = update_.error_code
            if update_.error_code == OPTED_OUT_CODE:
                await record_opt_out(session, message, f"provider:{OPTED_OUT_CODE}", self.clock())

    # -- step 2: answer, in order, once ----------------------------------------------

    async def process(self, conversation_id: int) -> None:
        """Answer every unprocessed message of a conversation, oldest first."""
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        async with lock:  # in this process; the row lock below orders processes
            while await self._process_next(conversation_id):
                pass
        await self.outbox.dispatch(conversation_id)

    async def _process_next(self, conversation_id: int) -> bool:
        now = self.clock()
        async with self.db.transaction() as session:
            conversation = await session.scalar(
                select(Conversation).where(Conversation.id == conversation_id).with_for_update()
            )
            if conversation is None:
                return False
            message = await session.scalar(
                select(Message)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.direction == MessageDirection.INBOUND,
                    Message.processed_at.is_(None),
                )
                .order_by(Message.id)
                .limit(1)
            )
            if message is None:
                return False
            inbound = await self._with_choice(
                session, conversation_id, inbound_from_message(message)
            )
            if conversation.status is ConversationStatus.BOT:
                turn = Turn(conversation.id, conversation.customer_id, message.id, inbound)
                replies = await asyncio.wait_for(
                    self.responder.respond(session, turn), self.respond_timeout
                )
                for reply in replies:
                    self.queue_reply(session, conversation, reply, MessageAuthor.BOT, now)
            # Owned by an agent or queued for one: the bot says nothing.
            message.processed_at = now
            return True

    async def _with_choice(
        self, session: AsyncSession, conversation_id: int, inbound: Inbound
    ) -> Inbound:
        """A numbered answer ("2") to the last choices offered is that choice's payload."""
        if inbound.payload is not None or not inbound.text:
            return inbound
        offer = await session.scalar(
            select(Message)
            .where(
                Message.conversation_id == conversation_id,
                Message.direction == MessageDirection.OUTBOUND,
                Message.private.is_(False),
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
        buttons = offered_buttons(offer) if offer is not None else ()
        choice = match_choice(inbound.text, buttons) if buttons else None
        if choice is None:
            return inbound
        return Inbound(**{**inbound.__dict__, "payload": choice.payload})

    def queue_reply(
        self,
        session: AsyncSession,
        conversation: Conversation,
        reply: Reply,
        author: MessageAuthor,
        now: datetime,
        *,
        agent_id: int | None = None,
    ) -> list[Message]:
        """Queue a reply on the channel the customer used last, rendered for it."""
        parts = self.outbox.render(conversation.last_channel, reply)
        messages = []
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            message = Message(
                conversation=conversation,
                direction=MessageDirection.OUTBOUND,
                author=author,
                agent_id=agent_id,
                channel=conversation.last_channel,
                address=conversation.last_address,
                body=part.text,
                # The choices are kept whatever the rendering, so "2" can be read back.
                payload=buttons_payload(reply.buttons) if last else None,
                delivery_status=DeliveryStatus.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            session.add(message)
            messages.append(message)
        return messages

    # -- recovery and shutdown --------------------------------------------------------

    async def recover(self, *, older_than: timedelta = timedelta(0)) -> int:
        """Process what a crash left behind: unprocessed messages and unsent replies.

        Returns how many conversations it looked at. Safe to run in every process at
        any time: processing takes the conversation's row lock and is idempotent.
        """
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
        for conversation_id in sorted(unanswered):
            await self.process(conversation_id)
        return len(unanswered) + await self.outbox.recover()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The message stays unprocessed in the database; recover() retries it.
            log.error("processing failed", exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until every message accepted so far has been processed (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.outbox.idle()


async def _continue_conversation(
    session: AsyncSession, customer_id: int, channel: Channel, address: str, now: datetime
) -> Conversation:
    """The customer's open conversation, whatever the channel, or a new one with the bot."""
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
            created_at=now,
        )
        session.add(conversation)
    conversation.last_channel = channel
    conversation.last_address = address
    conversation.last_inbound_at = now
    conversation.updated_at = now
    await session.flush()
    return conversation
