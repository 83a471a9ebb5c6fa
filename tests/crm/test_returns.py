"""Returns of order lines bought on any sales channel, and their status moves."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import crm.services.codes
from crm.db import Database
from crm.errors import (
    ExceedsReturnable,
    IllegalTransition,
    InvalidReturn,
    InvalidReturnProblem,
    NotReturnable,
    NotReturnableReason,
    NotYourOrder,
    OrderNotFound,
    ReturnNotFound,
    UnknownStore,
)
from crm.models import (
    OrderStatus,
    Return,
    ReturnMethod,
    ReturnReason,
    ReturnStatus,
    SalesChannel,
)
from crm.services import returns
from crm.services.returns import (
    ReturnLine,
    receive_return,
    refund_return,
    reject_return,
    start_return,
)
from tests.builders import T0, add_customer, add_order, add_product, add_store

COURIER, IN_STORE = ReturnMethod.COURIER, ReturnMethod.IN_STORE
WRONG_SIZE = ReturnReason.WRONG_SIZE


@dataclass(frozen=True)
class Bought:
    ana: int
    bob: int
    order: str  # line 1: 2 x 5990, line 2: 1 x 1500, received T0 - 8 days


async def _buy(
    db: Database,
    *,
    sales_channel: SalesChannel = SalesChannel.ONLINE,
    status: OrderStatus = OrderStatus.DELIVERED,
) -> Bought:
    async with db.transaction() as s:
        ana = await add_customer(s, name="Ana")
        bob = await add_customer(s, name="Bob")
        store = await add_store(s, "MAD-01")
        await add_store(s, "LIS-01", city="Lisboa", country="PT")
        await add_store(s, "OLD-01", active=False)
        sneaker = await add_product(s, "SNK")
        tee = await add_product(s, "TEE")
        order = await add_order(
            s,
            ana,
            [(sneaker.variants[0], 2, 5990), (tee.variants[0], 1, 1500)],
            number="ES-5001",
            sales_channel=sales_channel,
            status=status,
            store=store if sales_channel == SalesChannel.STORE else None,
        )
    return Bought(ana.id, bob.id, order.number)


@pytest.fixture
async def bought(db: Database) -> Bought:
    return await _buy(db)


@pytest.fixture
async def pool(db: Database, database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=25)
    yield database
    await database.dispose()


async def _return_count(db: Database) -> int:
    async with db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(Return)) or 0)


async def _start(
    s: AsyncSession,
    customer: int,
    order: str,
    lines: list[ReturnLine],
    method: ReturnMethod = COURIER,
    *,
    store_code: str | None = None,
    now: datetime = T0,
    window: timedelta = returns.RETURN_WINDOW,
) -> Return:
    return await start_return(
        s,
        customer,
        order,
        lines,
        WRONG_SIZE,
        method,
        store_code=store_code,
        now=now,
        window=window,
    )


async def test_a_courier_return_of_a_whole_order(db: Database, bought: Bought) -> None:
    async with db.transaction() as s:
        rma = await start_return(
            s,
            bought.ana,
            " es-5001",
            [ReturnLine(1, 2), ReturnLine(2, 1)],
            WRONG_SIZE,
            COURIER,
            note="Too small",
            now=T0,
        )

    assert re.fullmatch(r"RMA-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}", rma.rma_code)
    assert rma.status == ReturnStatus.REQUESTED
    assert (rma.refund_minor, rma.currency) == (2 * 5990 + 1500, "EUR")
    assert (rma.reason, rma.method, rma.store, rma.note) == (WRONG_SIZE, COURIER, None, "Too small")
    assert sorted((i.order_item.line_no, i.quantity) for i in rma.items) == [(1, 2), (2, 1)]
    assert rma.created_at == T0


@pytest.mark.parametrize(
    ("sales_channel", "status"),
    [
        (SalesChannel.STORE, OrderStatus.COMPLETED),
        (SalesChannel.APP, OrderStatus.DELIVERED),
        (SalesChannel.WHATSAPP, OrderStatus.COLLECTED),
    ],
)
async def test_any_sales_channel_returns_the_same_way(
    db: Database, sales_channel: SalesChannel, status: OrderStatus
) -> None:
    bought = await _buy(db, sales_channel=sales_channel, status=status)

    async with db.transaction() as s:
        rma = await _start(
            s, bought.ana, bought.order, [ReturnLine(1, 1)], IN_STORE, store_code="LIS-01"
        )

    assert rma.store is not None
    assert rma.store.code == "LIS-01"
    assert rma.refund_minor == 5990


async def test_someone_elses_order_or_a_missing_one(db: Database, bought: Bought) -> None:
    async with db.transaction() as s:
        with pytest.raises(NotYourOrder):
            await _start(s, bought.bob, bought.order, [ReturnLine(1, 1)])
        with pytest.raises(OrderNotFound):
            await _start(s, bought.ana, "ES-0000", [ReturnLine(1, 1)])
    assert await _return_count(db) == 0


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (OrderStatus.SHIPPED, NotReturnableReason.NOT_RECEIVED),
        (OrderStatus.PENDING, NotReturnableReason.NOT_RECEIVED),
        (OrderStatus.READY_FOR_PICKUP, NotReturnableReason.NOT_RECEIVED),
        (OrderStatus.CANCELLED, NotReturnableReason.CANCELLED),
    ],
)
async def test_only_received_orders_can_be_returned(
    db: Database, status: OrderStatus, reason: NotReturnableReason
) -> None:
    bought = await _buy(db, status=status)
    async with db.transaction() as s:
        with pytest.raises(NotReturnable) as raised:
            await _start(s, bought.ana, bought.order, [ReturnLine(1, 1)])
    assert raised.value.reason == reason


async def test_the_window_closes_thirty_days_after_receipt(db: Database, bought: Bought) -> None:
    last_moment = T0 - timedelta(days=8) + timedelta(days=30)  # received 8 days before T0
    line = [ReturnLine(2, 1)]

    async with db.transaction() as s:
        with pytest.raises(NotReturnable) as raised:
            await _start(s, bought.ana, bought.order, line, now=last_moment + timedelta(seconds=1))
        with pytest.raises(NotReturnable):
            await _start(s, bought.ana, bought.order, line, window=timedelta(days=7))
        on_time = await _start(s, bought.ana, bought.order, line, now=last_moment)

    assert raised.value.reason == NotReturnableReason.WINDOW_CLOSED
    assert raised.value.deadline == last_moment
    assert on_time.status == ReturnStatus.REQUESTED


@pytest.mark.parametrize(
    ("lines", "problem", "line_no"),
    [
        ([], InvalidReturnProblem.EMPTY, None),
        ([ReturnLine(3, 1)], InvalidReturnProblem.UNKNOWN_LINE, 3),
        ([ReturnLine(1, 0)], InvalidReturnProblem.BAD_QUANTITY, 1),
        ([ReturnLine(2, -1)], InvalidReturnProblem.BAD_QUANTITY, 2),
        ([ReturnLine(1, 1), ReturnLine(1, 1)], InvalidReturnProblem.DUPLICATE_LINE, 1),
    ],
)
async def test_malformed_lines(
    db: Database,
    bought: Bought,
    lines: list[ReturnLine],
    problem: InvalidReturnProblem,
    line_no: int | None,
) -> None:
    async with db.transaction() as s:
        with pytest.raises(InvalidReturn) as raised:
            await _start(s, bought.ana, bought.order, lines)
    assert (raised.value.problem, raised.value.line_no) == (problem, line_no)
    assert await _return_count(db) == 0


async def test_store_rules_of_each_method(db: Database, bought: Bought) -> None:
    line = [ReturnLine(1, 1)]
    async with db.transaction() as s:
        with pytest.raises(InvalidReturn) as missing:
            await _start(s, bought.ana, bought.order, line, IN_STORE)
        with pytest.raises(InvalidReturn) as extra:
            await _start(s, bought.ana, bought.order, line, COURIER, store_code="MAD-01")
        for code in ["NOWHERE", "OLD-01"]:
            with pytest.raises(UnknownStore):
                await _start(s, bought.ana, bought.order, line, IN_STORE, store_code=code)
    assert missing.value.problem == InvalidReturnProblem.STORE_REQUIRED
    assert extra.value.problem == InvalidReturnProblem.STORE_NOT_ALLOWED
    assert await _return_count(db) == 0


async def test_partial_returns_until_nothing_is_left(db: Database, bought: Bought) -> None:
    async with db.transaction() as s:
        first = await _start(s, bought.ana, bought.order, [ReturnLine(1, 1)])
    async with db.transaction() as s:
        with pytest.raises(ExceedsReturnable) as raised:
            await _start(s, bought.ana, bought.order, [ReturnLine(2, 1), ReturnLine(1, 2)])
    async with db.transaction() as s:
        second = await _start(s, bought.ana, bought.order, [ReturnLine(1, 1)])
    async with db.transaction() as s:
        with pytest.raises(ExceedsReturnable) as exhausted:
            await _start(s, bought.ana, bought.order, [ReturnLine(1, 1)])

    error = raised.value
    assert (error.line_no, error.requested, error.returnable) == (1, 2, 1)
    assert exhausted.value.returnable == 0
    assert first.rma_code != second.rma_code
    assert (first.refund_minor, second.refund_minor) == (5990, 5990)
    assert await _return_count(db) == 2


async def test_a_rejected_return_frees_its_quantities(db: Database, bought: Bought) -> None:
    everything = [ReturnLine(1, 2), ReturnLine(2, 1)]
    async with db.transaction() as s:
        rma = await _start(s, bought.ana, bought.order, everything)
    async with db.transaction() as s:
        await receive_return(s, rma.rma_code)
        rejected = await reject_return(s, rma.rma_code)
    assert rejected.status == ReturnStatus.REJECTED

    async with db.transaction() as s:
        again = await _start(s, bought.ana, bought.order, everything)
    assert again.refund_minor == rma.refund_minor


async def test_a_return_moves_from_requested_to_received_to_refunded(
    db: Database, bought: Bought
) -> None:
    async with db.transaction() as s:
        rma = await _start(s, bought.ana, bought.order, [ReturnLine(2, 1)])

    async with db.transaction() as s:
        with pytest.raises(IllegalTransition) as early:
            await refund_return(s, rma.rma_code)
    async with db.transaction() as s:
        received = await receive_return(s, rma.rma_code.lower(), now=T0 + timedelta(days=2))
        assert received.status == ReturnStatus.RECEIVED
        assert received.updated_at == T0 + timedelta(days=2)
        refunded = await refund_return(s, rma.rma_code.removeprefix("RMA-"))
        assert refunded.status == ReturnStatus.REFUNDED
    async with db.transaction() as s:
        with pytest.raises(IllegalTransition) as late:
            await reject_return(s, rma.rma_code)
        with pytest.raises(ReturnNotFound):
            await receive_return(s, "RMA-ZZZZZZ")

    assert (early.value.current, early.value.target) == ("requested", "refunded")
    assert (late.value.current, late.value.target) == ("refunded", "rejected")
    # A refunded return keeps its units: the line cannot be returned twice.
    async with db.transaction() as s:
        with pytest.raises(ExceedsReturnable):
            await _start(s, bought.ana, bought.order, [ReturnLine(2, 1)])


async def test_two_concurrent_full_returns_only_one_gets_through(
    db: Database, pool: Database, bought: Bought
) -> None:
    everything = [ReturnLine(1, 2), ReturnLine(2, 1)]

    async def attempt() -> Return | ExceedsReturnable:
        try:
            async with pool.transaction() as s:
                return await _start(s, bought.ana, bought.order, everything)
        except ExceedsReturnable as exc:
            return exc

    results = await asyncio.gather(attempt(), attempt())

    assert sorted(type(r).__name__ for r in results) == ["ExceedsReturnable", "Return"]
    assert await _return_count(db) == 1


async def test_concurrent_moves_of_one_return_happen_once(
    db: Database, pool: Database, bought: Bought
) -> None:
    async with db.transaction() as s:
        rma = await _start(s, bought.ana, bought.order, [ReturnLine(2, 1)])

    async def receive() -> bool:
        try:
            async with pool.transaction() as s:
                await receive_return(s, rma.rma_code)
        except IllegalTransition:
            return False
        return True

    assert sorted(await asyncio.gather(receive(), receive(), receive())) == [False, False, True]


async def test_a_clashing_rma_code_is_drawn_again(
    db: Database, bought: Bought, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db.transaction() as s:
        first = await _start(s, bought.ana, bought.order, [ReturnLine(1, 1)])
    codes = iter([first.rma_code.removeprefix("RMA-"), "ZZZ222"])
    monkeypatch.setattr(crm.services.codes, "new_code", lambda prefix="": prefix + next(codes))

    async with db.transaction() as s:
        second = await _start(s, bought.ana, bought.order, [ReturnLine(1, 1)])

    assert second.rma_code == "RMA-ZZZ222"
    assert [i.quantity for i in second.items] == [1]
    assert await _return_count(db) == 2
