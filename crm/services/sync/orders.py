"""Orders from the shop's systems, with lines, receipt and status history, and one read back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm.errors import OrderNotFound
from crm.models import (
    RECEIVED_STATUSES,
    Customer,
    Order,
    OrderItem,
    OrderStatusChange,
    Receipt,
    ReturnItem,
    utcnow,
)
from crm.records import (
    BatchResult,
    OrderLineRecord,
    OrderRecord,
    OrderView,
    ReceiptRecord,
    StatusChangeView,
    UpsertResult,
)
from crm.services.sync.batch import (
    Problem,
    assign,
    count,
    duplicates,
    one_record,
    reject_if,
    store_ids,
    unknown,
    variant_ids,
)

_ORDER_FIELDS = (
    "number",
    "sales_channel",
    "fulfilment",
    "currency",
    "total_minor",
    "carrier",
    "tracking_number",
    "tracking_url",
    "placed_at",
    "promised_at",
)


@dataclass(frozen=True)
class _OrderRefs:
    """The ids behind the codes an order batch names, loaded once for the batch."""

    customers: dict[str, int]
    stores: dict[str, int]
    variants: dict[str, int]


async def _order_refs(
    session: AsyncSession, records: Sequence[OrderRecord]
) -> tuple[_OrderRefs, list[Problem]]:
    customer_ids = {r.customer_external_id for r in records}
    rows = await session.execute(
        select(Customer.external_id, Customer.id).where(Customer.external_id.in_(customer_ids))
    )
    customers = {external_id: id_ for external_id, id_ in rows if external_id}
    codes = [code for r in records for code in (r.store_code, r.pickup_store_code) if code]
    codes += [r.receipt.store_code for r in records if r.receipt is not None]
    stores = await store_ids(session, codes)
    variants = await variant_ids(session, (line.sku for r in records for line in r.items))

    problems = []
    for i, r in enumerate(records):
        if r.customer_external_id not in customers:
            problems.append(
                unknown((i, "customer_external_id"), "customer", r.customer_external_id)
            )
        for field, code in (
            ("store_code", r.store_code),
            ("pickup_store_code", r.pickup_store_code),
        ):
            if code is not None and code not in stores:
                problems.append(unknown((i, field), "store with code", code))
        if r.receipt is not None and r.receipt.store_code not in stores:
            problems.append(
                unknown((i, "receipt", "store_code"), "store with code", r.receipt.store_code)
            )
        for j, line in enumerate(r.items):
            if line.sku not in variants:
                problems.append(unknown((i, "items", j, "sku"), "variant with sku", line.sku))
    return _OrderRefs(customers, stores, variants), problems


async def _order_clashes(
    session: AsyncSession, records: Sequence[OrderRecord], existing: dict[str, Order]
) -> list[Problem]:
    """Numbers taken by other orders, and lines a return names that the shop dropped."""
    problems = []
    rows = await session.execute(
        select(Order.number, Order.external_id).where(Order.number.in_([r.number for r in records]))
    )
    number_owners = dict(rows.all())
    receipt_numbers = [r.receipt.number for r in records if r.receipt is not None]
    receipt_owners: dict[str, str] = {}
    if receipt_numbers:
        rows = await session.execute(
            select(Receipt.number, Order.external_id)
            .join(Order, Receipt.order_id == Order.id)
            .where(Receipt.number.in_(receipt_numbers))
        )
        receipt_owners = dict(rows.all())

    dropped: dict[int, tuple[int, int]] = {}  # order item id -> (record index, line_no)
    for i, r in enumerate(records):
        owner = number_owners.get(r.number, r.external_id)
        if owner != r.external_id:
            problems.append(
                Problem((i, "number"), f"number {r.number!r} is order {owner!r}", "conflict")
            )
        if r.receipt is not None:
            owner = receipt_owners.get(r.receipt.number, r.external_id)
            if owner != r.external_id:
                problems.append(
                    Problem(
                        (i, "receipt", "number"),
                        f"receipt {r.receipt.number!r} belongs to order {owner!r}",
                        "conflict",
                    )
                )
        order = existing.get(r.external_id)
        if order is not None:
            sent = {line.line_no for line in r.items}
            for item in order.items:
                if item.line_no not in sent:
                    dropped[item.id] = (i, item.line_no)
    if dropped:
        returned = await session.scalars(
            select(ReturnItem.order_item_id).where(ReturnItem.order_item_id.in_(dropped))
        )
        for item_id in set(returned):
            i, line_no = dropped[item_id]
            problems.append(
                Problem((i, "items"), f"line {line_no} is being returned: send it", "conflict")
            )
    return problems


def _set_lines(order: Order, lines: Sequence[OrderLineRecord], variants: dict[str, int]) -> None:
    """Match lines by line_no, so a return keeps pointing at the line it names."""
    current = {item.line_no: item for item in order.items}
    for line in lines:
        item = current.pop(line.line_no, None)
        if item is None:
            item = OrderItem(line_no=line.line_no)
            order.items.append(item)
        item.variant_id = variants[line.sku]
        item.quantity = line.quantity
        item.unit_price_minor = line.unit_price_minor
    for stale in current.values():
        order.items.remove(stale)


def _set_receipt(order: Order, record: ReceiptRecord, store_id: int) -> None:
    receipt = order.receipt
    if receipt is None:
        receipt = order.receipt = Receipt(number=record.number)
    receipt.number = record.number
    receipt.store_id = store_id
    receipt.till = record.till
    receipt.payment_method = record.payment_method
    receipt.issued_at = record.issued_at
    receipt.total_minor = record.total_minor
    receipt.tax_minor = record.tax_minor
    receipt.currency = order.currency


def _set_status(
    session: AsyncSession, order: Order, record: OrderRecord, created: bool, now: datetime
) -> None:
    """Record a status change in the history; the same status again records nothing.

    A new order's status dates from when it was placed unless told otherwise, so
    loading last year's delivered orders does not open their return windows today.
    """
    if not created and order.status == record.status:
        return
    at = record.status_changed_at or (record.placed_at if created else now)
    change = OrderStatusChange(status=record.status, changed_at=at)
    if created:
        order.history = [change]
    else:
        change.order_id = order.id
        session.add(change)
    order.status = record.status
    if order.received_at is None and record.status in RECEIVED_STATUSES:
        order.received_at = at


async def _upsert_orders(
    session: AsyncSession, records: Sequence[OrderRecord], now: datetime
) -> list[tuple[Order, bool]]:
    if not records:
        return []
    problems = duplicates(((i, "external_id"), r.external_id) for i, r in enumerate(records))
    problems += duplicates(((i, "number"), r.number) for i, r in enumerate(records))
    problems += duplicates(
        ((i, "receipt", "number"), r.receipt.number)
        for i, r in enumerate(records)
        if r.receipt is not None
    )
    refs, unknown = await _order_refs(session, records)
    problems += unknown
    existing = {
        o.external_id: o
        for o in await session.scalars(
            select(Order)
            .where(Order.external_id.in_([r.external_id for r in records]))
            .options(selectinload(Order.items), selectinload(Order.receipt))
        )
    }
    problems += await _order_clashes(session, records, existing)
    reject_if(problems)

    outcomes: list[tuple[Order, bool]] = []
    for record in records:
        order = existing.get(record.external_id)
        created = order is None
        if order is None:
            order = Order(external_id=record.external_id, items=[], receipt=None)
            session.add(order)
        assign(order, record, _ORDER_FIELDS, created=created)
        order.customer_id = refs.customers[record.customer_external_id]
        if created or "store_code" in record.model_fields_set:
            order.store_id = refs.stores[record.store_code] if record.store_code else None
        if created or "pickup_store_code" in record.model_fields_set:
            code = record.pickup_store_code
            order.pickup_store_id = refs.stores[code] if code else None
        if record.received_at is not None:
            order.received_at = record.received_at
        _set_status(session, order, record, created, now)
        _set_lines(order, record.items, refs.variants)
        if record.receipt is not None:
            _set_receipt(order, record.receipt, refs.stores[record.receipt.store_code])
        outcomes.append((order, created))
    await session.flush()
    return outcomes


async def upsert_orders(
    session: AsyncSession, records: Sequence[OrderRecord], *, now: datetime | None = None
) -> BatchResult:
    return count(await _upsert_orders(session, records, now or utcnow()))


async def upsert_order(
    session: AsyncSession, record: OrderRecord, *, now: datetime | None = None
) -> UpsertResult:
    with one_record():
        [(order, created)] = await _upsert_orders(session, [record], now or utcnow())
    return UpsertResult(id=order.id, external_id=record.external_id, created=created)


async def get_order(session: AsyncSession, external_id: str) -> OrderView:
    order = await session.scalar(
        select(Order)
        .where(Order.external_id == external_id)
        .options(
            selectinload(Order.items).selectinload(OrderItem.variant),
            selectinload(Order.history),
            selectinload(Order.receipt).selectinload(Receipt.store),
            selectinload(Order.store),
            selectinload(Order.pickup_store),
        )
    )
    if order is None:
        raise OrderNotFound(f"no order with external_id {external_id!r}")
    customer_external_id = await session.scalar(
        select(Customer.external_id).where(Customer.id == order.customer_id)
    )
    receipt = order.receipt
    return OrderView(
        id=order.id,
        external_id=order.external_id,
        number=order.number,
        customer_external_id=customer_external_id,
        sales_channel=order.sales_channel,
        fulfilment=order.fulfilment,
        status=order.status,
        store_code=order.store.code if order.store else None,
        pickup_store_code=order.pickup_store.code if order.pickup_store else None,
        currency=order.currency,
        total_minor=order.total_minor,
        carrier=order.carrier,
        tracking_number=order.tracking_number,
        tracking_url=order.tracking_url,
        placed_at=order.placed_at,
        promised_at=order.promised_at,
        received_at=order.received_at,
        items=[
            OrderLineRecord(
                line_no=item.line_no,
                sku=item.variant.sku,
                quantity=item.quantity,
                unit_price_minor=item.unit_price_minor,
            )
            for item in order.items
        ],
        receipt=None
        if receipt is None
        else ReceiptRecord(
            number=receipt.number,
            store_code=receipt.store.code,
            till=receipt.till,
            payment_method=receipt.payment_method,
            issued_at=receipt.issued_at,
            total_minor=receipt.total_minor,
            tax_minor=receipt.tax_minor,
        ),
        history=[StatusChangeView(status=h.status, changed_at=h.changed_at) for h in order.history],
        updated_at=order.updated_at,
    )
