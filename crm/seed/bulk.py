"""Adds many customers with their orders, batch by batch, for benchmarks."""

from __future__ import annotations

import random
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from crm.db import Database
from crm.models import (
    Base,
    Customer,
    FunnelStage,
    Order,
    OrderStatus,
    Product,
    ProductPrice,
    ProductVariant,
    Store,
)
from crm.seed import data
from crm.seed.demo import has_business_data, seed_demo
from crm.seed.planning import (
    CUSTOMER_ID_DIGITS,
    CUSTOMER_ID_PREFIX,
    ORDER_ID_DIGITS,
    ORDER_ID_PREFIX,
    OrderDrawer,
    OrderPlan,
    StoreRef,
    Weighted,
    customer_external_id,
    order_external_id,
    order_number,
    pick_from,
    receipt_number,
)
from crm.seed.writers import Method, Row, RowWriter, allocate_ids, writer_for

BATCH_SIZE = 5_000
# Used only when the database has a catalogue but no order to date the history from.
FALLBACK_ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
PHONE_CAPACITY = 10**data.BULK_PHONE_DIGITS
_TABLES = Base.metadata.tables

CUSTOMER_COLUMNS = (
    "id", "external_id", "name", "email", "phone", "language", "timezone", "city", "country",
    "tags", "attributes", "funnel_stage", "loyalty_points", "created_at", "updated_at",
)  # fmt: skip
ORDER_COLUMNS = (
    "id", "external_id", "number", "customer_id", "sales_channel", "fulfilment", "status",
    "store_id", "pickup_store_id", "currency", "total_minor", "carrier", "tracking_number",
    "tracking_url", "placed_at", "promised_at", "received_at", "updated_at",
)  # fmt: skip
ITEM_COLUMNS = ("id", "order_id", "line_no", "variant_id", "quantity", "unit_price_minor")
CHANGE_COLUMNS = ("id", "order_id", "status", "changed_at", "note")
RECEIPT_COLUMNS = (
    "id", "order_id", "number", "store_id", "till", "payment_method", "issued_at",
    "total_minor", "tax_minor", "currency",
)  # fmt: skip


@dataclass(frozen=True)
class BulkSummary:
    """What one seed_bulk call added, and how long it took."""

    customers: int
    orders: int
    order_items: int
    status_changes: int
    receipts: int
    seconds: float
    method: str  # "copy" or "insert"
    # Seconds spent writing each table (the rest of `seconds` is drawing the data).
    write_seconds: Mapping[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.customers + self.orders + self.order_items + self.status_changes + self.receipts

    def describe(self) -> str:
        rate = self.rows / self.seconds if self.seconds else 0.0
        return (
            f"{self.customers} customers, {self.orders} orders, {self.order_items} items, "
            f"{self.status_changes} status changes, {self.receipts} receipts "
            f"in {self.seconds:.1f} s ({rate:,.0f} rows/s, {self.method})"
        )

    def rows_by_table(self) -> dict[str, int]:
        return {
            "customers": self.customers,
            "orders": self.orders,
            "order_items": self.order_items,
            "order_status_changes": self.status_changes,
            "receipts": self.receipts,
        }


@dataclass(frozen=True, slots=True)
class _DrawnCustomer:
    number: int
    values: tuple[Any, ...]  # CUSTOMER_COLUMNS without the id
    orders: tuple[OrderPlan, ...]


@dataclass
class _Start:
    """Where this run starts: the catalogue to sell and the numbers to continue."""

    drawer: OrderDrawer
    countries: Weighted[str]
    stores_by_country: dict[str, list[StoreRef]]
    next_customer: int
    next_order: int
    anchor: datetime


async def seed_bulk(
    db: Database,
    customers: int,
    *,
    progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH_SIZE,
    method: Method | Literal["auto"] = "auto",
) -> BulkSummary:
    """Add `customers` customers with about three orders each, committing per batch.

    The data depends only on what the database holds: a second run continues the
    numbering (customers, orders, phones) and adds as many again.
    """
    if customers < 0 or batch_size < 1:
        raise ValueError("customers must be >= 0 and batch_size >= 1")
    started = time.perf_counter()
    async with db.transaction() as session:
        empty = not await has_business_data(session)
    if empty:
        await seed_demo(db)
    writer = writer_for(db.dialect, method)
    async with db.engine.connect() as conn:
        start = await _load_start(conn)
    if start.next_customer + customers > PHONE_CAPACITY:
        raise ValueError(f"bulk phones run out after customer number {PHONE_CAPACITY - 1}")

    totals = dict.fromkeys(("orders", "order_items", "status_changes", "receipts"), 0)
    write_seconds: dict[str, float] = {}
    done = 0
    while done < customers:
        count = min(batch_size, customers - done)
        drawn = _draw_batch(start, start.next_customer + done, count)
        async with db.engine.begin() as conn:
            written = await _write_batch(conn, writer, drawn, start, write_seconds)
        start.next_order += written["orders"]
        for key, value in written.items():
            totals[key] += value
        done += count
        if progress is not None:
            progress(done)
    return BulkSummary(
        customers=customers,
        orders=totals["orders"],
        order_items=totals["order_items"],
        status_changes=totals["status_changes"],
        receipts=totals["receipts"],
        seconds=time.perf_counter() - started,
        method=writer.method,
        write_seconds=write_seconds,
    )


async def _load_start(conn: AsyncConnection) -> _Start:
    stores = [
        StoreRef(s.id, s.code, s.country, s.city, s.currency, s.timezone)
        for s in (
            await conn.execute(select(Store).where(Store.active.is_(True)).order_by(Store.code))
        ).all()
        if s.country in data.MARKETS
    ]
    sellable: dict[str, list[tuple[int, int]]] = {}
    prices = await conn.execute(
        select(ProductVariant.id, ProductPrice.currency, ProductPrice.amount_minor)
        .join(Product, Product.id == ProductVariant.product_id)
        .join(ProductPrice, ProductPrice.product_id == Product.id)
        .where(Product.active.is_(True))
        .order_by(ProductVariant.sku, ProductPrice.currency)
    )
    for variant_id, currency, amount in prices:
        sellable.setdefault(currency, []).append((variant_id, amount))
    stores = [s for s in stores if s.currency in sellable]
    if not stores:
        raise ValueError("seed_bulk needs active stores and products priced in their currency")
    stores_by_country: dict[str, list[StoreRef]] = {}
    for store in stores:
        stores_by_country.setdefault(store.country, []).append(store)

    last_customer = await _last_number(
        conn, Customer.external_id, CUSTOMER_ID_PREFIX, CUSTOMER_ID_DIGITS
    )
    last_order = await _last_number(conn, Order.external_id, ORDER_ID_PREFIX, ORDER_ID_DIGITS)
    anchor = await conn.scalar(select(func.max(Order.placed_at)))
    return _Start(
        drawer=OrderDrawer(stores, dict(sellable)),
        countries=Weighted(
            (country, data.BULK_COUNTRY_WEIGHTS.get(country, 1)) for country in stores_by_country
        ),
        stores_by_country=stores_by_country,
        next_customer=last_customer + 1,
        next_order=last_order + 1,
        anchor=anchor or FALLBACK_ANCHOR,
    )


async def _last_number(
    conn: AsyncConnection,
    column: InstrumentedAttribute[str | None] | InstrumentedAttribute[str],
    prefix: str,
    digits: int,
) -> int:
    """The highest number among ids written as prefix + zero-padded digits, or 0."""
    # The shop's own systems may use the same prefix for other ids ("CUS-A123..."):
    # the range keeps those out and the digit check catches the odd one left. Read
    # newest first through the unique index, so it stays fast with millions of rows.
    candidates = await conn.scalars(
        select(column)
        .where(
            column.like(prefix + "_" * digits),
            column.between(prefix + "0" * digits, prefix + "9" * digits),
        )
        .order_by(column.desc())
        .limit(100)
    )
    for external_id in candidates:
        if external_id is not None and external_id[len(prefix) :].isdigit():
            return int(external_id[len(prefix) :])
    return 0


@lru_cache(maxsize=4096)
def _email_part(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


_NAME_POOLS = {country: Weighted(pools) for country, pools in data.COUNTRY_NAME_POOLS.items()}
_ORDER_COUNTS = Weighted(data.ORDERS_PER_CUSTOMER_WEIGHTS)
_TAGS = Weighted(data.BULK_TAG_WEIGHTS)
_ENGLISH_ONLY = Weighted((("en", 1),))


def _draw_batch(start: _Start, first: int, count: int) -> list[_DrawnCustomer]:
    """Customers `first` .. `first + count - 1`, with their orders, drawn without I/O."""
    rng = random.Random()
    anchor = start.anchor
    window = data.BULK_HISTORY_DAYS * 86_400.0
    lapsed_before = anchor - timedelta(days=data.LAPSED_AFTER_DAYS)
    drawer = start.drawer
    drawn: list[_DrawnCustomer] = []
    for number in range(first, first + count):
        # Seeded per customer (about 4 µs): a customer's data follows from its number
        # and the catalogue, whatever the batch size or the runs before.
        rng.seed(f"omnihub-bulk:{number}")
        country = start.countries.pick(rng)
        home = pick_from(rng, start.stores_by_country[country])
        pool = data.NAME_POOLS[_NAME_POOLS.get(country, _ENGLISH_ONLY).pick(rng)]
        given = pick_from(rng, pool.first_names)
        surnames = [pick_from(rng, pool.surnames) for _ in range(pool.surname_count)]
        name = " ".join((given, *surnames))
        email = (
            f"{_email_part(given)}.{_email_part(surnames[0])}{number}"
            f"@{pick_from(rng, data.EMAIL_DOMAINS)}"
        )
        prefix = data.BULK_PHONE_PREFIX_BY_CITY.get(
            home.city, data.BULK_PHONE_PREFIX_BY_COUNTRY.get(country)
        )
        phone = f"{prefix}{number:0{data.BULK_PHONE_DIGITS}d}" if prefix else None

        offsets = sorted(rng.random() * window for _ in range(_ORDER_COUNTS.pick(rng)))
        orders = tuple(
            drawer.draw(rng, home, anchor - timedelta(seconds=offset), anchor)
            for offset in reversed(offsets)
        )
        if orders[-1].placed_at < lapsed_before:
            stage = FunnelStage.LAPSED
        else:
            stage = FunnelStage.REPEAT if len(orders) > 1 else FunnelStage.CUSTOMER
        spent = sum(o.total_minor for o in orders if o.status is not OrderStatus.CANCELLED)
        created_at = orders[0].placed_at - timedelta(days=90 * rng.random())
        drawn.append(
            _DrawnCustomer(
                number,
                (
                    customer_external_id(number),
                    name,
                    email,
                    phone,
                    pool.language,
                    home.timezone,
                    home.city,
                    country,
                    list(_TAGS.pick(rng)),
                    {"locale": pool.locale},
                    stage,
                    spent // data.MARKETS[country].minor_per_point,
                    created_at,
                    max(o.updated_at for o in orders),
                ),
                orders,
            )
        )
    return drawn


async def _write_batch(
    conn: AsyncConnection,
    writer: RowWriter,
    drawn: list[_DrawnCustomer],
    start: _Start,
    write_seconds: dict[str, float],
) -> dict[str, int]:
    orders = [plan for customer in drawn for plan in customer.orders]
    n_items = sum(len(plan.lines) for plan in orders)
    n_changes = sum(len(plan.steps) for plan in orders)
    n_receipts = sum(1 for plan in orders if plan.till is not None)

    customer_ids = iter(await allocate_ids(conn, _TABLES["customers"], len(drawn)))
    order_ids = iter(await allocate_ids(conn, _TABLES["orders"], len(orders)))
    item_ids = iter(await allocate_ids(conn, _TABLES["order_items"], n_items))
    change_ids = iter(await allocate_ids(conn, _TABLES["order_status_changes"], n_changes))
    receipt_ids = iter(await allocate_ids(conn, _TABLES["receipts"], n_receipts))

    customer_rows: list[Row] = []
    order_rows: list[Row] = []
    item_rows: list[Row] = []
    change_rows: list[Row] = []
    receipt_rows: list[Row] = []
    counter = start.next_order
    for customer in drawn:
        customer_id = next(customer_ids)
        customer_rows.append((customer_id, *customer.values))
        for plan in customer.orders:
            order_id = next(order_ids)
            total = plan.total_minor
            order_rows.append(
                (
                    order_id,
                    order_external_id(counter),
                    order_number(plan.market, counter),
                    customer_id,
                    plan.sales_channel,
                    plan.fulfilment,
                    plan.status,
                    plan.store.id if plan.store else None,
                    plan.pickup_store.id if plan.pickup_store else None,
                    plan.currency,
                    total,
                    plan.carrier.name if plan.carrier else None,
                    plan.tracking_number,
                    plan.tracking_url,
                    plan.placed_at,
                    plan.promised_at,
                    plan.received_at,
                    plan.updated_at,
                )
            )
            for line_no, line in enumerate(plan.lines, start=1):
                item_rows.append(
                    (
                        next(item_ids),
                        order_id,
                        line_no,
                        line.variant_id,
                        line.quantity,
                        line.unit_price_minor,
                    )
                )
            for status, at in plan.steps:
                change_rows.append((next(change_ids), order_id, status, at, None))
            if plan.store is not None and plan.till is not None:
                receipt_rows.append(
                    (
                        next(receipt_ids),
                        order_id,
                        receipt_number(plan.store.code, plan.till, counter),
                        plan.store.id,
                        plan.till,
                        plan.payment_method,
                        plan.placed_at,
                        total,
                        plan.receipt_tax_minor(),
                        plan.currency,
                    )
                )
            counter += 1

    for table, columns, rows in (
        (_TABLES["customers"], CUSTOMER_COLUMNS, customer_rows),
        (_TABLES["orders"], ORDER_COLUMNS, order_rows),
        (_TABLES["order_items"], ITEM_COLUMNS, item_rows),
        (_TABLES["order_status_changes"], CHANGE_COLUMNS, change_rows),
        (_TABLES["receipts"], RECEIPT_COLUMNS, receipt_rows),
    ):
        began = time.perf_counter()
        await writer.write(conn, table, columns, rows)
        write_seconds[table.name] = write_seconds.get(table.name, 0.0) + (
            time.perf_counter() - began
        )
    return {
        "orders": len(order_rows),
        "order_items": len(item_rows),
        "status_changes": len(change_rows),
        "receipts": len(receipt_rows),
    }
