"""A customer's orders, purchase history and receipts, from every sales channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from crm.db import Database
from crm.errors import NoReceipt, NotYourOrder, OrderNotFound
from crm.models import OrderStatus, SalesChannel
from crm.services.orders import get_order, get_receipt, list_orders, purchase_history
from tests.builders import (
    T0,
    add_customer,
    add_order,
    add_product,
    add_receipt,
    add_store,
)


@dataclass(frozen=True)
class Orders:
    ana: int
    bob: int
    online: str  # oldest
    in_store: str
    app: str
    cancelled: str  # newest
    bobs: str


@pytest.fixture
async def orders(db: Database) -> Orders:
    async with db.transaction() as s:
        ana = await add_customer(s, name="Ana")
        bob = await add_customer(s, name="Bob")
        store = await add_store(s, "MAD-01", name="Gran Vía")
        sneaker = await add_product(
            s,
            "SNK",
            names={"en": "City sneaker", "es": "Zapatilla urbana"},
            variants=[("42", "black"), ("43", "white")],
        )
        shirt = await add_product(s, "TEE", names={"en": "T-shirt"}, variants=[("M", "blue")])
        black42, white43 = sneaker.variants
        (tee,) = shirt.variants
        online = await add_order(
            s,
            ana,
            [(black42, 1, 5990), (tee, 2, 1500)],
            number="ES-1001",
            placed_at=T0 - timedelta(days=30),
        )
        in_store = await add_order(
            s,
            ana,
            [(white43, 1, 5990)],
            number="ES-1002",
            sales_channel=SalesChannel.STORE,
            status=OrderStatus.COMPLETED,
            store=store,
            placed_at=T0 - timedelta(days=20),
        )
        await add_receipt(s, in_store, store)
        app = await add_order(
            s,
            ana,
            [(tee, 1, 1500)],
            number="ES-1003",
            sales_channel=SalesChannel.APP,
            status=OrderStatus.SHIPPED,
            placed_at=T0 - timedelta(days=10),
        )
        cancelled = await add_order(
            s,
            ana,
            [(black42, 3, 5990)],
            number="ES-1004",
            status=OrderStatus.CANCELLED,
            placed_at=T0 - timedelta(days=5),
        )
        bobs = await add_order(s, bob, [(tee, 1, 1500)], number="ES-2001")
    return Orders(
        ana.id,
        bob.id,
        online.number,
        in_store.number,
        app.number,
        cancelled.number,
        bobs.number,
    )


async def test_list_orders_newest_first_with_everything_a_reply_needs(
    db: Database, orders: Orders
) -> None:
    async with db.transaction() as s:
        listed = await list_orders(s, orders.ana)

    # Read after the session is gone: anything not loaded eagerly would raise here.
    assert [o.number for o in listed] == [
        orders.cancelled,
        orders.app,
        orders.in_store,
        orders.online,
    ]
    online = listed[-1]
    assert [(i.line_no, i.variant.sku, i.variant.product.names["en"]) for i in online.items] == [
        (1, "SNK-1", "City sneaker"),
        (2, "TEE-1", "T-shirt"),
    ]
    assert online.store is None
    assert online.pickup_store is None
    in_store = listed[-2]
    assert in_store.store is not None
    assert in_store.store.name == "Gran Vía"


async def test_list_orders_shows_only_the_customers_own_and_honours_the_limit(
    db: Database, orders: Orders
) -> None:
    async with db.transaction() as s:
        newest_two = await list_orders(s, orders.ana, limit=2)
        bobs = await list_orders(s, orders.bob)
        with pytest.raises(ValueError, match="limit"):
            await list_orders(s, orders.ana, limit=0)

    assert [o.number for o in newest_two] == [orders.cancelled, orders.app]
    assert [o.number for o in bobs] == [orders.bobs]


async def test_get_order_matches_the_number_trimmed_and_case_insensitively(
    db: Database, orders: Orders
) -> None:
    async with db.transaction() as s:
        order = await get_order(s, orders.ana, "  es-1003 ")

    assert order.number == "ES-1003"
    assert order.status == OrderStatus.SHIPPED
    assert [h.status for h in order.history] == [OrderStatus.PENDING, OrderStatus.SHIPPED]
    assert [i.variant.sku for i in order.items] == ["TEE-1"]


async def test_get_order_of_someone_else_or_of_nobody_is_not_found(
    db: Database, orders: Orders
) -> None:
    async with db.transaction() as s:
        with pytest.raises(NotYourOrder):
            await get_order(s, orders.ana, orders.bobs)
        with pytest.raises(OrderNotFound) as missing:
            await get_order(s, orders.ana, "ES-9999")
        with pytest.raises(OrderNotFound):
            await get_order(s, orders.ana, "   ")

    # Callers answer both alike: someone else's order is also an OrderNotFound.
    assert not isinstance(missing.value, NotYourOrder)
    assert issubclass(NotYourOrder, OrderNotFound)


async def test_purchase_history_spans_every_sales_channel_and_skips_cancelled(
    db: Database, orders: Orders
) -> None:
    async with db.transaction() as s:
        history = await purchase_history(s, orders.ana)

    assert [(p.order_number, p.line_no, p.sales_channel, p.sku) for p in history] == [
        ("ES-1003", 1, SalesChannel.APP, "TEE-1"),
        ("ES-1002", 1, SalesChannel.STORE, "SNK-2"),
        ("ES-1001", 1, SalesChannel.ONLINE, "SNK-1"),
        ("ES-1001", 2, SalesChannel.ONLINE, "TEE-1"),
    ]
    in_store = history[1]
    assert in_store.store_name == "Gran Vía"
    assert in_store.product_names == {"en": "City sneaker", "es": "Zapatilla urbana"}
    assert (in_store.size, in_store.color) == ("43", "white")
    assert (in_store.quantity, in_store.unit_price_minor, in_store.currency) == (1, 5990, "EUR")
    assert in_store.placed_at == T0 - timedelta(days=20)
    assert history[0].store_name is None


async def test_purchase_history_limit_counts_lines(db: Database, orders: Orders) -> None:
    async with db.transaction() as s:
        history = await purchase_history(s, orders.ana, limit=3)
        nothing = await purchase_history(s, orders.ana + orders.bob + 100)

    assert [(p.order_number, p.line_no) for p in history] == [
        ("ES-1003", 1),
        ("ES-1002", 1),
        ("ES-1001", 1),
    ]
    assert nothing == []


async def test_get_receipt_of_an_in_store_sale_comes_with_its_store(
    db: Database, orders: Orders
) -> None:
    async with db.transaction() as s:
        receipt = await get_receipt(s, orders.ana, orders.in_store.lower())

    assert receipt.store.code == "MAD-01"
    assert receipt.order.number == orders.in_store
    assert (receipt.total_minor, receipt.currency) == (5990, "EUR")


async def test_get_receipt_of_an_online_order_or_someone_elses_fails(
    db: Database, orders: Orders
) -> None:
    async with db.transaction() as s:
        with pytest.raises(NoReceipt) as online:
            await get_receipt(s, orders.ana, orders.online)
        with pytest.raises(NotYourOrder):
            await get_receipt(s, orders.bob, orders.in_store)
        with pytest.raises(OrderNotFound):
            await get_receipt(s, orders.ana, "ES-0000")

    assert online.value.order_number == orders.online
