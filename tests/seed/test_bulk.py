"""Bulk customers for benchmarks: believable orders, consistent totals, repeatable runs."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import phonenumbers
import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.db import Database
from crm.models import (
    Customer,
    Fulfilment,
    Order,
    OrderStatus,
    ProductPrice,
    ProductVariant,
    Store,
)
from crm.phones import normalise_phone
from crm.seed import seed_bulk, seed_demo
from tests.seed import NOW, another_database, fingerprint, row_counts

LAST_STEP = {
    Fulfilment.DELIVERY: {"pending", "confirmed", "preparing", "shipped", "delivered"},
    Fulfilment.PICKUP: {"pending", "confirmed", "preparing", "ready_for_pickup", "collected"},
    Fulfilment.IN_STORE: {"completed"},
}


async def _customers_with_orders(
    db: Database, external_ids: set[str]
) -> list[tuple[Customer, list[Order]]]:
    async with db.transaction() as session:
        customers = [
            c for c in await session.scalars(select(Customer)) if c.external_id in external_ids
        ]
        orders = list(
            await session.scalars(
                select(Order).options(
                    selectinload(Order.items),
                    selectinload(Order.history),
                    selectinload(Order.receipt),
                )
            )
        )
    by_customer: dict[int, list[Order]] = {c.id: [] for c in customers}
    for order in orders:
        if order.customer_id in by_customer:
            by_customer[order.customer_id].append(order)
    return [(c, by_customer[c.id]) for c in customers]


async def _external_ids(db: Database) -> set[str]:
    async with db.transaction() as session:
        return {c for c in await session.scalars(select(Customer.external_id)) if c}


async def test_bulk_adds_customers_with_about_three_consistent_orders_each(db: Database) -> None:
    await seed_demo(db, now=NOW)
    before = await row_counts(db)
    demo_ids = await _external_ids(db)
    seen: list[int] = []

    summary = await seed_bulk(db, 300, progress=seen.append, batch_size=120)

    assert seen == [120, 240, 300]
    after = await row_counts(db)
    assert summary.customers == after["customers"] - before["customers"] == 300
    assert summary.orders == after["orders"] - before["orders"]
    assert summary.order_items == after["order_items"] - before["order_items"]
    assert summary.status_changes == after["order_status_changes"] - before["order_status_changes"]
    assert summary.receipts == after["receipts"] - before["receipts"]
    assert summary.rows == sum(summary.rows_by_table().values())
    assert "300 customers" in summary.describe()
    assert 2.5 <= summary.orders / summary.customers <= 3.5

    async with db.transaction() as session:
        stores = {s.id: s for s in await session.scalars(select(Store))}
        prices = {
            (variant_id, currency): amount
            for variant_id, currency, amount in await session.execute(
                select(ProductVariant.id, ProductPrice.currency, ProductPrice.amount_minor).join(
                    ProductPrice, ProductPrice.product_id == ProductVariant.product_id
                )
            )
        }
    new_ids = await _external_ids(db) - demo_ids
    customers = await _customers_with_orders(db, new_ids)
    assert len(customers) == 300
    orders_per_customer = Counter(len(orders) for _, orders in customers)
    assert set(orders_per_customer) <= {1, 2, 3, 4, 5}
    assert len(orders_per_customer) >= 4  # the spread, not just a constant three

    for customer, orders in customers:
        country = customer.country
        assert country is not None
        assert customer.phone
        assert normalise_phone(customer.phone) == customer.phone
        region = phonenumbers.region_code_for_number(phonenumbers.parse(customer.phone))
        assert region == country
        assert customer.email
        assert re.fullmatch(r"[a-z.]+\d+@example\.(com|org|net)", customer.email)
        assert customer.language in ({"ES": "es", "MX": "es"}.get(country, "pt"), "en")
        if len(orders) > 1 and customer.funnel_stage != "lapsed":
            assert customer.funnel_stage == "repeat"
        assert customer.created_at <= min(o.placed_at for o in orders)
        for order in orders:
            assert order.number.startswith(country + "-")
            assert 1 <= len(order.items) <= 3
            assert len({i.variant_id for i in order.items}) == len(order.items)
            assert order.total_minor == sum(i.quantity * i.unit_price_minor for i in order.items)
            for item in order.items:
                assert prices[(item.variant_id, order.currency)] == item.unit_price_minor
            statuses = [h.status for h in order.history]
            assert statuses[-1] == order.status
            assert (
                order.status is OrderStatus.CANCELLED
                or set(statuses) <= LAST_STEP[order.fulfilment]
            )
            times = [h.changed_at for h in order.history]
            assert times == sorted(times)
            assert times[0] == order.placed_at
            for shop_id in (order.store_id, order.pickup_store_id):
                if shop_id is not None:
                    assert stores[shop_id].currency == order.currency
                    assert stores[shop_id].country == country
            if order.fulfilment is Fulfilment.IN_STORE:
                assert order.receipt is not None
                assert order.receipt.total_minor == order.total_minor
                assert order.receipt.store_id == order.store_id
            else:
                assert order.receipt is None


async def test_a_second_run_adds_as_many_again_without_collisions(db: Database) -> None:
    await seed_demo(db, now=NOW)
    demo_ids = await _external_ids(db)
    await seed_bulk(db, 150, batch_size=100)
    first_ids = await _external_ids(db) - demo_ids
    async with db.transaction() as session:
        first_orders = set(await session.scalars(select(Order.number)))

    second = await seed_bulk(db, 150, batch_size=100)

    assert second.customers == 150
    second_ids = await _external_ids(db) - demo_ids - first_ids
    assert len(first_ids) == len(second_ids) == 150
    assert min(second_ids) > max(first_ids)  # the numbering continues
    async with db.transaction() as session:
        customers = list(await session.scalars(select(Customer)))
        numbers = list(await session.scalars(select(Order.number)))
    phones = [c.phone for c in customers]
    emails = [c.email for c in customers]
    assert len(customers) == len(demo_ids) + 300
    assert len(set(phones)) == len(phones)
    assert len(set(emails)) == len(emails)
    assert len(set(numbers)) == len(numbers)
    new_numbers = set(numbers) - first_orders
    assert len(new_numbers) == second.orders
    counter = re.compile(r"[A-Z]{2}-(\d+)")
    assert min(_number(counter, n) for n in new_numbers) > max(
        _number(counter, n) for n in first_orders
    )


def _number(pattern: re.Pattern[str], number: str) -> int:
    match = pattern.fullmatch(number)
    assert match is not None
    return int(match.group(1))


async def test_ids_the_shop_chose_do_not_upset_the_numbering(db: Database) -> None:
    await seed_demo(db, now=NOW)
    async with db.transaction() as session:
        session.add(Customer(external_id="CUS-SHOPWIDE", name="Synced by the shop"))
    before = await _external_ids(db)
    await seed_bulk(db, 5)
    added = await _external_ids(db) - before
    assert added == {f"CUS-{n:08d}" for n in range(41, 46)}


async def test_bulk_seeds_the_demo_chain_first_into_an_empty_database(db: Database) -> None:
    summary = await seed_bulk(db, 20)
    counts = await row_counts(db)
    assert counts["stores"] > 0
    assert counts["products"] > 0
    assert counts["customers"] == 40 + summary.customers


async def test_zero_customers_adds_nothing(db: Database) -> None:
    await seed_demo(db, now=NOW)
    before = await row_counts(db)
    summary = await seed_bulk(db, 0)
    assert summary.rows == 0
    assert await row_counts(db) == before


async def test_bulk_data_depends_only_on_what_the_database_holds(
    db: Database,
    backend: str,
    database_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    await seed_demo(db, now=NOW)
    await seed_bulk(db, 90, batch_size=40)
    async with another_database(backend, database_url, request, tmp_path) as other:
        await seed_demo(other, now=NOW)
        # Other batches, same customers: each customer's data follows from its number.
        await seed_bulk(other, 90, batch_size=25)
        assert await fingerprint(other) == await fingerprint(db)


async def test_copy_writes_what_core_inserts_write(
    db: Database,
    backend: str,
    database_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    if backend != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    await seed_demo(db, now=NOW)
    await seed_bulk(db, 60, method="copy")
    async with another_database(backend, database_url, request, tmp_path) as other:
        await seed_demo(other, now=NOW)
        await seed_bulk(other, 60, method="insert")
        assert await fingerprint(other) == await fingerprint(db)
