"""Answering stored messages: each conversation's in order, once, in batches.

`process` (and `schedule`) asks for a conversation's unprocessed messages to be
answered. Under a row lock on the conversation, its oldest unprocessed messages are
answered by the responder (only while the bot owns the conversation), the replies
queued in the outbox and the messages marked processed, all in one transaction. So a
message is answered once, in arrival order, also with several hub processes. Many
conversations go in one transaction, locked in id order; the statements are built
once; the responder gets the ORM session of the answering transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from crm.db import Database
from crm.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    MessageDirection,
)
from dialogue.aside import Aside, send_asides
from dialogue.background import Background
from dialogue.messages import Inbound
from dialogue.outbox import Claimed, Outbox
from dialogue.ports import AfterCommit, IdentityGuard, Listener, Responder, Turn
from dialogue.rendering import match_choice
from dialogue.replies import ReplyBatch
from dialogue.store import inbound_from_message, offered_buttons
from dialogue.verification import verified_in

log = logging.getLogger(__name__)

# The responder answers inside the conversation's transaction: one that hangs would
# hold the row lock (on SQLite, the whole database). Past this it is abandoned, its
# transaction rolled back, and the message answered by a later recovery sweep.
RESPOND_TIMEOUT = 15.0
# A message the bot fails on this many times (it raises, or hangs) is set aside, marked
# with BOT_FAILED, and its conversation goes to a person: it is not retried forever.
MAX_ANSWER_ATTEMPTS = 3
BOT_FAILED = "bot_failed"
# Conversations, and messages, answered per transaction at most; a conversation with
# more messages comes back for another transaction.
ANSWER_BATCH = 32
MESSAGES_PER_TRANSACTION = 512
# Answering transactions one process runs side by side: the responder's statements
# run one after the other, so several transactions keep the database busy, and a
# slow responder holds up only its own batch. SQLite has a single writer anyway.
ANSWERING_TASKS = {"sqlite": 1, "postgresql": 4}

_messages = cast(Table, Message.__table__)
_conversations = cast(Table, Conversation.__table__)

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


class Answerer:
    """Answers the conversations it is given, in batches, a few transactions at a time."""

    def __init__(
        self,
        db: Database,
        responder: Responder,
        outbox: Outbox,
        listener: Listener,
        background: Background,
        *,
        identity_guard: IdentityGuard | None = None,
        clock: Callable[[], datetime],
        respond_timeout: float = RESPOND_TIMEOUT,
        messages_per_transaction: int = MESSAGES_PER_TRANSACTION,
    ):
        self.db = db
        self.responder = responder
        self.outbox = outbox
        self.respond_timeout = respond_timeout
        self._listener = listener
        # Told, in the answering transaction, of identities proved by one-time code.
        self._identity_guard = identity_guard
        self._background = background
        self._clock = clock
        self._messages_per_transaction = messages_per_transaction
        # Conversations to answer, each with the callers waiting for it, oldest first.
        self._due: dict[int, list[asyncio.Future[None]]] = {}
        self._busy: set[int] = set()  # in an answering transaction now
        self.running: set[asyncio.Task[None]] = set()  # answering transactions
        self._answering_tasks = ANSWERING_TASKS.get(db.dialect, 1)

    async def process(self, conversation_id: int) -> None:
        """Answer every unprocessed message of a conversation, oldest first.

        Returns once they are answered, or once answering failed (logged; the messages
        stay unprocessed for a later `recover`).
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._due.setdefault(conversation_id, []).append(done)
        self._start_answering()
        await done

    def schedule(self, conversation_ids: Iterable[int]) -> None:
        for conversation_id in conversation_ids:
            self._due.setdefault(conversation_id, [])
        self._start_answering()

    def _start_answering(self) -> None:
        while self._due and len(self.running) < self._answering_tasks:
            # A conversation in a transaction now waits for the next one: in this
            # process, one transaction at a time answers a conversation.
            batch = [c for c in self._due if c not in self._busy][:ANSWER_BATCH]
            if not batch:
                return
            waiting = {c: self._due.pop(c) for c in batch}
            self._busy.update(waiting)
            task = asyncio.create_task(self._answer_batch(waiting))
            self.running.add(task)
            task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
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
            self._background.spawn(self._listener.answered(list(pending)))
            if answered.claimed:
                self._background.spawn(self.outbox.deliver(answered.claimed))
            if answered.asides:  # beside the replies: those never wait for these
                self._background.spawn(send_asides(self.outbox, answered.asides))
            for conversation_id in sorted(answered.queued):
                self._background.spawn(self.outbox.dispatch(conversation_id))
            return answered.more
        return set()

    async def _failed(self, failure: _Unanswered) -> None:
        """Count a failed answer; the last allowed one sets the message aside."""
        now = self._clock()
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
        self._background.spawn(self._listener.bot_gave_up(failure.conversation_id))

    async def _answer(self, conversation_ids: list[int]) -> _Answered:
        now = self._clock()
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
            replies = ReplyBatch(self.outbox, now)
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


def _with_choice(inbound: Inbound, last_said: dict[str, Any] | None) -> Inbound:
    """A numbered answer ("2") to the last choices offered is that choice's payload."""
    if inbound.payload is not None or not inbound.text:
        return inbound
    buttons = offered_buttons(last_said)
    choice = match_choice(inbound.text, buttons) if buttons else None
    if choice is None:
        return inbound
    return Inbound(**{**inbound.__dict__, "payload": choice.payload})
