"""Upserts from the shop's systems (customers, products, stores, stock, orders) and reads back.

Each batch service checks every record before it writes anything: duplicates inside
the batch, references to unknown customers, stores and SKUs, clashes with other rows.
All problems are reported together as RecordsRejected, and the caller's transaction
rolls back. Existing rows are loaded with one query per kind for the whole batch.

On update, fields the shop omitted keep their value (different systems own different
fields: the ERP the loyalty points, the web shop the email); a field sent as null is
cleared. Collections follow their own rules, documented on each record.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm.errors import DomainError, OrderNotFound, UnknownCustomer, UnknownProduct, UnknownStore
from crm.models import (
    RECEIVED_STATUSES,
    Channel,
    Consent,
    ConsentPurpose,
    Customer,
    Inventory,
    Language,
    Order,
    OrderItem,
    OrderStatusChange,
    Product,
    ProductPrice,
    ProductVariant,
    Receipt,
    ReturnItem,
    Store,
    StoreHours,
    utcnow,
)
from crm.records import (
    BatchResult,
    ConsentRecord,
    CustomerRecord,
    CustomerView,
    InventoryLevel,
    InventoryResult,
    OrderLineRecord,
    OrderRecord,
    OrderView,
    OverReserved,
    ProductRecord,
    ProductView,
    ReceiptRecord,
    StatusChangeView,
    StoreHoursRecord,
    StoreRecord,
    StoreUpsertResult,
    StoreView,
    UpsertResult,
    VariantRecord,
)

Loc = tuple[str | int, ...]

# Clocks of the shop's systems drift; a consent dated a little ahead is still accepted.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of one record; loc starts at the record's index."""

    loc: Loc
    msg: str
    type: str


class RecordsRejected(DomainError):
    """Records name unknown things or clash with existing ones; nothing was written."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{list(p.loc)}: {p.msg}" for p in self.problems))


def _reject_if(problems: Sequence[Problem]) -> None:
    if problems:
        raise RecordsRejected(problems)


@contextmanager
def _one_record() -> Iterator[None]:
    """A single-record call reports problems at the record, not at index 0 of a batch."""
    try:
        yield
    except RecordsRejected as exc:
        raise RecordsRejected([replace(p, loc=p.loc[1:]) for p in exc.problems]) from None


def _duplicates(keys: Iterable[tuple[Loc, Hashable]]) -> list[Problem]:
    first: dict[Hashable, Loc] = {}
    problems = []
    for loc, key in keys:
        if key in first:
            problems.append(
                Problem(loc, f"repeats record {first[key][0]} of this batch", "duplicate")
            )
        else:
            first[key] = loc
    return problems


def _unknown(loc: Loc, what: str, key: str) -> Problem:
    return Problem(loc, f"no {what} {key!r}: send it first", "unknown_reference")


def _assign(row: object, record: BaseModel, fields: Iterable[str], *, created: bool) -> None:
    """Copy fields from the record: all of them to a new row, only those sent to an old one."""
    sent = record.model_fields_set
    for name in fields:
        if created or name in sent:
            setattr(row, name, getattr(record, name))


def _count(outcomes: Sequence[tuple[object, bool]]) -> BatchResult:
    created = sum(1 for _, was_created in outcomes if was_created)
    return BatchResult(created=created, updated=len(outcomes) - created)


# ---------------------------------------------------------------- customers

_CUSTOMER_FIELDS = (
    "name",
    "email",
    "phone",
    "language",
    "timezone",
    "city",
    "country",
    "tags",
    "attributes",
    "funnel_stage",
    "loyalty_points",
)

ConsentKey = tuple[int, Channel, ConsentPurpose]  # customer id, channel, purpose


@dataclass
class _ConsentState:
    granted: bool
    recorded_at: datetime


async def _consent_states(
    session: AsyncSession, customer_ids: Sequence[int]
) -> dict[ConsentKey, _ConsentState]:
    """The newest decision per customer, channel and purpose."""
    states: dict[ConsentKey, _ConsentState] = {}
    if not customer_ids:
        return states
    rows = await session.execute(
        select(
            Consent.customer_id,
            Consent.channel,
            Consent.purpose,
            Consent.granted,
            Consent.recorded_at,
        )
        .where(Consent.customer_id.in_(customer_ids))
        .order_by(Consent.recorded_at, Consent.id)
    )
    for customer_id, channel, purpose, granted, recorded_at in rows:
        states[(customer_id, channel, purpose)] = _ConsentState(granted, recorded_at)
    return states


def _consent_changes(
    customer_id: int,
    consents: Sequence[ConsentRecord],
    states: dict[ConsentKey, _ConsentState],
) -> Iterator[Consent]:
    """The decisions that change the current state, in the order they were taken.

    A decision older than the one the hub holds changes nothing: a nightly export
    still saying "granted" must not undo a STOP the customer sent this morning.
    """
    for consent in sorted(consents, key=lambda c: c.recorded_at):
        key = (customer_id, consent.channel, consent.purpose)
        state = states.get(key)
        if state is not None and (
            state.granted == consent.granted or consent.recorded_at <= state.recorded_at
        ):
            continue
        states[key] = _ConsentState(consent.granted, consent.recorded_at)
        yield Consent(
            customer_id=customer_id,
            channel=consent.channel,
            purpose=consent.purpose,
            granted=consent.granted,
            source=consent.source,
            recorded_at=consent.recorded_at,
        )


async def _upsert_customers(
    session: AsyncSession, records: Sequence[CustomerRecord], now: datetime
) -> list[tuple[Customer, bool]]:
    if not records:
        return []
    problems = _duplicates(((i, "external_id"), r.external_id) for i, r in enumerate(records))
    problems += [
        Problem((i, "consents", j, "recorded_at"), "is in the future", "future_datetime")
        for i, r in enumerate(records)
        for j, c in enumerate(r.consents)
        if c.recorded_at > now + CLOCK_SKEW
    ]
    _reject_if(problems)

    ids = [r.external_id for r in records]
    existing = {
        c.external_id: c
        for c in await session.scalars(select(Customer).where(Customer.external_id.in_(ids)))
    }
    outcomes: list[tuple[Customer, bool]] = []
    for record in records:
        customer = existing.get(record.external_id)
        created = customer is None
        if customer is None:
            customer = Customer(external_id=record.external_id)
            session.add(customer)
        _assign(customer, record, _CUSTOMER_FIELDS, created=created)
        outcomes.append((customer, created))
    await session.flush()  # new customers get their ids, which consents refer to

    with_consents = [(c, r) for (c, _), r in zip(outcomes, records, strict=True) if r.consents]
    states = await _consent_states(session, [c.id for c, _ in with_consents])
    for customer, record in with_consents:
        session.add_all(_consent_changes(customer.id, record.consents, states))
    await session.flush()
    return outcomes


async def upsert_customers(
    session: AsyncSession, records: Sequence[CustomerRecord], *, now: datetime | None = None
) -> BatchResult:
    return _count(await _upsert_customers(session, records, now or utcnow()))


async def upsert_customer(
    session: AsyncSession, record: CustomerRecord, *, now: datetime | None = None
) -> UpsertResult:
    with _one_record():
        [(customer, created)] = await _upsert_customers(session, [record], now or utcnow())
    return UpsertResult(id=customer.id, external_id=record.external_id, created=created)


async def get_customer(session: AsyncSession, external_id: str) -> CustomerView:
    customer = await session.scalar(select(Customer).where(Customer.external_id == external_id))
    if customer is None:
        raise UnknownCustomer(f"no customer with external_id {external_id!r}")
    states = await session.scalars(
        select(Consent)
        .where(Consent.customer_id == customer.id)
        .order_by(Consent.recorded_at, Consent.id)
    )
    current = {(c.channel, c.purpose): c for c in states}
    return CustomerView(
        id=customer.id,
        external_id=customer.external_id,
        name=customer.name,
        email=customer.email,
        phone=customer.phone,
        language=customer.language,
        timezone=customer.timezone,
        city=customer.city,
        country=customer.country,
        tags=customer.tags,
        attributes=customer.attributes,
        funnel_stage=customer.funnel_stage,
        loyalty_points=customer.loyalty_points,
        consents=[
            ConsentRecord(
                channel=c.channel,
                purpose=c.purpose,
                granted=c.granted,
                source=c.source,
                recorded_at=c.recorded_at,
            )
            for c in current.values()
        ],
        created_at=customer.created_at,
        updated_at=customer.updated_at,
    )


# ---------------------------------------------------------------- products


def _set_variants(product: Product, variants: Sequence[VariantRecord]) -> None:
    """Add new SKUs and update known ones; SKUs not sent are kept (order lines use them)."""
    by_sku = {v.sku: v for v in product.variants}
    for record in variants:
        variant = by_sku.get(record.sku)
        created = variant is None
        if variant is None:
            variant = ProductVariant(sku=record.sku)
            product.variants.append(variant)
        _assign(variant, record, ("size", "color", "barcode"), created=created)


def _set_prices(product: Product, prices: dict[str, int]) -> None:
    """Replace the product's prices as a whole: one per currency, on every channel."""
    current = {p.currency: p for p in product.prices}
    for currency, amount in prices.items():
        price = current.pop(currency, None)
        if price is None:
            product.prices.append(ProductPrice(currency=currency, amount_minor=amount))
        else:
            price.amount_minor = amount
    for stale in current.values():
        product.prices.remove(stale)


async def _upsert_products(
    session: AsyncSession, records: Sequence[ProductRecord]
) -> list[tuple[Product, bool]]:
    if not records:
        return []
    problems = _duplicates(((i, "external_id"), r.external_id) for i, r in enumerate(records))
    problems += _duplicates(
        ((i, "variants", j, "sku"), v.sku)
        for i, r in enumerate(records)
        for j, v in enumerate(r.variants)
    )
    skus = [v.sku for r in records for v in r.variants]
    owners: dict[str, str] = {}
    if skus:
        rows = await session.execute(
            select(ProductVariant.sku, Product.external_id)
            .join(Product, ProductVariant.product_id == Product.id)
            .where(ProductVariant.sku.in_(skus))
        )
        owners = dict(rows.all())
    for i, record in enumerate(records):
        for j, variant in enumerate(record.variants):
            owner = owners.get(variant.sku, record.external_id)
            if owner != record.external_id:
                problems.append(
                    Problem(
                        (i, "variants", j, "sku"),
                        f"sku {variant.sku!r} belongs to product {owner!r}",
                        "conflict",
                    )
                )
    _reject_if(problems)

    existing = {
        p.external_id: p
        for p in await session.scalars(
            select(Product)
            .where(Product.external_id.in_([r.external_id for r in records]))
            .options(selectinload(Product.variants), selectinload(Product.prices))
        )
    }
    outcomes: list[tuple[Product, bool]] = []
    for record in records:
        product = existing.get(record.external_id)
        created = product is None
        if product is None:
            product = Product(external_id=record.external_id, variants=[], prices=[])
            session.add(product)
        product.names = {language.value: name for language, name in record.names.items()}
        product.category = record.category
        _assign(product, record, ("brand", "active"), created=created)
        _set_variants(product, record.variants)
        if record.prices is not None:
            _set_prices(product, record.prices)
        outcomes.append((product, created))
    await session.flush()
    return outcomes


async def upsert_products(session: AsyncSession, records: Sequence[ProductRecord]) -> BatchResult:
    return _count(await _upsert_products(session, records))


async def upsert_product(session: AsyncSession, record: ProductRecord) -> UpsertResult:
    with _one_record():
        [(product, created)] = await _upsert_products(session, [record])
    return UpsertResult(id=product.id, external_id=record.external_id, created=created)


async def get_product(session: AsyncSession, external_id: str) -> ProductView:
    product = await session.scalar(
        select(Product)
        .where(Product.external_id == external_id)
        .options(selectinload(Product.variants), selectinload(Product.prices))
    )
    if product is None:
        raise UnknownProduct(f"no product with external_id {external_id!r}")
    return ProductView(
        id=product.id,
        external_id=product.external_id,
        names={Language(language): name for language, name in product.names.items()},
        category=product.category,
        brand=product.brand,
        active=product.active,
        variants=[
            VariantRecord(sku=v.sku, size=v.size, color=v.color, barcode=v.barcode)
            for v in product.variants
        ],
        prices={p.currency: p.amount_minor for p in product.prices},
        updated_at=product.updated_at,
    )


# ---------------------------------------------------------------- stores

_STORE_FIELDS = (
    "name",
    "city",
    "country",
    "address",
    "postal_code",
    "phone",
    "timezone",
    "currency",
    "latitude",
    "longitude",
    "active",
)


def _set_hours(store: Store, hours: Sequence[StoreHoursRecord]) -> None:
    """Replace the week's hours, keeping rows whose interval starts at the same time.

    Matching on (weekday, opens) rather than deleting everything first keeps the
    unique constraint on those columns satisfied whatever order the flush runs in.
    """
    current = {(h.weekday, h.opens): h for h in store.hours}
    for record in hours:
        row = current.pop((record.weekday, record.opens), None)
        if row is None:
            store.hours.append(
                StoreHours(weekday=record.weekday, opens=record.opens, closes=record.closes)
            )
        else:
            row.closes = record.closes
    for stale in current.values():
        store.hours.remove(stale)


async def _upsert_stores(
    session: AsyncSession, records: Sequence[StoreRecord]
) -> list[tuple[Store, bool]]:
    if not records:
        return []
    _reject_if(_duplicates(((i, "code"), r.code) for i, r in enumerate(records)))
    existing = {
        s.code: s
        for s in await session.scalars(
            select(Store)
            .where(Store.code.in_([r.code for r in records]))
            .options(selectinload(Store.hours))
        )
    }
    outcomes: list[tuple[Store, bool]] = []
    for record in records:
        store = existing.get(record.code)
        created = store is None
        if store is None:
            store = Store(code=record.code, hours=[])
            session.add(store)
        _assign(store, record, _STORE_FIELDS, created=created)
        if record.hours is not None:
            _set_hours(store, record.hours)
        outcomes.append((store, created))
    await session.flush()
    return outcomes


async def upsert_stores(session: AsyncSession, records: Sequence[StoreRecord]) -> BatchResult:
    return _count(await _upsert_stores(session, records))


async def upsert_store(session: AsyncSession, record: StoreRecord) -> StoreUpsertResult:
    with _one_record():
        [(store, created)] = await _upsert_stores(session, [record])
    return StoreUpsertResult(id=store.id, code=record.code, created=created)


async def get_store(session: AsyncSession, code: str) -> StoreView:
    store = await session.scalar(
        select(Store).where(Store.code == code).options(selectinload(Store.hours))
    )
    if store is None:
        raise UnknownStore(f"no store with code {code!r}")
    return StoreView(
        id=store.id,
        code=store.code,
        name=store.name,
        city=store.city,
        country=store.country,
        address=store.address,
        postal_code=store.postal_code,
        phone=store.phone,
        timezone=store.timezone,
        currency=store.currency,
        latitude=store.latitude,
        longitude=store.longitude,
        active=store.active,
        hours=[
            StoreHoursRecord(weekday=h.weekday, opens=h.opens, closes=h.closes) for h in store.hours
        ],
        updated_at=store.updated_at,
    )


# ---------------------------------------------------------------- inventory


async def _store_ids(session: AsyncSession, codes: Iterable[str]) -> dict[str, int]:
    wanted = set(codes)
    if not wanted:
        return {}
    rows = await session.execute(select(Store.code, Store.id).where(Store.code.in_(wanted)))
    return dict(rows.all())


async def _variant_ids(session: AsyncSession, skus: Iterable[str]) -> dict[str, int]:
    wanted = set(skus)
    if not wanted:
        return {}
    rows = await session.execute(
        select(ProductVariant.sku, ProductVariant.id).where(ProductVariant.sku.in_(wanted))
    )
    return dict(rows.all())


async def set_inventory(session: AsyncSession, levels: Sequence[InventoryLevel]) -> InventoryResult:
    """Set absolute on-hand counts; `reserved` is the hub's and is never touched."""
    problems = _duplicates(((i,), (lv.store_code, lv.sku)) for i, lv in enumerate(levels))
    stores = await _store_ids(session, (lv.store_code for lv in levels))
    variants = await _variant_ids(session, (lv.sku for lv in levels))
    for i, level in enumerate(levels):
        if level.store_code not in stores:
            problems.append(_unknown((i, "store_code"), "store with code", level.store_code))
        if level.sku not in variants:
            problems.append(_unknown((i, "sku"), "variant with sku", level.sku))
    _reject_if(problems)
    if not levels:
        return InventoryResult(created=0, updated=0, over_reserved=[])

    pairs = [(stores[lv.store_code], variants[lv.sku]) for lv in levels]
    # Locked so that `reserved`, reported below, cannot move under us before commit;
    # taken in id order so that two concurrent uploads cannot deadlock.
    existing = {
        (row.store_id, row.variant_id): row
        for row in await session.scalars(
            select(Inventory)
            .where(tuple_(Inventory.store_id, Inventory.variant_id).in_(pairs))
            .order_by(Inventory.id)
            .with_for_update()
        )
    }
    created = 0
    over_reserved = []
    for level, pair in zip(levels, pairs, strict=True):
        row = existing.get(pair)
        if row is None:
            created += 1
            session.add(Inventory(store_id=pair[0], variant_id=pair[1], on_hand=level.on_hand))
            continue
        row.on_hand = level.on_hand
        if row.on_hand < row.reserved:
            over_reserved.append(
                OverReserved(
                    store_code=level.store_code,
                    sku=level.sku,
                    on_hand=row.on_hand,
                    reserved=row.reserved,
                )
            )
    await session.flush()
    return InventoryResult(
        created=created, updated=len(levels) - created, over_reserved=over_reserved
    )


# ---------------------------------------------------------------- orders

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
    stores = await _store_ids(session, codes)
    variants = await _variant_ids(session, (line.sku for r in records for line in r.items))

    problems = []
    for i, r in enumerate(records):
        if r.customer_external_id not in customers:
            problems.append(
                _unknown((i, "customer_external_id"), "customer", r.customer_external_id)
            )
        for field, code in (
            ("store_code", r.store_code),
            ("pickup_store_code", r.pickup_store_code),
        ):
            if code is not None and code not in stores:
                problems.append(_unknown((i, field), "store with code", code))
        if r.receipt is not None and r.receipt.store_code not in stores:
            problems.append(
                _unknown((i, "receipt", "store_code"), "store with code", r.receipt.store_code)
            )
        for j, line in enumerate(r.items):
            if line.sku not in variants:
                problems.append(_unknown((i, "items", j, "sku"), "variant with sku", line.sku))
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
    problems = _duplicates(((i, "external_id"), r.external_id) for i, r in enumerate(records))
    problems += _duplicates(((i, "number"), r.number) for i, r in enumerate(records))
    problems += _duplicates(
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
    _reject_if(problems)

    outcomes: list[tuple[Order, bool]] = []
    for record in records:
        order = existing.get(record.external_id)
        created = order is None
        if order is None:
            order = Order(external_id=record.external_id, items=[], receipt=None)
            session.add(order)
        _assign(order, record, _ORDER_FIELDS, created=created)
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
    return _count(await _upsert_orders(session, records, now or utcnow()))


async def upsert_order(
    session: AsyncSession, record: OrderRecord, *, now: datetime | None = None
) -> UpsertResult:
    with _one_record():
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
