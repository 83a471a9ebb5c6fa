"""The conversation router: stores what customers send, answers in order, once.

Every message goes through the same two steps:

1. `accept` (called by a webhook, awaited before the provider is acknowledged): the
   message is stored (deduped on channel and provider id, its sender resolved to a
   customer, the customer's one conversation opened or continued) and committed
   before `accept` returns. After that nothing can be lost.
2. `process` (right after, and again by `recover` after a crash): under a row lock
   on the conversation, its oldest unprocessed messages are answered by the
   responder (only while the bot owns the conversation), the replies queued in the
   outbox and the messages marked processed, all in one transaction. So a message
   is answered once, in arrival order, also with several hub processes.

Both steps work in batches, which is what lets one process take hundreds of messages
a second: a single task per process stores whatever webhooks are waiting in one
transaction (`dialogue.intake`), and answering takes many conversations per
transaction, locked in id order. Both use SQLAlchemy Core, with statements built
once; the responder gets the ORM session of the answering transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from crm.db import AutocommitWriter, Database
from crm.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Message,
    MessageAuthor,
    MessageDirection,
    utcnow,
)
from dialogue.aside import Aside, give_up_unsent, send_asides
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
from dialogue.messages import DeliveryUpdate, Inbound, Reply
from dialogue.outbox import UNSENT, Claimed, Outbox
from dialogue.ports import Accepted, AfterCommit, AnswerQueue, IdentityGuard, Responder, Turn
from dialogue.rendering import match_choice
from dialogue.store import (
    buttons_payload,
    inbound_from_message,
    inbound_payload,
    offered_buttons,
    reply_payload,
)
from dialogue.verification import verified_in

log = logging.getLogger(__name__)

_ACCEPT_ATTEMPTS = 3  # concurrent first messages of one sender race to create rows
# The responder answers inside the conversation's transaction: one that hangs would
# hold the row lock (on SQLite, the whole database). Past this it is abandoned, its
# transaction rolled back, and the message answered by a later recovery sweep.
RESPOND_TIMEOUT = 15.0
# A message the bot fails on this many times (it raises, or hangs) is set aside, marked
# with BOT_FAILED, and its conversation goes to a person: it is not retried forever.
MAX_ANSWER_ATTEMPTS = 3
BOT_FAILED = "bot_failed"
# Webhooks stored per transaction at most.
STORE_BATCH = 128
# Receipts written per statement, and stored as messages per transaction, at most.
RECEIPT_BATCH = 256
# A receipt that could not be stored is tried again after this, doubled each time.
RECEIPT_RETRY = timedelta(seconds=15)
RECEIPT_RETRY_MOST = timedelta(hours=1)
# Conversations, and messages, answered per transaction at most; a conversation with
# more messages comes back for another transaction.
ANSWER_BATCH = 32
MESSAGES_PER_TRANSACTION = 512
# Answering transactions one process runs side by side: the responder's statements
# run one after the other, so several transactions keep the database busy, and a
# slow responder holds up only its own batch. SQLite has a single writer anyway.
ANSWERING_TASKS = {"sqlite": 1, "postgresql": 4}
# With answering handed to workers: hints a worker takes from the queue at once.
HINTS_PER_TAKE = 64
QUEUE_RETRY = 1.0  # seconds before taking again after the queue failed

_messages = cast(Table, Message.__table__)
_conversations = cast(Table, Conversation.__table__)
# Locked in id order: two processes answering overlapping batches cannot deadlock.
# FOR NO KEY UPDATE excludes another answering transaction but not the storing of a
# new message (whose foreign key takes a KEY SHARE lock on its conversation), so a
# webhook never waits for a responder. (SQLite has no row locks: its transactions
# take the database's write lock.)
# The conversations are loaded as ORM objects, and their customers with them: the
# responder works with both through the session, where it then finds them without a
# statement of its own.
_LOCK = (
    select(Conversation)
    .where(Conversation.id.in_(bindparam("ids", expanding=True)))
    .order_by(Conversation.id)
    .with_for_update(key_share=True)
)
_CUSTOMERS = select(Customer).where(Customer.id.in_(bindparam("ids", expanding=True)))
_UNANSWERED = (
    select(
        _messages.c.id,
        _messages.c.conversation_id,
        _messages.c.channel,
        _messages.c.provider_message_id,
        _messages.c.address,
        _messages.c.body,
        _messages.c.payload,
        _messages.c.created_at,
    )
    .where(
        _messages.c.conversation_id.in_(bindparam("ids", expanding=True)),
        _messages.c.direction == MessageDirection.INBOUND,
        _messages.c.processed_at.is_(None),
    )
    .order_by(_messages.c.conversation_id, _messages.c.id)
    .limit(bindparam("limit"))
)
# Where the customer wrote last: replies go there (and WhatsApp's window starts).
_LAST_INBOUND = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("b_id"))
    .values(
        last_channel=bindparam("b_channel"),
        last_address=bindparam("b_address"),
        last_inbound_at=bindparam("b_at"),
        updated_at=bindparam("b_now"),
    )
)
_STATUS = select(_conversations.c.status).where(_conversations.c.id == bindparam("id"))
# What each conversation said last: the choices a numbered answer refers to.
_LAST_SAID = select(_messages.c.conversation_id, _messages.c.payload).where(
    _messages.c.id.in_(
        select(func.max(_messages.c.id))
        .where(
            _messages.c.conversation_id.in_(bindparam("ids", expanding=True)),
            _messages.c.direction == MessageDirection.OUTBOUND,
            _messages.c.private.is_(False),
        )
        .group_by(_messages.c.conversation_id)
    )
)
_ADD_REPLIES = insert(_messages).returning(_messages.c.id, sort_by_parameter_order=True)
_MARK_PROCESSED = (
    update(_messages)
    .where(_messages.c.id.in_(bindparam("ids", expanding=True)))
    .values(processed_at=bindparam("now"), updated_at=bindparam("now"))
)

# Inbound messages count failed answers in `attempts` (outbound ones count sends).
_COUNT_FAILURE = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"), _messages.c.processed_at.is_(None))
    .values(attempts=_messages.c.attempts + 1)
    .returning(_messages.c.attempts)
)
_SET_ASIDE = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"))
    .values(processed_at=bindparam("b_now"), updated_at=bindparam("b_now"), error_code=BOT_FAILED)
)


@dataclass(frozen=True)
class _Latest:
    """A conversation's latest customer message: where it came from, and when."""

    channel: Channel
    address: str
    at: datetime


class _Unanswered(Exception):
    """One conversation's responder failed: the rest of its batch is answered without it."""

    def __init__(self, conversation_id: int, message_id: int):
        super().__init__(f"answering message {message_id} failed")
        self.conversation_id = conversation_id
        self.message_id = message_id


@dataclass
class _Answered:
    """What one answering transaction leaves to do once committed."""

    claimed: list[Claimed] = field(default_factory=list)  # replies to send now
    queued: set[int] = field(default_factory=set)  # conversations with replies queued behind
    more: set[int] = field(default_factory=set)  # conversations with messages left
    asides: list[Aside] = field(default_factory=list)  # to someone else, sent once
    # Identities proved in it: their channels tell open connections, before any reply.
    after_proofs: list[AfterCommit] = field(default_factory=list)


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
        messages_per_transaction: int = MESSAGES_PER_TRANSACTION,
        answer_queue: AnswerQueue | None = None,
        receipts: bool = False,
        identity_guard: IdentityGuard | None = None,
    ):
        self.db = db
        # Told, in the answering transaction, of identities proved by one-time code.
        self._identity_guard = identity_guard
        self.respond_timeout = respond_timeout
        self.responder = responder
        self.outbox = outbox
        self.clock = clock
        self._messages_per_transaction = messages_per_transaction
        self._intake: Batcher[Inbound, Stored] = Batcher(self._store_batch, max_size=STORE_BATCH)
        # With `receipts`, on PostgreSQL: a webhook waits only for its receipt (one
        # round trip), and the receipts are stored as messages after (see `receive`).
        self._receipts_on = receipts and db.dialect == "postgresql"
        self._receipt_writer = AutocommitWriter(db)
        self._receipts: Batcher[Inbound, None] = Batcher(
            self._write_receipts, max_size=RECEIPT_BATCH
        )
        self._sorting: asyncio.Task[None] | None = None  # storing receipts as messages
        self._sort_again = False
        # Conversations to answer, each with the callers waiting for it, oldest first.
        self._due: dict[int, list[asyncio.Future[None]]] = {}
        self._busy: set[int] = set()  # in an answering transaction now
        self._answering: set[asyncio.Task[None]] = set()
        self._answering_tasks = ANSWERING_TASKS.get(db.dialect, 1)
        self._tasks: set[asyncio.Task[None]] = set()  # sending, after answering
        self._deliveries = DeliveryRecorder(db, outbox, lambda: self.clock())
        self._deliveries.on_changed = self._delivered
        self._deliveries.on_kept = self._kept
        # Set: what this process stores is answered by `omnihub worker` processes,
        # told through the queue; this one only stores and acknowledges.
        self._answer_queue = answer_queue
        # Told after each commit (the inbox: live events, assignment of new handoffs).
        self.on_answered: Callable[[list[int]], Coroutine[Any, Any, None]] | None = None
        # Told with the (conversation id, message id) of messages whose delivery status
        # changed, after each commit.
        self.on_delivery: Callable[[list[tuple[int, int]]], Awaitable[None]] | None = None
        # Told when the bot failed on a message MAX_ANSWER_ATTEMPTS times (a person takes it).
        self.on_gave_up: Callable[[int], Coroutine[Any, Any, None]] | None = None

    # -- step 1: store, then acknowledge -------------------------------------------

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
        if self._receipts_on:
            await self._receipts.submit(inbound)
        else:
            await self.accept(inbound)

    async def _write_receipts(self, inbounds: list[Inbound]) -> list[None]:
        now = self.clock()
        await self._receipt_writer.write(WRITE_RECEIPTS, [receipt_row(i, now) for i in inbounds])
        if self._answer_queue is None:
            self._sort_soon()
        else:  # a worker stores them, and answers; not awaited, as in _hand_over
            self._spawn(self._answer_queue.put_receipts())
        return [None] * len(inbounds)

    def _sort_soon(self) -> None:
        self._sort_again = True
        if self._sorting is None:
            self._sorting = asyncio.create_task(self._sort_all())

    async def _sorted(self) -> None:
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
            self._schedule(new)
        elif new:
            # Not awaited: the acknowledgement does not wait for Redis. A hint lost
            # here is made up for by the next recovery sweep.
            self._spawn(self._answer_queue.put(sorted(set(new))))

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
        if self._receipts_on:  # applied after the acknowledgement, see `receive`
            await self._deliveries.keep(update_)
        else:
            await self._deliveries.record(update_)

    def _kept(self) -> None:
        """Status callbacks were kept to be applied: here, or by a worker."""
        if self._answer_queue is None:
            self._deliveries.apply_soon()
        else:  # not awaited, as in _write_receipts
            self._spawn(self._answer_queue.put_deliveries())

    async def _delivered(self, changed: list[tuple[int, int]]) -> None:
        if self.on_delivery is not None:
            await self.on_delivery(changed)

    # -- step 2: answer, in order, once ----------------------------------------------

    async def process(self, conversation_id: int) -> None:
        """Answer every unprocessed message of a conversation, oldest first.

        Returns once they are answered, or once answering failed (logged; the messages
        stay unprocessed for a later `recover`).
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._due.setdefault(conversation_id, []).append(done)
        self._start_answering()
        await done

    def _schedule(self, conversation_ids: Iterable[int]) -> None:
        for conversation_id in conversation_ids:
            self._due.setdefault(conversation_id, [])
        self._start_answering()

    async def answer_from(self, queue: AnswerQueue, stop: asyncio.Event) -> None:
        """Store the receipts `serve` processes write, apply the status callbacks they
        kept and answer the conversations, as their hints arrive, until `stop`
        (`omnihub worker` with OMNIHUB_ANSWERING=worker). What this process stores, it
        answers itself."""
        self._answer_queue = None
        while not stop.is_set():
            try:
                hints = await queue.take(HINTS_PER_TAKE)
            except Exception:
                # Redis is away: the recovery sweeps answer meanwhile.
                log.exception("could not take conversations to answer; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), QUEUE_RETRY)
                continue
            if hints.receipts and self._receipts_on:
                self._sort_soon()
            if hints.deliveries:
                self._deliveries.apply_soon()
            self._schedule(hints.conversation_ids)

    def _start_answering(self) -> None:
        while self._due and len(self._answering) < self._answering_tasks:
            # A conversation in a transaction now waits for the next one: in this
            # process, one transaction at a time answers a conversation.
            batch = [c for c in self._due if c not in self._busy][:ANSWER_BATCH]
            if not batch:
                return
            waiting = {c: self._due.pop(c) for c in batch}
            self._busy.update(waiting)
            task = asyncio.create_task(self._answer_batch(waiting))
            self._answering.add(task)
            task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task[None]) -> None:
        self._answering.discard(task)
        self._start_answering()

    async def _answer_batch(self, waiting: dict[int, list[asyncio.Future[None]]]) -> None:
        more: set[int] = set()
        try:
            more = await self._answer_all(sorted(waiting))
        finally:
            self._busy.difference_update(waiting)
            for conversation_id, futures in waiting.items():
                if conversation_id in more:
                    self._due.setdefault(conversation_id, []).extend(futures)
                    continue
                for future in futures:
                    if not future.done():
                        future.set_result(None)

    async def _answer_all(self, conversation_ids: list[int]) -> set[int]:
        """Answer the conversations' messages; return those with messages left over."""
        pending = list(conversation_ids)
        while pending:
            try:
                answered = await self._answer(pending)
            except _Unanswered as failure:
                # Its message stays unprocessed, for recover() to try again; after
                # MAX_ANSWER_ATTEMPTS it is set aside and a person takes over.
                log.error("%s; retried later", failure, exc_info=failure.__cause__)
                pending.remove(failure.conversation_id)
                await self._failed(failure)
                continue
            except Exception:
                if len(pending) == 1:
                    log.exception("answering conversation %d failed", pending[0])
                    return set()
                # Not one responder: the transaction as a whole failed. Each alone, so
                # that whatever it was holds up only its own conversation.
                more: set[int] = set()
                for conversation_id in pending:
                    more |= await self._answer_all([conversation_id])
                return more
            # Awaited, before the replies go: a connection whose credential just ended
            # (a copied web-chat token) must be closed before the answer shows the
            # customer's own data on it.
            for after in answered.after_proofs:
                try:
                    await after()
                except Exception:
                    # Ended in the database all the same: refused at its next check.
                    log.exception("could not tell open connections of a proved identity")
            if self.on_answered is not None:
                self._spawn(self.on_answered(list(pending)))
            if answered.claimed:
                self._spawn(self.outbox.deliver(answered.claimed))
            if answered.asides:  # beside the replies: those never wait for these
                self._spawn(send_asides(self.outbox, answered.asides))
            for conversation_id in sorted(answered.queued):
                self._spawn(self.outbox.dispatch(conversation_id))
            return answered.more
        return set()

    async def _failed(self, failure: _Unanswered) -> None:
        """Count a failed answer; the last allowed one sets the message aside."""
        now = self.clock()
        async with self.db.connection() as conn:
            attempts = await conn.scalar(_COUNT_FAILURE, {"b_id": failure.message_id})
            if attempts is None or attempts < MAX_ANSWER_ATTEMPTS:
                return
            await conn.execute(_SET_ASIDE, {"b_id": failure.message_id, "b_now": now})
        log.error(
            "message %d failed %d times: set aside, and the conversation goes to a person",
            failure.message_id,
            attempts,
        )
        if self.on_gave_up is not None:
            self._spawn(self.on_gave_up(failure.conversation_id))

    async def _answer(self, conversation_ids: list[int]) -> _Answered:
        now = self.clock()
        answered = _Answered()
        async with self.db.transaction() as session:
            conn = await session.connection()
            locked = {c.id: c for c in await session.scalars(_LOCK, {"ids": conversation_ids})}
            limit = self._messages_per_transaction
            rows = (
                await conn.execute(_UNANSWERED, {"ids": sorted(locked), "limit": limit + 1})
            ).all()
            if len(rows) > limit:
                # Ordered by conversation: the last one may have more, the ones after
                # it were not reached.
                rows = rows[:limit]
                answered.more = {c for c in locked if c >= rows[-1].conversation_id}
            if not rows:
                return answered
            latest = await self._note_latest(conn, locked, rows, now)
            _customers = (
                await session.scalars(
                    _CUSTOMERS, {"ids": sorted({c.customer_id for c in locked.values()})}
                )
            ).all()  # held: the session keeps only what is referenced
            replies = _Replies(self, now)
            await replies.look_back(conn, {row.conversation_id for row in rows})
            responded: set[int] = set()  # conversations the responder answered in this one
            processed: list[int] = []
            for row in rows:
                conversation = locked[row.conversation_id]
                status: ConversationStatus | None = conversation.status
                if conversation.id in responded:
                    # The responder may have handed the conversation to a person: its
                    # status is read again, with the replies so far written.
                    await replies.write(conn)
                    status = await conn.scalar(_STATUS, {"id": conversation.id})
                if status is ConversationStatus.BOT:
                    inbound = _with_choice(
                        inbound_from_message(row), replies.last_said(conversation.id)
                    )
                    turn = Turn(conversation.id, conversation.customer_id, row.id, inbound)
                    try:
                        async with asyncio.timeout(self.respond_timeout):
                            said = await self.responder.respond(session, turn)
                            await self._guard(session, answered)
                        await session.flush()  # its own writes fail here, as its failure
                    except Exception as exc:
                        raise _Unanswered(conversation.id, row.id) from exc
                    responded.add(conversation.id)
                    last = latest[conversation.id]
                    for reply in said:
                        replies.add(conversation.id, reply, last.channel, last.address)
                # Owned by an agent or queued for one: the bot says nothing.
                processed.append(row.id)
            await replies.write(conn)
            await conn.execute(_MARK_PROCESSED, {"ids": processed, "now": now})
        answered.claimed = replies.claimed
        answered.queued = replies.queued
        answered.asides = replies.asides
        return answered

    async def _guard(self, session: AsyncSession, answered: _Answered) -> None:
        """Has the channels of identities the responder proved end their old credentials,
        in this transaction."""
        for proof in verified_in(session):
            if self._identity_guard is None:
                continue
            after = await self._identity_guard.verified(session, proof)
            if after is not None:
                answered.after_proofs.append(after)

    async def _note_latest(
        self,
        conn: AsyncConnection,
        locked: Mapping[int, Conversation],
        rows: Sequence[Any],  # rows of _UNANSWERED
        now: datetime,
    ) -> dict[int, _Latest]:
        """Record on each conversation the channel of the customer's latest message.

        Storing a message leaves an open conversation's row alone (so it never waits
        for the lock held here); the latest message is the last unprocessed one.
        """
        latest: dict[int, _Latest] = {}
        for row in rows:  # in id order within a conversation
            conversation = locked[row.conversation_id]
            latest[row.conversation_id] = _Latest(
                row.channel, row.address or conversation.last_address, row.created_at
            )
        moved = [
            (locked[conversation_id], last)
            for conversation_id, last in latest.items()
            if (last.channel, last.address, last.at)
            != (
                locked[conversation_id].last_channel,
                locked[conversation_id].last_address,
                locked[conversation_id].last_inbound_at,
            )
        ]
        if moved:
            await conn.execute(
                _LAST_INBOUND,
                [
                    {
                        "b_id": conversation.id,
                        "b_channel": last.channel,
                        "b_address": last.address,
                        "b_at": last.at,
                        "b_now": now,
                    }
                    for conversation, last in moved
                ],
            )
            for conversation, last in moved:  # the responder sees what was written
                set_committed_value(conversation, "last_channel", last.channel)
                set_committed_value(conversation, "last_address", last.address)
                set_committed_value(conversation, "last_inbound_at", last.at)
                set_committed_value(conversation, "updated_at", now)
        return latest

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
        """Queue a reply on the channel the customer used last, rendered."""
        if reply.to is not None:
            raise ValueError("a reply to someone else is no message of the conversation")
        channel, address = conversation.last_channel, conversation.last_address
        parts = self.outbox.render(channel, reply)
        messages = []
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            message = Message(
                conversation=conversation,
                direction=MessageDirection.OUTBOUND,
                author=author,
                agent_id=agent_id,
                channel=channel,
                address=address,
                body=part.text,
                # The choices are kept whatever the rendering, so "2" can be read back.
                payload=reply_payload(reply) if last else None,
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
        if self._receipts_on:  # first, what was acknowledged but not stored yet
            self._sort_soon()
            await self._sorted()
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

    def send_soon(self, conversation_id: int) -> None:
        """Send what was queued in a conversation outside answering (an agent's reply),
        without making the caller wait; `idle` waits for it."""
        self._spawn(self.outbox.dispatch(conversation_id))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # What it was for stays in the database (replies pending, messages
            # unprocessed): recover() takes it up.
            log.error("background work failed", exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until every message accepted so far has been answered and its replies
        sent or scheduled (tests, shutdown)."""
        while True:
            await self._receipts.idle()
            await self._sorted()
            await self._intake.idle()
            await self._deliveries.idle()
            running = self._answering | self._tasks
            if self._sorting is not None or self._receipts.busy:
                continue
            if not running:
                break
            await asyncio.gather(*running, return_exceptions=True)
        await self.outbox.idle()

    async def close(self) -> None:
        """Let go of the receipt writer's connection and of timers (after `idle`)."""
        await self._deliveries.close()
        await self._receipt_writer.close()


class _Replies:
    """The replies of one answering transaction: rendered, then written together.

    A reply goes out already claimed by this process (`Outbox.deliver` sends it
    after the commit) unless its conversation has an older reply still unsent; then
    it waits its turn in the outbox.
    """

    def __init__(self, router: Router, now: datetime) -> None:
        self._outbox = router.outbox
        self._now = now
        self._lease_until = now + timedelta(seconds=router.outbox.backoff.lease)
        self._said: dict[int, dict[str, Any] | None] = {}  # conversation -> last payload
        self._unsent: set[int] = set()
        self._rows: list[dict[str, Any]] = []
        self.claimed: list[Claimed] = []
        self.queued: set[int] = set()
        self.asides: list[Aside] = []

    async def look_back(self, conn: AsyncConnection, conversation_ids: set[int]) -> None:
        ids = sorted(conversation_ids)
        for row in await conn.execute(_LAST_SAID, {"ids": ids}):
            self._said[row.conversation_id] = row.payload
        self._unsent = set((await conn.execute(UNSENT, {"ids": ids})).scalars())

    def last_said(self, conversation_id: int) -> dict[str, Any] | None:
        return self._said.get(conversation_id)

    def add(self, conversation_id: int, reply: Reply, channel: Channel, address: str) -> None:
        if reply.to is not None:  # someone else's: not a message of this conversation
            self.asides.append(Aside.of(reply))
            return
        parts = self._outbox.render(channel, reply)
        claim = conversation_id not in self._unsent
        for index, part in enumerate(parts):
            # The choices are kept whatever the rendering, so "2" can be read back.
            payload = buttons_payload(reply.buttons) if index == len(parts) - 1 else None
            self._rows.append(
                {
                    "conversation_id": conversation_id,
                    "direction": MessageDirection.OUTBOUND,
                    "author": MessageAuthor.BOT,
                    "channel": channel,
                    "address": address,
                    "body": part.text,
                    "payload": payload,
                    "private": False,
                    "delivery_status": DeliveryStatus.PENDING,
                    "attempts": 1 if claim else 0,
                    "next_attempt_at": self._lease_until if claim else self._now,
                    "created_at": self._now,
                    "updated_at": self._now,
                }
            )
            self._said[conversation_id] = payload
        if not claim:
            self.queued.add(conversation_id)

    async def write(self, conn: AsyncConnection) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        ids = (await conn.execute(_ADD_REPLIES, rows)).scalars().all()
        for row, message_id in zip(rows, ids, strict=True):
            if row["attempts"]:
                self.claimed.append(
                    Claimed(
                        id=message_id,
                        conversation_id=row["conversation_id"],
                        channel=row["channel"],
                        address=row["address"],
                        text=row["body"],
                        attempts=1,
                        buttons=offered_buttons(row["payload"]),
                    )
                )


def _with_choice(inbound: Inbound, last_said: dict[str, Any] | None) -> Inbound:
    """A numbered answer ("2") to the last choices offered is that choice's payload."""
    if inbound.payload is not None or not inbound.text:
        return inbound
    buttons = offered_buttons(last_said)
    choice = match_choice(inbound.text, buttons) if buttons else None
    if choice is None:
        return inbound
    return Inbound(**{**inbound.__dict__, "payload": choice.payload})


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
