"""Reserving for pick-up: never over-reserved, stock given back exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select, text

import crm.services.codes
from crm.db import Database
from crm.errors import (
    DomainError,
    IllegalTransition,
    InvalidQuantity,
    OutOfStock,
    ReservationExpired,
    ReservationNotFound,
    UnknownCustomer,
    UnknownProduct,
    UnknownStore,
    WrongStore,
)
from crm.models import Inventory, ProductVariant, Reservation, ReservationStatus, Store
from crm.services.codes import CODE_ALPHABET
from crm.services.reservations import (
    cancel_reservation,
    collect_reservation,
    expire_reservations,
    reserve_item,
)
from tests.builders import T0, add_customer, add_inventory, add_product, add_store


@dataclass(frozen=True)
class Shop:
    ana: int
    bob: int
    store: str
    other_store: str
    sku: str


async def _shop(db: Database, on_hand: int = 5) -> Shop:
    async with db.transaction() as s:
        ana = await add_customer(s, name="Ana")
        bob = await add_customer(s, name="Bob")
        store = await add_store(s, "MAD-01")
        other = await add_store(s, "MAD-02")
        product = await add_product(s, "SNK")
        variant = product.variants[0]
        await add_inventory(s, store, variant, on_hand)
        await add_inventory(s, other, variant, on_hand)
    return Shop(ana.id, bob.id, store.code, other.code, variant.sku)


@pytest.fixture
async def shop(db: Database) -> Shop:
    return await _shop(db)


@pytest.fixture
async def pool(db: Database, database_url: str) -> AsyncIterator[Database]:
    """A second handle on the test database with enough connections for real concurrency."""
    database = Database(database_url, pool_size=25)
    yield database
    await database.dispose()


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


async def _status(db: Database, code: str) -> ReservationStatus:
    async with db.transaction() as s:
        status = await s.scalar(select(Reservation.status).where(Reservation.pickup_code == code))
    assert status is not None
    return status


async def _reserve(db: Database, shop: Shop, quantity: int = 2) -> str:
    async with db.transaction() as s:
        reservation = await reserve_item(s, shop.ana, shop.store, shop.sku, quantity, now=T0)
    return reservation.pickup_code


async def test_reserve_item_holds_stock_under_a_pickup_code(db: Database, shop: Shop) -> None:
    async with db.transaction() as s:
        reservation = await reserve_item(
            s, shop.ana, shop.store, shop.sku, 2, hold=timedelta(hours=24), now=T0
        )

    assert reservation.status == ReservationStatus.HELD
    assert reservation.quantity == 2
    assert reservation.held_until == T0 + timedelta(hours=24)
    assert len(reservation.pickup_code) == 6
    assert set(reservation.pickup_code) <= set(CODE_ALPHABET)
    assert not set(reservation.pickup_code) & set("0O1IL")
    # Everything a confirmation names comes loaded.
    assert reservation.store.code == shop.store
    assert reservation.variant.sku == shop.sku
    assert reservation.variant.product.names["en"] == "City sneaker"
    assert await _stock(db, shop.store, shop.sku) == (5, 2)
    assert await _stock(db, shop.other_store, shop.sku) == (5, 0)


async def test_out_of_stock_says_how_many_are_available(db: Database, shop: Shop) -> None:
    await _reserve(db, shop, 4)

    async with db.transaction() as s:
        with pytest.raises(OutOfStock) as raised:
            await reserve_item(s, shop.bob, shop.store, shop.sku, 2, now=T0)

    error = raised.value
    assert (error.sku, error.store_code, error.available, error.requested) == (
        shop.sku,
        shop.store,
        1,
        2,
    )
    assert await _stock(db, shop.store, shop.sku) == (5, 4)


async def test_a_store_that_never_stocked_the_item_has_none_available(db: Database) -> None:
    shop = await _shop(db)
    async with db.transaction() as s:
        await add_store(s, "EMPTY")

    async with db.transaction() as s:
        with pytest.raises(OutOfStock) as raised:
            await reserve_item(s, shop.ana, "EMPTY", shop.sku, 1)
    assert raised.value.available == 0


@pytest.mark.parametrize("quantity", [0, -1, 11])
async def test_quantity_must_be_between_1_and_10(db: Database, shop: Shop, quantity: int) -> None:
    async with db.transaction() as s:
        with pytest.raises(InvalidQuantity) as raised:
            await reserve_item(s, shop.ana, shop.store, shop.sku, quantity)
    assert (raised.value.minimum, raised.value.maximum) == (1, 10)


async def test_unknown_customer_store_or_sku_reserve_nothing(db: Database, shop: Shop) -> None:
    async with db.transaction() as s:
        await add_store(s, "CLOSED", active=False)

    cases: list[tuple[type[DomainError], int, str, str]] = [
        (UnknownCustomer, shop.ana + shop.bob + 100, shop.store, shop.sku),
        (UnknownStore, shop.ana, "NOWHERE", shop.sku),
        (UnknownStore, shop.ana, "CLOSED", shop.sku),
        (UnknownProduct, shop.ana, shop.store, "NOPE-1"),
    ]
    for error, customer, store, sku in cases:
        async with db.transaction() as s:
            with pytest.raises(error):
                await reserve_item(s, customer, store, sku, 1)

    assert await _stock(db, shop.store, shop.sku) == (5, 0)


async def test_fifty_customers_racing_for_the_last_three_units(
    db: Database, pool: Database
) -> None:
    shop = await _shop(db, on_hand=3)
    async with db.transaction() as s:
        customers = [(await add_customer(s, name=f"C{n}")).id for n in range(50)]

    async def attempt(customer: int) -> Reservation | OutOfStock:
        try:
            async with pool.transaction() as s:
                return await reserve_item(s, customer, shop.store, shop.sku, 1)
        except OutOfStock as exc:
            return exc

    results = await asyncio.gather(*(attempt(c) for c in customers))

    held = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, OutOfStock)]
    assert (len(held), len(refused)) == (3, 47)
    assert {r.available for r in refused} <= {0, 1, 2}
    assert len({r.pickup_code for r in held}) == 3
    assert await _stock(db, shop.store, shop.sku) == (3, 3)
    async with db.transaction() as s:
        rows = (await s.scalars(select(Reservation))).all()
    assert [r.status for r in rows] == [ReservationStatus.HELD] * 3


async def test_a_clashing_pickup_code_is_drawn_again(
    db: Database, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await _reserve(db, shop, 1)
    codes = iter([first, first, "ZZZ222"])
    monkeypatch.setattr(crm.services.codes, "new_code", lambda prefix="": next(codes))

    async with db.transaction() as s:
        second = await reserve_item(s, shop.bob, shop.store, shop.sku, 1)

    assert second.pickup_code == "ZZZ222"
    assert await _stock(db, shop.store, shop.sku) == (5, 2)


async def test_cancel_gives_the_stock_back(db: Database, shop: Shop) -> None:
    code = await _reserve(db, shop, 2)

    async with db.transaction() as s:
        cancelled = await cancel_reservation(s, shop.ana, f" {code.lower()} ", now=T0)

    assert cancelled.status == ReservationStatus.CANCELLED
    assert cancelled.closed_at == T0
    assert await _stock(db, shop.store, shop.sku) == (5, 0)


async def test_only_the_owner_can_cancel(db: Database, shop: Shop) -> None:
    code = await _reserve(db, shop, 2)

    async with db.transaction() as s:
        with pytest.raises(ReservationNotFound):
            await cancel_reservation(s, shop.bob, code)
        with pytest.raises(ReservationNotFound):
            await cancel_reservation(s, shop.ana, "ZZZZZZ")

    assert await _status(db, code) == ReservationStatus.HELD
    assert await _stock(db, shop.store, shop.sku) == (5, 2)


async def test_cancelling_twice_is_an_illegal_transition(db: Database, shop: Shop) -> None:
    code = await _reserve(db, shop, 2)
    async with db.transaction() as s:
        await cancel_reservation(s, shop.ana, code)

    async with db.transaction() as s:
        with pytest.raises(IllegalTransition) as raised:
            await cancel_reservation(s, shop.ana, code)

    assert (raised.value.current, raised.value.target) == ("cancelled", "cancelled")
    assert await _stock(db, shop.store, shop.sku) == (5, 0)


async def test_collect_takes_the_units_off_the_shelf(db: Database, shop: Shop) -> None:
    code = await _reserve(db, shop, 2)

    async with db.transaction() as s:
        collected = await collect_reservation(s, code, shop.store, now=T0 + timedelta(hours=3))

    assert collected.status == ReservationStatus.COLLECTED
    assert collected.closed_at == T0 + timedelta(hours=3)
    assert await _stock(db, shop.store, shop.sku) == (3, 0)


async def test_collect_only_at_the_reservations_store_and_in_time(db: Database, shop: Shop) -> None:
    code = await _reserve(db, shop, 2)

    async with db.transaction() as s:
        with pytest.raises(WrongStore) as wrong:
            await collect_reservation(s, code, shop.other_store, now=T0)
        with pytest.raises(ReservationExpired) as late:
            await collect_reservation(s, code, shop.store, now=T0 + timedelta(hours=49))
        with pytest.raises(ReservationNotFound):
            await collect_reservation(s, "ZZZZZZ", shop.store, now=T0)
        with pytest.raises(UnknownStore):
            await collect_reservation(s, code, "NOWHERE", now=T0)

    assert wrong.value.held_at == shop.store
    assert late.value.held_until == T0 + timedelta(hours=48)
    assert await _status(db, code) == ReservationStatus.HELD
    assert await _stock(db, shop.store, shop.sku) == (5, 2)


async def test_a_cancelled_reservation_cannot_be_collected(db: Database, shop: Shop) -> None:
    code = await _reserve(db, shop, 2)
    async with db.transaction() as s:
        await cancel_reservation(s, shop.ana, code)

    async with db.transaction() as s:
        with pytest.raises(IllegalTransition):
            await collect_reservation(s, code, shop.store, now=T0)
    assert await _stock(db, shop.store, shop.sku) == (5, 0)


async def test_collect_when_the_shop_counted_fewer_than_were_held(db: Database, shop: Shop) -> None:
    code = await _reserve(db, shop, 2)
    async with db.transaction() as s:
        stock = await s.scalar(select(Inventory).where(Inventory.reserved == 2))
        assert stock is not None
        stock.on_hand = 1

    async with db.transaction() as s:
        await collect_reservation(s, code, shop.store, now=T0)
    assert await _stock(db, shop.store, shop.sku) == (0, 0)


async def test_expiry_gives_back_the_stock_of_overdue_holds_only(db: Database, shop: Shop) -> None:
    overdue = await _reserve(db, shop, 2)
    async with db.transaction() as s:
        later = await reserve_item(
            s, shop.bob, shop.store, shop.sku, 1, hold=timedelta(hours=72), now=T0
        )
        collected = await reserve_item(s, shop.bob, shop.store, shop.sku, 1, now=T0)
    async with db.transaction() as s:
        await collect_reservation(s, collected.pickup_code, shop.store, now=T0)
    assert await _stock(db, shop.store, shop.sku) == (4, 3)

    async with db.transaction() as s:
        assert await expire_reservations(s, now=T0 + timedelta(hours=48)) == 0
    async with db.transaction() as s:
        assert await expire_reservations(s, now=T0 + timedelta(hours=49)) == 1
    async with db.transaction() as s:
        assert await expire_reservations(s, now=T0 + timedelta(hours=49)) == 0

    assert await _status(db, overdue) == ReservationStatus.EXPIRED
    assert await _status(db, later.pickup_code) == ReservationStatus.HELD
    assert await _status(db, collected.pickup_code) == ReservationStatus.COLLECTED
    assert await _stock(db, shop.store, shop.sku) == (4, 1)


async def test_concurrent_cancel_and_expiry_give_the_stock_back_once(
    db: Database, pool: Database, shop: Shop
) -> None:
    code = await _reserve(db, shop, 2)
    # Another hold on the same shelf: a double release would eat into it.
    async with db.transaction() as s:
        await reserve_item(s, shop.bob, shop.store, shop.sku, 1, hold=timedelta(days=7), now=T0)

    async def cancel() -> bool:
        try:
            async with pool.transaction() as s:
                await cancel_reservation(s, shop.ana, code)
        except IllegalTransition:
            return False
        return True

    async def expire() -> bool:
        async with pool.transaction() as s:
            return await expire_reservations(s, now=T0 + timedelta(days=3)) == 1

    cancelled, expired = await asyncio.gather(cancel(), expire())

    assert cancelled != expired
    assert await _status(db, code) == (
        ReservationStatus.CANCELLED if cancelled else ReservationStatus.EXPIRED
    )
    assert await _stock(db, shop.store, shop.sku) == (5, 1)


async def test_ten_concurrent_cancels_release_once(
    db: Database, pool: Database, shop: Shop
) -> None:
    code = await _reserve(db, shop, 2)
    async with db.transaction() as s:
        await reserve_item(s, shop.bob, shop.store, shop.sku, 3, now=T0)

    async def cancel() -> bool:
        try:
            async with pool.transaction() as s:
                await cancel_reservation(s, shop.ana, code)
        except IllegalTransition:
            return False
        return True

    outcomes = await asyncio.gather(*(cancel() for _ in range(10)))

    assert outcomes.count(True) == 1
    assert await _stock(db, shop.store, shop.sku) == (5, 3)


async def _wait_for_a_lock_wait(db: Database) -> None:
    """Return once some PostgreSQL backend is waiting for a lock (poll, with a deadline)."""
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        async with db.engine.connect() as conn:
            waiting = await conn.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
        if waiting:
            return
    raise AssertionError("nobody ever waited for the lock")


async def test_a_close_that_loses_the_race_after_its_check_changes_nothing(
    db: Database, pool: Database, shop: Shop, backend: str
) -> None:
    """The status check is in the UPDATE itself, not only in what the service read."""
    if backend == "sqlite":
        pytest.skip("SQLite runs write transactions one at a time: there is no such race")
    code = await _reserve(db, shop, 2)

    async def cancel() -> IllegalTransition | None:
        try:
            async with pool.transaction() as s:
                await cancel_reservation(s, shop.ana, code)
        except IllegalTransition as exc:
            return exc
        return None

    async with pool.transaction() as expiring:
        assert await expire_reservations(expiring, now=T0 + timedelta(days=3)) == 1
        # The cancel reads the reservation as still held (the expiry is not committed)
        # and then queues behind the expiry's row lock with its UPDATE.
        cancelling = asyncio.create_task(cancel())
        await _wait_for_a_lock_wait(db)

    lost = await cancelling
    assert lost is not None
    assert (lost.current, lost.target) == ("expired", "cancelled")
    assert await _status(db, code) == ReservationStatus.EXPIRED
    assert await _stock(db, shop.store, shop.sku) == (5, 0)


async def test_one_expiry_sweep_closes_at_most_its_batch(db: Database, shop: Shop) -> None:
    codes = [await _reserve(db, shop, 1) for _ in range(3)]
    later = T0 + timedelta(days=3)
    async with db.transaction() as s:
        assert await expire_reservations(s, now=later, limit=2) == 2
    async with db.transaction() as s:
        assert await expire_reservations(s, now=later, limit=2) == 1
    assert [await _status(db, code) for code in codes] == [ReservationStatus.EXPIRED] * 3
    assert await _stock(db, shop.store, shop.sku) == (5, 0)


async def test_concurrent_expiry_sweeps_share_the_work_and_release_once(
    db: Database, pool: Database
) -> None:
    shop = await _shop(db, on_hand=10)
    for _ in range(10):
        await _reserve(db, shop, 1)
    assert await _stock(db, shop.store, shop.sku) == (10, 10)

    async def sweep() -> int:
        total = 0
        while True:
            async with pool.transaction() as s:
                expired = await expire_reservations(s, now=T0 + timedelta(days=3), limit=3)
            if expired == 0:
                return total
            total += expired

    sweeps = await asyncio.gather(*(sweep() for _ in range(4)))

    assert sum(sweeps) == 10
    assert await _stock(db, shop.store, shop.sku) == (10, 0)
