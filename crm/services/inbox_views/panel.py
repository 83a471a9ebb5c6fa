"""The customer panel beside a conversation: identities, orders, reservations, returns,
consents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm.errors import NotFound
from crm.models import (
    Channel,
    ChannelIdentity,
    Consent,
    Customer,
    Order,
    OrderItem,
    ProductVariant,
    Reservation,
    Return,
)

PANEL_ORDERS = 20  # the customer's latest orders on the panel


class CustomerNotFound(NotFound):
    pass


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
