"""Writing replies: an agent's (or the inbox's bot) one at a time, the bot's in batches.

`Replies` is what the inbox needs of the router: queue a reply in the conversation's
session, and send it once committed. `ReplyBatch` collects the replies of one answering
transaction (dialogue.answerer) and writes them in one statement.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crm.models import (
    Channel,
    Conversation,
    DeliveryStatus,
    Message,
    MessageAuthor,
    MessageDirection,
)
from dialogue.aside import Aside
from dialogue.background import Background
from dialogue.messages import Reply
from dialogue.outbox import UNSENT, Claimed, Outbox
from dialogue.store import buttons_payload, offered_buttons, reply_payload

_messages = cast(Table, Message.__table__)

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


class Replies:
    """Queues replies outside answering (an agent's, the inbox's notices) and sends them
    once their transaction committed."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._background = Background()

    @property
    def running(self) -> set[asyncio.Task[None]]:
        """Sends started by `send_soon` and not finished yet."""
        return self._background.tasks

    def queue(
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

    def send_soon(self, conversation_id: int) -> None:
        """Send what was queued in a conversation outside answering (an agent's reply),
        without making the caller wait; the router's `idle` waits for it."""
        self._background.spawn(self.outbox.dispatch(conversation_id))


class ReplyBatch:
    """The replies of one answering transaction: rendered, then written together.

    A reply goes out already claimed by this process (`Outbox.deliver` sends it
    after the commit) unless its conversation has an older reply still unsent; then
    it waits its turn in the outbox.
    """

    def __init__(self, outbox: Outbox, now: datetime) -> None:
        self._outbox = outbox
        self._now = now
        self._lease_until = now + timedelta(seconds=outbox.backoff.lease)
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
