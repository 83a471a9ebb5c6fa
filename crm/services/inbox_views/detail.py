"""One conversation as the inbox shows it: every message on every channel, its changes
of hands, the bot's handoff, WhatsApp's window and the templates that may go past it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm.models import (
    WHATSAPP_WINDOW,
    Agent,
    CannedResponse,
    Channel,
    Conversation,
    ConversationEvent,
    Customer,
    Language,
    Message,
    utcnow,
)
from crm.services.inbox_views.listing import AgentRef, ConversationSummary, conversation_summary


@dataclass(frozen=True)
class MessageView:
    id: int
    direction: str
    author: str  # customer, bot, agent, system
    agent: AgentRef | None  # who wrote it, for agents' replies and notes
    channel: Channel
    text: str  # as written: the page shows it as text, never as markup
    buttons: list[str]  # the titles of choices the bot offered
    private: bool  # a note among agents, never sent to the customer
    delivery_status: str
    error_code: str | None
    created_at: datetime


@dataclass(frozen=True)
class EventView:
    id: int
    kind: str
    from_status: str | None
    to_status: str | None
    agent: AgentRef | None  # who acted; None for the bot or the hub
    data: Mapping[str, object] | None
    created_at: datetime


@dataclass(frozen=True)
class HandoffSummary:
    """What the bot knew when it asked for a person (dialogue.handoff.HandoffRequest)."""

    reason: str | None
    intent: str | None
    flow: str | None
    slots: Mapping[str, object]
    language: str | None
    requested_at: str | None


@dataclass(frozen=True)
class WhatsappWindow:
    """Free text may go until closes_at; after that only approved templates."""

    open: bool
    closes_at: datetime | None


@dataclass(frozen=True)
class ConversationDetail:
    summary: ConversationSummary
    csat_score: int | None
    handoff: HandoffSummary | None
    whatsapp_window: WhatsappWindow | None  # only when the latest channel is WhatsApp
    messages: list[MessageView]
    events: list[EventView]
    # Approved WhatsApp templates in the customer's language (all when it is unknown):
    # what the agent may send once the 24-hour window has closed.
    templates: list[TemplateView]


@dataclass(frozen=True)
class TemplateView:
    name: str  # its shortcut, what POST .../messages {"template": name} takes
    title: str
    body: str  # {{1}} is the customer's first name


async def approved_templates(
    session: AsyncSession, language: Language | None
) -> list[TemplateView]:
    stmt = select(CannedResponse).where(
        CannedResponse.active.is_(True), CannedResponse.whatsapp_content_sid.is_not(None)
    )
    if language is not None:
        stmt = stmt.where(CannedResponse.language == language)
    rows = await session.scalars(stmt.order_by(CannedResponse.shortcut, CannedResponse.language))
    seen: set[str] = set()
    templates = []
    for row in rows:
        if row.shortcut not in seen:
            seen.add(row.shortcut)
            templates.append(TemplateView(row.shortcut, row.title, row.body))
    return templates


async def conversation_detail(
    session: AsyncSession, conversation_id: int, *, now: datetime | None = None
) -> ConversationDetail:
    """The conversation with every message on every channel, and its changes of hands."""
    now = now or utcnow()
    summary = await conversation_summary(session, conversation_id)
    conversation = await session.get_one(Conversation, conversation_id)
    customer_language = await session.scalar(
        select(Customer.language).where(Customer.id == conversation.customer_id)
    )
    author = aliased(Agent)
    messages = await session.execute(
        select(Message, author)
        .outerjoin(author, author.id == Message.agent_id)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id)
    )
    actor = aliased(Agent)
    events = await session.execute(
        select(ConversationEvent, actor)
        .outerjoin(actor, actor.id == ConversationEvent.agent_id)
        .where(ConversationEvent.conversation_id == conversation_id)
        .order_by(ConversationEvent.id)
    )
    return ConversationDetail(
        summary=summary,
        csat_score=conversation.csat_score,
        handoff=_handoff(conversation.handoff),
        whatsapp_window=whatsapp_window(conversation, now),
        messages=[_message(m, a) for m, a in messages],
        events=[
            EventView(
                id=e.id,
                kind=e.kind,
                from_status=e.from_status,
                to_status=e.to_status,
                agent=AgentRef(a.id, a.name) if a is not None else None,
                data=e.data,
                created_at=e.created_at,
            )
            for e, a in events
        ],
        templates=await approved_templates(session, customer_language)
        if conversation.last_channel == Channel.WHATSAPP
        else [],
    )


def whatsapp_window(conversation: Conversation, now: datetime) -> WhatsappWindow | None:
    if conversation.last_channel != Channel.WHATSAPP:
        return None
    if conversation.last_inbound_at is None:
        return WhatsappWindow(open=False, closes_at=None)
    closes_at = conversation.last_inbound_at + WHATSAPP_WINDOW
    return WhatsappWindow(open=now < closes_at, closes_at=closes_at)


def _message(message: Message, agent: Agent | None) -> MessageView:
    payload = message.payload or {}
    buttons = payload.get("buttons") if isinstance(payload, dict) else None
    titles = [str(b["title"]) for b in buttons or () if isinstance(b, dict) and "title" in b]
    return MessageView(
        id=message.id,
        direction=message.direction.value,
        author=message.author.value,
        agent=AgentRef(agent.id, agent.name) if agent is not None else None,
        channel=message.channel,
        text=message.body,
        buttons=titles,
        private=message.private,
        delivery_status=message.delivery_status.value,
        error_code=message.error_code,
        created_at=message.created_at,
    )


def _handoff(raw: Mapping[str, object] | None) -> HandoffSummary | None:
    if not raw:
        return None

    def text(key: str) -> str | None:
        value = raw.get(key)
        return str(value) if value is not None else None

    slots = raw.get("slots")
    return HandoffSummary(
        reason=text("reason"),
        intent=text("intent"),
        flow=text("flow"),
        slots=dict(slots) if isinstance(slots, dict) else {},
        language=text("language"),
        requested_at=text("requested_at"),
    )
