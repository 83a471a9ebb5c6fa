"""Small async helpers that create the minimum data a test needs (not demo data)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import (
    RECEIVED_STATUSES,
    Channel,
    ChannelIdentity,
    Customer,
    Fulfilment,
    Inventory,
    Order,
    OrderItem,
    OrderStatus,
    OrderStatusChange,
    Product,
    ProductPrice,
    ProductVariant,
    Receipt,
    SalesChannel,
    Store,
    VerificationMethod,
)

# A fixed "now" for tests that inject the clock.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

_ids = itertools.count(1)


def _next() -> int:
    return next(_ids)


async def add_store(
    session: AsyncSession,
    code: str | None = None,
    *,
    name: str | None = None,
    city: str = "Madrid",
    country: str = "ES",
    currency: str = "EUR",
    active: bool = True,
) -> Store:
    code = code or f"ST-{_next()}"
    store = Store(
        code=code,
        name=name or f"Store {code}",
        city=city,
        country=country,
        address="Calle Mayor 1",
        timezone="Europe/Madrid",
        currency=currency,
        active=active,
    )
    session.add(store)
    await session.flush()
    return store


async def add_product(
    session: AsyncSession,
    external_id: str | None = None,
    *,
    names: Mapping[str, str] | None = None,
    variants: Sequence[tuple[str | None, str | None]] = (("42", "black"),),
    prices: Mapping[str, int] | None = None,
) -> Product:
    """A product with one variant per (size, color), SKUs "<external_id>-<n>"."""
    external_id = external_id or f"P-{_next()}"
    product = Product(
        external_id=external_id,
        names=dict(names or {"en": "City sneaker", "es": "Zapatilla urbana"}),
        category="shoes",
        variants=[
            ProductVariant(sku=f"{external_id}-{n}", size=size, color=color)
            for n, (size, color) in enumerate(variants, start=1)
        ],
        prices=[
            ProductPrice(currency=currency, amount_minor=amount)
            for currency, amount in (prices if prices is not None else {"EUR": 5990}).items()
        ],
    )
    session.add(product)
    await session.flush()
    return product


async def add_inventory(
    session: AsyncSession,
    store: Store,
    variant: ProductVariant,
    on_hand: int,
    *,
    reserved: int = 0,
) -> Inventory:
    stock = Inventory(store_id=store.id, variant_id=variant.id, on_hand=on_hand, reserved=reserved)
    session.add(stock)
    await session.flush()
    return stock


async def add_customer(
    session: AsyncSession,
    *,
    name: str = "Ana",
    phone: str | None = None,
    email: str | None = None,
) -> Customer:
    customer = Customer(name=name, phone=phone, email=email)
    session.add(customer)
    await session.flush()
    return customer


async def add_identity(
    session: AsyncSession,
    customer: Customer,
    channel: Channel,
    address: str,
    *,
    verified: bool = False,
) -> ChannelIdentity:
    identity = ChannelIdentity(
        customer_id=customer.id,
        channel=channel,
        address=address,
        verified=verified,
        verified_by=VerificationMethod.CARRIER if verified else None,
        verified_at=T0 if verified else None,
    )
    session.add(identity)
    await session.flush()
    return identity


async def add_order(
    session: AsyncSession,
    customer: Customer,
    lines: Sequence[tuple[ProductVariant, int, int]],
    *,
    number: str | None = None,
    sales_channel: SalesChannel = SalesChannel.ONLINE,
    status: OrderStatus = OrderStatus.DELIVERED,
    store: Store | None = None,
    currency: str = "EUR",
    placed_at: datetime = T0 - timedelta(days=10),
    received_at: datetime | Literal["auto"] | None = "auto",
) -> Order:
    """An order of (variant, quantity, unit price) lines, numbered 1, 2...

    Received statuses get received_at two days after placed_at unless given; the
    history holds "pending" at placed_at and then the status itself.
    """
    if received_at == "auto":
        received_at = placed_at + timedelta(days=2) if status in RECEIVED_STATUSES else None
    changed_at = received_at or placed_at + timedelta(hours=1)
    in_store = sales_channel == SalesChannel.STORE
    order = Order(
        external_id=f"ext-{_next()}",
        number=number or f"ES-{100000 + _next()}",
        customer_id=customer.id,
        sales_channel=sales_channel,
        fulfilment=Fulfilment.IN_STORE if in_store else Fulfilment.DELIVERY,
        status=status,
        store_id=store.id if store else None,
        currency=currency,
        total_minor=sum(quantity * price for _, quantity, price in lines),
        placed_at=placed_at,
        received_at=received_at,
        items=[
            OrderItem(line_no=n, variant_id=variant.id, quantity=quantity, unit_price_minor=price)
            for n, (variant, quantity, price) in enumerate(lines, start=1)
        ],
        history=[
            OrderStatusChange(status=OrderStatus.PENDING, changed_at=placed_at),
            OrderStatusChange(status=status, changed_at=changed_at),
        ],
    )
    session.add(order)
    await session.flush()
    return order


async def add_receipt(session: AsyncSession, order: Order, store: Store) -> Receipt:
    receipt = Receipt(
        order_id=order.id,
        number=f"T-{_next()}",
        store_id=store.id,
        till="2",
        payment_method="card",
        issued_at=order.placed_at,
        total_minor=order.total_minor,
        tax_minor=order.total_minor * 21 // 121,
        currency=order.currency,
    )
    session.add(receipt)
    await session.flush()
    return receipt
