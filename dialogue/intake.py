"""Storing inbound messages many at a time: dedupe, sender, conversation, message.

The router's first step for a batch of webhooks, in one transaction and a handful of
SQLAlchemy Core statements whatever the batch's size. `dialogue.receiver` keeps the
one-at-a-time ORM path for what this leaves out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.models import (
    Channel,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    InboundReceipt,
    Message,
    MessageAuthor,
    MessageDirection,
)
from dialogue.identity import SenderRow, resolve_senders
from dialogue.messages import Inbound
from dialogue.store import inbound_payload

_messages = cast(Table, Message.__table__)
_conversations = cast(Table, Conversation.__table__)
_receipts = cast(Table, InboundReceipt.__table__)

# -- receipts: what the acknowledgement waits for (PostgreSQL) ----------------------------

# A provider's retry of a receipt still waiting is not written twice.
WRITE_RECEIPTS = postgresql_insert(_receipts).on_conflict_do_nothing(
    index_elements=[_receipts.c.channel, _receipts.c.provider_message_id]
)
# Receipts are stored as messages by one process at a time, oldest first (this lock,
# for the storing transaction): a customer's message acknowledged by one process is
# stored before the next one, acknowledged later by another.
RECEIPT_ORDER_LOCK = select(func.pg_advisory_xact_lock(0x6F6D6E69))  # "omni"
PENDING_RECEIPTS = (
    select(
        _receipts.c.id,
        _receipts.c.channel,
        _receipts.c.provider_message_id,
        _receipts.c.address,
        _receipts.c.body,
        _receipts.c.payload,
        _receipts.c.attempts,
    )
    .where(
        or_(
            _receipts.c.next_attempt_at.is_(None),
            _receipts.c.next_attempt_at <= bindparam("now"),
        )
    )
    .order_by(_receipts.c.id)
    .limit(bindparam("limit"))
)
DELETE_RECEIPTS = delete(_receipts).where(_receipts.c.id.in_(bindparam("ids", expanding=True)))
RECEIPT_FAILED = (
    update(_receipts)
    .where(_receipts.c.id == bindparam("b_id"))
    .values(attempts=_receipts.c.attempts + 1, next_attempt_at=bindparam("b_next"))
)


def receipt_row(inbound: Inbound, now: datetime) -> dict[str, object]:
    return {
        "channel": inbound.channel,
        "provider_message_id": inbound.provider_id,
        "address": inbound.address,
        "body": inbound.text,
        "payload": inbound_payload(inbound),
        "received_at": now,
    }


# -- storing -----------------------------------------------------------------------------

_FIND_STORED = select(
    _messages.c.id,
    _messages.c.conversation_id,
    _messages.c.channel,
    _messages.c.provider_message_id,
).where(
    tuple_(_messages.c.channel, _messages.c.provider_message_id).in_(
        bindparam("keys", expanding=True)
    )
)
_FIND_OPEN = select(_conversations.c.id, _conversations.c.customer_id).where(
    _conversations.c.customer_id.in_(bindparam("customer_ids", expanding=True)),
    _conversations.c.status != ConversationStatus.RESOLVED,
)
_OPEN = insert(_conversations).returning(_conversations.c.id, sort_by_parameter_order=True)
_ADD = insert(_messages).returning(_messages.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True)
class Stored:
    """Where an accepted message is: its id, its conversation, and whether it is new."""

    message_id: int
    conversation_id: int
    new: bool  # False for a provider's retry of a message stored before


@dataclass(eq=False)
class _Opened:
    id: int | None  # None until inserted
    customer: SenderRow
    channel: Channel
    address: str
    new: bool


async def store_inbound(
    conn: AsyncConnection, inbounds: Sequence[Inbound], now: datetime
) -> list[Stored | None]:
    """Store each message once, in the order given; None for one left to the ORM path.

    A provider's retry (same channel and provider id, stored before or earlier in the
    batch) is answered with the stored message. Left out (None): a message whose
    sender's identity moves to the customer someone vouched for (see
    `dialogue.identity.resolve_senders`). A race with another process (the same
    message, identity or conversation made meanwhile) raises IntegrityError.
    """
    keys = sorted({(i.channel, i.provider_id) for i in inbounds})
    stored = {
        (row.channel, row.provider_message_id): Stored(row.id, row.conversation_id, False)
        for row in await conn.execute(_FIND_STORED, {"keys": keys})
    }
    fresh: list[Inbound] = []
    first: set[tuple[Channel, str]] = set()
    for inbound in inbounds:
        key = (inbound.channel, inbound.provider_id)
        if key not in stored and key not in first:
            first.add(key)
            fresh.append(inbound)
    senders = await resolve_senders(conn, fresh, now) if fresh else []

    # The customer's one open conversation, whatever the channel, or a new one. An open
    # one is not written to: the router may hold its row while answering (which
    # records the channel of the customer's latest message), and storing must not
    # wait for that.
    existing = sorted({s.customer.id for s in senders if s is not None and s.customer.id})
    open_ids = {
        row.customer_id: row.id
        for row in (await conn.execute(_FIND_OPEN, {"customer_ids": existing}))
        if existing
    }
    by_customer: dict[int, _Opened] = {}
    conversations: list[_Opened | None] = []
    for inbound, sender in zip(fresh, senders, strict=True):
        if sender is None:
            conversations.append(None)
            continue
        customer_id = sender.customer.id
        assert customer_id is not None  # resolve_senders added the new ones
        conversation = by_customer.get(customer_id)
        if conversation is None:
            known = open_ids.get(customer_id)
            conversation = _Opened(
                known, sender.customer, inbound.channel, sender.address, known is None
            )
            by_customer[customer_id] = conversation
        if conversation.new:  # replies go to the channel of the latest message
            conversation.channel, conversation.address = inbound.channel, sender.address
        conversations.append(conversation)
    await _open_conversations(conn, [c for c in by_customer.values() if c.new], now)

    rows = [
        _message_row(inbound, sender.address, conversation, now)
        for inbound, sender, conversation in zip(fresh, senders, conversations, strict=True)
        if sender is not None and conversation is not None
    ]
    added = iter((await conn.execute(_ADD, rows)).scalars().all() if rows else ())
    for inbound, conversation in zip(fresh, conversations, strict=True):
        if conversation is not None:
            assert conversation.id is not None
            stored[(inbound.channel, inbound.provider_id)] = Stored(
                next(added), conversation.id, True
            )
    results: list[Stored | None] = []
    for inbound in inbounds:
        key = (inbound.channel, inbound.provider_id)
        result = stored.get(key)
        if result is not None and key in first:
            first.discard(key)  # the batch's own retries of it are not new
        elif result is not None and result.new:
            result = Stored(result.message_id, result.conversation_id, False)
        results.append(result)
    return results


async def _open_conversations(conn: AsyncConnection, opened: list[_Opened], now: datetime) -> None:
    if opened:
        ids = await conn.execute(
            _OPEN,
            [
                {
                    "customer_id": c.customer.id,
                    "status": ConversationStatus.BOT,
                    "last_channel": c.channel,
                    "last_address": c.address,
                    "last_inbound_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for c in opened
            ],
        )
        for conversation, conversation_id in zip(opened, ids.scalars(), strict=True):
            conversation.id = conversation_id


def _message_row(
    inbound: Inbound, address: str, conversation: _Opened, now: datetime
) -> dict[str, object]:
    return {
        "conversation_id": conversation.id,
        "direction": MessageDirection.INBOUND,
        "author": MessageAuthor.CUSTOMER,
        "channel": inbound.channel,
        "address": address,
        "provider_message_id": inbound.provider_id,
        "body": inbound.text,
        "payload": inbound_payload(inbound),
        "delivery_status": DeliveryStatus.RECEIVED,
        "created_at": now,
        "updated_at": now,
    }
