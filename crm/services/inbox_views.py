"""What the shared inbox reads: conversation lists, one conversation, a customer's panel.

Read-only queries returning frozen dataclasses, never ORM objects, so what the web
side turns into JSON is exactly what is declared here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, selectinload

from crm.errors import NotFound
from crm.models import (
    WHATSAPP_WINDOW,
    Agent,
    AgentRole,
    CannedResponse,
    Channel,
    ChannelIdentity,
    Consent,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Customer,
    Language,
    Message,
    Order,
    OrderItem,
    ProductVariant,
    Reservation,
    Return,
    order_number_key,
    utcnow,
)
from crm.records import MAX_ID
from crm.services.staff import answerers_with_load

DEFAULT_PAGE, MAX_PAGE = 50, 200
PANEL_ORDERS = 20  # the customer's latest orders on the panel
PREVIEW_CHARS = 140
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ConversationNotFound(NotFound):
    pass


class CustomerNotFound(NotFound):
    pass


class BadCursor(ValueError):
    pass


class View(StrEnum):
    MINE = "mine"  # open and assigned to the asking agent
    QUEUED = "queued"  # waiting for a person
    OPEN = "open"  # everything not resolved, the bot's included
    ALL = "all"


# --- the list ---------------------------------------------------------------------------


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


# --- one conversation -------------------------------------------------------------------


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


# --- the customer panel -----------------------------------------------------------------


@dataclass(frozen=True)
class IdentityView:
    channel: Channel
    address: str
    display_name: str | None
    verified: bool
    verified_by: str | None
    last_seen_at: datetime | None


@dataclass(frozen=True)
class OrderLineView:
    line_no: int
    sku: str
    product: str
    size: str | None
    color: str | None
    quantity: int
    unit_price_minor: int


@dataclass(frozen=True)
class OrderView:
    number: str
    status: str
    sales_channel: str
    fulfilment: str
    total_minor: int
    currency: str
    placed_at: datetime
    received_at: datetime | None
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    lines: list[OrderLineView]


@dataclass(frozen=True)
class ReservationView:
    id: int
    pickup_code: str
    status: str
    store_code: str
    store_name: str
    sku: str
    product: str
    quantity: int
    held_until: datetime
    created_at: datetime


@dataclass(frozen=True)
class ReturnView:
    id: int
    rma_code: str
    order_number: str
    status: str
    reason: str
    method: str
    store_code: str | None
    refund_minor: int | None
    currency: str
    created_at: datetime


@dataclass(frozen=True)
class ConsentView:
    channel: Channel
    purpose: str
    granted: bool
    source: str
    recorded_at: datetime


@dataclass(frozen=True)
class CustomerPanel:
    id: int
    name: str | None
    email: str | None
    phone: str | None
    language: str | None
    city: str | None
    country: str | None
    tags: list[str]
    funnel_stage: str
    loyalty_points: int
    created_at: datetime
    identities: list[IdentityView]
    orders: list[OrderView]
    reservations: list[ReservationView]
    returns: list[ReturnView]
    consents: list[ConsentView]  # the standing decision per channel and purpose


async def customer_panel(session: AsyncSession, customer_id: int) -> CustomerPanel:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    language = customer.language.value if customer.language is not None else None
    identities = await session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.customer_id == customer_id)
        .order_by(ChannelIdentity.id)
    )
    orders = await session.scalars(
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(PANEL_ORDERS)
        .options(
            selectinload(Order.items)
            .selectinload(OrderItem.variant)
            .selectinload(ProductVariant.product)
        )
    )
    reservations = await session.scalars(
        select(Reservation)
        .where(Reservation.customer_id == customer_id)
        .order_by(Reservation.created_at.desc(), Reservation.id.desc())
        .options(
            selectinload(Reservation.store),
            selectinload(Reservation.variant).selectinload(ProductVariant.product),
        )
    )
    returns = await session.scalars(
        select(Return)
        .where(Return.customer_id == customer_id)
        .order_by(Return.created_at.desc(), Return.id.desc())
        .options(selectinload(Return.order), selectinload(Return.store))
    )
    consents = await session.scalars(
        select(Consent)
        .where(Consent.customer_id == customer_id)
        .order_by(Consent.recorded_at, Consent.id)
    )
    standing: dict[tuple[Channel, str], Consent] = {}
    for consent in consents:  # oldest first: the newest decision wins
        standing[consent.channel, consent.purpose.value] = consent
    return CustomerPanel(
        id=customer.id,
        name=customer.name,
        email=customer.email,
        phone=customer.phone,
        language=language,
        city=customer.city,
        country=customer.country,
        tags=list(customer.tags),
        funnel_stage=customer.funnel_stage.value,
        loyalty_points=customer.loyalty_points,
        created_at=customer.created_at,
        identities=[
            IdentityView(
                channel=i.channel,
                address=i.address,
                display_name=i.display_name,
                verified=i.verified,
                verified_by=i.verified_by.value if i.verified_by is not None else None,
                last_seen_at=i.last_seen_at,
            )
            for i in identities
        ],
        orders=[_order(o, language) for o in orders],
        reservations=[reservation_view(r, language) for r in reservations],
        returns=[return_view(r) for r in returns],
        consents=[
            ConsentView(c.channel, c.purpose.value, c.granted, c.source, c.recorded_at)
            for c in standing.values()
        ],
    )


def reservation_view(row: Reservation, language: str | None = None) -> ReservationView:
    """A reservation as the panel lists it (its store and variant's product loaded)."""
    return ReservationView(
        id=row.id,
        pickup_code=row.pickup_code,
        status=row.status.value,
        store_code=row.store.code,
        store_name=row.store.name,
        sku=row.variant.sku,
        product=_product_name(row.variant.product.names, language),
        quantity=row.quantity,
        held_until=row.held_until,
        created_at=row.created_at,
    )


def return_view(row: Return) -> ReturnView:
    """A return as the panel lists it (its order and store loaded)."""
    return ReturnView(
        id=row.id,
        rma_code=row.rma_code,
        order_number=row.order.number,
        status=row.status.value,
        reason=row.reason.value,
        method=row.method.value,
        store_code=row.store.code if row.store is not None else None,
        refund_minor=row.refund_minor,
        currency=row.currency,
        created_at=row.created_at,
    )


def _order(order: Order, language: str | None) -> OrderView:
    return OrderView(
        number=order.number,
        status=order.status.value,
        sales_channel=order.sales_channel.value,
        fulfilment=order.fulfilment.value,
        total_minor=order.total_minor,
        currency=order.currency,
        placed_at=order.placed_at,
        received_at=order.received_at,
        carrier=order.carrier,
        tracking_number=order.tracking_number,
        tracking_url=order.tracking_url,
        lines=[
            OrderLineView(
                line_no=item.line_no,
                sku=item.variant.sku,
                product=_product_name(item.variant.product.names, language),
                size=item.variant.size,
                color=item.variant.color,
                quantity=item.quantity,
                unit_price_minor=item.unit_price_minor,
            )
            for item in order.items
        ],
    )


def _product_name(names: Mapping[str, str], language: str | None) -> str:
    if language is not None and names.get(language):
        return names[language]
    return next(iter(names.values()), "")


# --- canned responses -------------------------------------------------------------------


@dataclass(frozen=True)
class CannedView:
    id: int
    shortcut: str
    language: Language
    title: str
    body: str


@dataclass(frozen=True)
class AgentView:
    """Someone a conversation can be transferred to, and how busy they are."""

    id: int
    name: str
    role: AgentRole
    teams: list[str]
    available: bool
    open_conversations: int
    capacity: int


async def answering_agents(session: AsyncSession) -> list[AgentView]:
    """Active agents, supervisors and admins, by name, with their open conversations."""
    return [
        AgentView(a.id, a.name, a.role, list(a.teams or []), a.available, n, a.capacity)
        for a, n in await answerers_with_load(session)
    ]


async def canned_responses(
    session: AsyncSession, language: Language | None = None
) -> list[CannedView]:
    """The active canned responses, in one language or all, by shortcut."""
    stmt = select(CannedResponse).where(CannedResponse.active.is_(True))
    if language is not None:
        stmt = stmt.where(CannedResponse.language == language)
    rows = await session.scalars(stmt.order_by(CannedResponse.shortcut, CannedResponse.language))
    return [CannedView(r.id, r.shortcut, r.language, r.title, r.body) for r in rows]


__all__ = [
    "AgentView",
    "BadCursor",
    "CannedView",
    "ConversationDetail",
    "ConversationNotFound",
    "ConversationPage",
    "ConversationSummary",
    "CustomerNotFound",
    "CustomerPanel",
    "ListFilter",
    "TemplateView",
    "View",
    "answering_agents",
    "canned_responses",
    "conversation_detail",
    "conversation_summary",
    "customer_panel",
    "decode_cursor",
    "list_conversations",
    "reservation_view",
    "return_view",
    "whatsapp_window",
]
