"""Holds by customers nobody vouched for: one unit, one reservation, a short hold, and
never more than their share of a store's units, whatever the concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import Database
from crm.errors import HoldLimit, OutOfStock, UnverifiedHoldLimit
from crm.models import Channel, Customer, Inventory, ProductVariant, Reservation, Store
from crm.models import ReservationStatus as Status
from crm.services.reservations import (
    cancel_reservation,
    check_hold,
    expire_reservations,
    reserve_item,
)
from tests.builders import T0, add_customer, add_identity, add_inventory, add_product, add_store


@dataclass(frozen=True)
class Shop:
    store: str
    other_store: str
    sku: str
    other_sku: str


async def _shop(db: Database, on_hand: int = 6) -> Shop:
    async with db.transaction() as s:
        store = await add_store(s, "MAD-01")
        other = await add_store(s, "MAD-02")
        product = await add_product(s, "SNK", variants=[("42", "black"), ("43", "black")])
        for shelf in (store, other):
            for variant in product.variants:
                await add_inventory(s, shelf, variant, on_hand)
    return Shop(store.code, other.code, product.variants[0].sku, product.variants[1].sku)


@pytest.fixture
async def shop(db: Database) -> Shop:
    return await _shop(db)


@pytest.fixture
async def pool(db: Database, database_url: str) -> AsyncIterator[Database]:
    """A second handle on the test database with enough connections for real concurrency."""
    database = Database(database_url, pool_size=25)
    yield database
    await database.dispose()


async def visitor(s: AsyncSession, n: int = 1) -> int:
    """A web-chat visitor nobody vouched for: a profile of its own, one unverified identity."""
    customer = Customer()
    s.add(customer)
    await s.flush()
    await add_identity(s, customer, Channel.WEBCHAT, f"visitor-{n}")
    return customer.id


async def _stock(db: Database, store_code: str, sku: str) -> tuple[int, int]:
    """(on_hand, reserved), read fresh."""
    async with db.transaction() as s:
        row = (
            await s.execute(
                select(Inventory.on_hand, Inventory.reserved)
                .join(Store, Store.id == Inventory.store_id)
                .join(ProductVariant, ProductVariant.id == Inventory.variant_id)
                .where(Store.code == store_code, ProductVariant.sku == sku)
            )
        ).one()
    return row.on_hand, row.reserved


async def _held(db: Database) -> list[Reservation]:
    async with db.transaction() as s:
        rows = await s.scalars(
            select(Reservation).where(Reservation.status == Status.HELD).order_by(Reservation.id)
        )
        return list(rows.all())


async def test_an_unverified_customer_holds_one_unit_for_two_hours(
    db: Database, shop: Shop
) -> None:
    async with db.transaction() as s:
        anon = await visitor(s)

    async with db.transaction() as s:
        with pytest.raises(UnverifiedHoldLimit) as two:
            await reserve_item(s, anon, shop.store, shop.sku, 2, now=T0)
    assert (two.value.limit, two.value.allowed) == (HoldLimit.UNITS, 1)
    assert await _stock(db, shop.store, shop.sku) == (6, 0)

    async with db.transaction() as s:
        # The caller asked for the usual 48 hours: the service decides.
        held = await reserve_item(s, anon, shop.store, shop.sku, 1, now=T0)
    assert held.held_until == T0 + timedelta(hours=2)
    assert await _stock(db, shop.store, shop.sku) == (6, 1)

    async with db.transaction() as s:
        with pytest.raises(UnverifiedHoldLimit) as second:
            await reserve_item(s, anon, shop.other_store, shop.other_sku, 1, now=T0)
    assert (second.value.limit, second.value.held_code) == (HoldLimit.HOLDS, held.pickup_code)
    assert await _stock(db, shop.other_store, shop.other_sku) == (6, 0)

    # Once that hold is over (cancelled, or expired by the sweep), another one may start.
    async with db.transaction() as s:
        await cancel_reservation(s, anon, held.pickup_code, now=T0)
    async with db.transaction() as s:
        again = await reserve_item(s, anon, shop.other_store, shop.other_sku, 1, now=T0)
    async with db.transaction() as s:
        assert await expire_reservations(s, now=T0 + timedelta(hours=2, minutes=1)) == 1
    assert await _stock(db, shop.other_store, shop.other_sku) == (6, 0)
    async with db.transaction() as s:
        last = await reserve_item(s, anon, shop.store, shop.sku, 1, now=T0 + timedelta(hours=3))
    assert [r.pickup_code for r in await _held(db)] == [last.pickup_code]
    assert last.pickup_code != again.pickup_code


async def test_only_customers_nobody_vouched_for_are_limited(db: Database, shop: Shop) -> None:
    async with db.transaction() as s:
        anon = await visitor(s)
        # Vouched: a phone the carrier delivered from, the shop's own record (loaded by
        # its systems, or signed in on the web chat), a customer with no chat at all.
        phone = await add_customer(s, name="Ana")
        await add_identity(s, phone, Channel.WHATSAPP, "+34600100200", verified=True)
        shop_record = Customer(external_id="C-1001", name="Bea")
        s.add(shop_record)
        await s.flush()
        await add_identity(s, shop_record, Channel.TELEGRAM, "5550001")
        offline = await add_customer(s, name="Carla")
        vouched = [phone.id, shop_record.id, offline.id]

    async with db.transaction() as s:
        with pytest.raises(UnverifiedHoldLimit):
            await check_hold(s, anon, shop.store, shop.sku, 2)
    for customer in vouched:
        async with db.transaction() as s:
            first = await reserve_item(s, customer, shop.store, shop.sku, 2, now=T0)
            await reserve_item(s, customer, shop.other_store, shop.sku, 1, now=T0)
        assert first.held_until == T0 + timedelta(hours=48)
    assert await _stock(db, shop.store, shop.sku) == (6, 6)


async def test_unverified_customers_together_hold_at_most_half_a_shelf(
    db: Database, shop: Shop
) -> None:
    async with db.transaction() as s:
        visitors = [await visitor(s, n) for n in range(4)]
        known = await add_customer(s, name="Ana")
        await add_identity(s, known, Channel.SMS, "+34600100200", verified=True)

    for anon in visitors[:3]:
        async with db.transaction() as s:
            await reserve_item(s, anon, shop.store, shop.sku, 1, now=T0)
    async with db.transaction() as s:
        with pytest.raises(UnverifiedHoldLimit) as fourth:
            await reserve_item(s, visitors[3], shop.store, shop.sku, 1, now=T0)
    assert fourth.value.limit is HoldLimit.SHARE
    assert await _stock(db, shop.store, shop.sku) == (6, 3)

    # The other half is for customers who said who they are; the last unit above all.
    async with db.transaction() as s:
        await reserve_item(s, known.id, shop.store, shop.sku, 3, now=T0)
    async with db.transaction() as s:
        with pytest.raises(OutOfStock):
            await reserve_item(s, visitors[3], shop.store, shop.sku, 1, now=T0)
    async with db.transaction() as s:
        single = await add_store(s, "ONE-LEFT")
        variant = await s.scalar(select(ProductVariant).where(ProductVariant.sku == shop.sku))
        assert variant is not None
        await add_inventory(s, single, variant, 1)
    async with db.transaction() as s:
        with pytest.raises(UnverifiedHoldLimit) as last:
            await reserve_item(s, visitors[3], "ONE-LEFT", shop.sku, 1, now=T0)
    assert last.value.limit is HoldLimit.SHARE
    assert await _stock(db, "ONE-LEFT", shop.sku) == (1, 0)


async def test_concurrent_attempts_by_one_unverified_customer_hold_one_unit(
    db: Database, pool: Database, shop: Shop
) -> None:
    async with db.transaction() as s:
        anon = await visitor(s)
    places = [(store, sku) for store in (shop.store, shop.other_store)
              for sku in (shop.sku, shop.other_sku)] * 3  # fmt: skip

    async def attempt(store: str, sku: str) -> Reservation | UnverifiedHoldLimit:
        try:
            async with pool.transaction() as s:
                return await reserve_item(s, anon, store, sku, 1)
        except UnverifiedHoldLimit as exc:
            return exc

    results = await asyncio.gather(*(attempt(store, sku) for store, sku in places))

    held = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, UnverifiedHoldLimit)]
    assert (len(held), len(refused)) == (1, 11)
    assert {r.limit for r in refused} == {HoldLimit.HOLDS}
    assert [r.pickup_code for r in await _held(db)] == [held[0].pickup_code]
    total = sum([(await _stock(db, store, sku))[1] for store, sku in set(places)])
    assert total == 1


async def test_concurrent_unverified_customers_never_pass_their_share(
    db: Database, pool: Database
) -> None:
    shop = await _shop(db, on_hand=7)  # half, rounded down: 3
    async with db.transaction() as s:
        visitors = [await visitor(s, n) for n in range(20)]

    async def attempt(anon: int) -> Reservation | UnverifiedHoldLimit:
        try:
            async with pool.transaction() as s:
                return await reserve_item(s, anon, shop.store, shop.sku, 1)
        except UnverifiedHoldLimit as exc:
            return exc

    results = await asyncio.gather(*(attempt(anon) for anon in visitors))

    held = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, UnverifiedHoldLimit)]
    assert (len(held), len(refused)) == (3, 17)
    assert {r.limit for r in refused} == {HoldLimit.SHARE}
    assert await _stock(db, shop.store, shop.sku) == (7, 3)
