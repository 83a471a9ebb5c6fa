"""The inbox's conversation list: its filters, search and pages, and one conversation's
summary as the list shows it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm.errors import NotFound
from crm.models import (
    Agent,
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    Order,
    order_number_key,
)
from crm.values import MAX_ID

DEFAULT_PAGE, MAX_PAGE = 50, 200
PREVIEW_CHARS = 140
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ConversationNotFound(NotFound):
    pass


class BadCursor(ValueError):
    pass


class View(StrEnum):
    MINE = "mine"  # open and assigned to the asking agent
    QUEUED = "queued"  # waiting for a person
    OPEN = "open"  # everything not resolved, the bot's included
    ALL = "all"


@dataclass(frozen=True)
class AgentRef:
    id: int
    name: str


@dataclass(frozen=True)
class CustomerRef:
    id: int
    name: str | None
    phone: str | None
    language: str | None


@dataclass(frozen=True)
class MessagePreview:
    id: int
    author: str
    channel: Channel
    private: bool
    text: str  # the first PREVIEW_CHARS characters
    created_at: datetime


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    status: ConversationStatus
    customer: CustomerRef
    last_channel: Channel
    assigned_agent: AgentRef | None
    team: str | None
    created_at: datetime
    updated_at: datetime
    queued_at: datetime | None
    first_response_at: datetime | None  # an agent's first reply
    resolved_at: datetime | None
    last_message: MessagePreview | None


@dataclass(frozen=True)
class ConversationPage:
    conversations: list[ConversationSummary]
    # Pass as `before` for the next (older) page; None when this was the last.
    next_before: str | None


@dataclass(frozen=True)
class ListFilter:
    view: View = View.OPEN
    channel: Channel | None = None
    status: ConversationStatus | None = None
    q: str | None = None  # customer name or email, phone, or order number
    before: str | None = None  # a page's next_before
    limit: int = DEFAULT_PAGE


def encode_cursor(updated_at: datetime, conversation_id: int) -> str:
    micros = (updated_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{conversation_id}"


# What encode_cursor writes: int() alone would also take "1_0", " 1", "١" or 10**4000.
_CURSOR = re.compile(r"(-?[0-9]{1,18})\.([0-9]{1,19})")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    match = _CURSOR.fullmatch(cursor)
    try:
        if match is None or int(match[2]) > MAX_ID:
            raise ValueError(cursor)
        return _EPOCH + timedelta(microseconds=int(match[1])), int(match[2])
    except (ValueError, OverflowError):
        raise BadCursor(f"not a page cursor: {cursor[:40]!r}") from None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search(q: str) -> ColumnElement[bool]:
    """Conversations whose customer's name, email or phone holds q, or who has order q."""
    pattern = _like(q)
    matches: list[ColumnElement[bool]] = [
        Customer.name.ilike(pattern, escape="\\"),
        Customer.email.ilike(pattern, escape="\\"),
        exists().where(
            Order.customer_id == Conversation.customer_id, Order.number == order_number_key(q)
        ),
    ]
    digits = re.sub(r"\D", "", q)
    # People write phones with spaces, dashes and brackets; stored ones are E.164.
    if len(digits) >= 4 and re.fullmatch(r"[\d\s()+.-]+", q):
        matches.append(Customer.phone.like(f"%{digits}%"))
        matches.append(
            exists().where(
                ChannelIdentity.customer_id == Conversation.customer_id,
                ChannelIdentity.address.like(f"%{digits}%"),
            )
        )
    return or_(*matches)


async def list_conversations(
    session: AsyncSession, agent_id: int, query: ListFilter
) -> ConversationPage:
    """Summaries matching the filter, newest activity first, one page at a time."""
    limit = max(1, min(query.limit, MAX_PAGE))
    owner = aliased(Agent)
    stmt = (
        select(Conversation, Customer, owner)
        .join(Customer, Customer.id == Conversation.customer_id)
        .outerjoin(owner, owner.id == Conversation.assigned_agent_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(limit + 1)
    )
    if query.view is View.MINE:
        stmt = stmt.where(
            Conversation.assigned_agent_id == agent_id,
            Conversation.status != ConversationStatus.RESOLVED,
        )
    elif query.view is View.QUEUED:
        stmt = stmt.where(Conversation.status == ConversationStatus.QUEUED)
    elif query.view is View.OPEN:
        stmt = stmt.where(Conversation.status != ConversationStatus.RESOLVED)
    if query.channel is not None:
        stmt = stmt.where(Conversation.last_channel == query.channel)
    if query.status is not None:
        stmt = stmt.where(Conversation.status == query.status)
    if query.q and query.q.strip():
        stmt = stmt.where(_search(query.q.strip()))
    if query.before:
        updated_at, conversation_id = decode_cursor(query.before)
        stmt = stmt.where(
            or_(
                Conversation.updated_at < updated_at,
                and_(Conversation.updated_at == updated_at, Conversation.id < conversation_id),
            )
        )
    rows = (await session.execute(stmt)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    previews = await _last_messages(session, [conversation.id for conversation, _, _ in rows])
    summaries = [
        _summary(conversation, customer, agent, previews.get(conversation.id))
        for conversation, customer, agent in rows
    ]
    last = rows[-1][0] if more else None
    return ConversationPage(
        summaries, encode_cursor(last.updated_at, last.id) if last is not None else None
    )


async def conversation_summary(session: AsyncSession, conversation_id: int) -> ConversationSummary:
    owner = aliased(Agent)
    row = (
        await session.execute(
            select(Conversation, Customer, owner)
            .join(Customer, Customer.id == Conversation.customer_id)
            .outerjoin(owner, owner.id == Conversation.assigned_agent_id)
            .where(Conversation.id == conversation_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise ConversationNotFound(f"no conversation {conversation_id}")
    conversation, customer, agent = row
    previews = await _last_messages(session, [conversation.id])
    return _summary(conversation, customer, agent, previews.get(conversation.id))


async def _last_messages(
    session: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, MessagePreview]:
    if not conversation_ids:
        return {}
    latest = (
        select(func.max(Message.id))
        .where(Message.conversation_id.in_(conversation_ids))
        .group_by(Message.conversation_id)
    )
    messages = await session.scalars(select(Message).where(Message.id.in_(latest)))
    return {
        m.conversation_id: MessagePreview(
            id=m.id,
            author=m.author.value,
            channel=m.channel,
            private=m.private,
            text=m.body[:PREVIEW_CHARS],
            created_at=m.created_at,
        )
        for m in messages
    }


def _summary(
    conversation: Conversation,
    customer: Customer,
    agent: Agent | None,
    preview: MessagePreview | None,
) -> ConversationSummary:
    return ConversationSummary(
        id=conversation.id,
        status=conversation.status,
        customer=_customer_ref(customer),
        last_channel=conversation.last_channel,
        assigned_agent=AgentRef(agent.id, agent.name) if agent is not None else None,
        team=conversation.team,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        queued_at=conversation.queued_at,
        first_response_at=conversation.first_response_at,
        resolved_at=conversation.resolved_at,
        last_message=preview,
    )


def _customer_ref(customer: Customer) -> CustomerRef:
    language = customer.language.value if customer.language is not None else None
    return CustomerRef(customer.id, customer.name, customer.phone, language)
