"""A customer's orders from every sales channel: list, look up, history, receipts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm.errors import NoReceipt, NotYourOrder, OrderNotFound
from crm.models import (
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ProductVariant,
    Receipt,
    SalesChannel,
    Store,
    order_number_key,
)

# Everything a reply about an order mentions, loaded up front: async sessions cannot
# lazy-load, so a forgotten relationship fails loudly instead of querying.
_ORDER_DETAIL = (
    selectinload(Order.items).selectinload(OrderItem.variant).selectinload(ProductVariant.product),
    selectinload(Order.store),
    selectinload(Order.pickup_store),
)


@dataclass(frozen=True)
class PurchaseLine:
    """One line of something the customer bought, whatever the sales channel."""

    order_number: str
    line_no: int
    placed_at: datetime
    sales_channel: SalesChannel
    store_name: str | None  # the store that sold it; None for remote sales
    product_names: Mapping[str, str]  # per language, as Product.names
    sku: str
    size: str | None
    color: str | None
    quantity: int
    unit_price_minor: int
    currency: str


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


async def _owned_order_id(session: AsyncSession, customer_id: int, number: str) -> int:
    key = order_number_key(number)
    # Numbers are stored in key form (the sync API normalises them), so the unique
    # index answers this.
    row = (
        await session.execute(select(Order.id, Order.customer_id).where(Order.number == key))
    ).first()
    if row is None:
        raise OrderNotFound(f"no order {key}")
    if row.customer_id != customer_id:
        raise NotYourOrder(f"order {key} belongs to another customer")
    return int(row.id)


async def list_orders(session: AsyncSession, customer_id: int, *, limit: int = 10) -> list[Order]:
    """The customer's newest orders first, with items, variants, products and stores."""
    _check_limit(limit)
    result = await session.scalars(
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(limit)
        .options(*_ORDER_DETAIL)
    )
    return list(result)


async def get_order(
    session: AsyncSession, customer_id: int, number: str, *, for_update: bool = False
) -> Order:
    """The customer's order with this number, with its items and status history.

    The number is matched trimmed and case-insensitively. An order of someone else
    raises NotYourOrder and a missing one OrderNotFound (its base class): callers
    answer both with the same words, so nobody learns that another's order exists.
    With `for_update` the order row is locked until the transaction ends (PostgreSQL;
    SQLite's write transactions are serialised anyway), and re-read from the database.
    """
    order_id = await _owned_order_id(session, customer_id, number)
    query = (
        select(Order)
        .where(Order.id == order_id)
        .options(*_ORDER_DETAIL, selectinload(Order.history))
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).one()


async def purchase_history(
    session: AsyncSession, customer_id: int, *, limit: int = 20
) -> list[PurchaseLine]:
    """What the customer bought, newest first, one entry per order line.

    Orders from every sales channel (online, store, app...) count the same;
    cancelled orders are left out. `limit` counts lines, not orders.
    """
    _check_limit(limit)
    rows = await session.execute(
        select(
            Order.number,
            OrderItem.line_no,
            Order.placed_at,
            Order.sales_channel,
            Store.name,
            Product.names,
            ProductVariant.sku,
            ProductVariant.size,
            ProductVariant.color,
            OrderItem.quantity,
            OrderItem.unit_price_minor,
            Order.currency,
        )
        .join(OrderItem, OrderItem.order_id == Order.id)
        .join(ProductVariant, ProductVariant.id == OrderItem.variant_id)
        .join(Product, Product.id == ProductVariant.product_id)
        .outerjoin(Store, Store.id == Order.store_id)
        .where(Order.customer_id == customer_id, Order.status != OrderStatus.CANCELLED)
        .order_by(Order.placed_at.desc(), Order.id.desc(), OrderItem.line_no)
        .limit(limit)
    )
    return [
        PurchaseLine(
            order_number=row.number,
            line_no=row.line_no,
            placed_at=row.placed_at,
            sales_channel=row.sales_channel,
            store_name=row.name,
            product_names=dict(row.names),
            sku=row.sku,
            size=row.size,
            color=row.color,
            quantity=row.quantity,
            unit_price_minor=row.unit_price_minor,
            currency=row.currency,
        )
        for row in rows
    ]


async def get_receipt(session: AsyncSession, customer_id: int, order_number: str) -> Receipt:
    """The till receipt of one of the customer's orders, with its store.

    Ownership is checked as in get_order; an order without a receipt (bought online)
    raises NoReceipt.
    """
    order_id = await _owned_order_id(session, customer_id, order_number)
    receipt = await session.scalar(
        select(Receipt)
        .where(Receipt.order_id == order_id)
        .options(selectinload(Receipt.store), selectinload(Receipt.order))
    )
    if receipt is None:
        raise NoReceipt(order_number_key(order_number))
    return receipt
