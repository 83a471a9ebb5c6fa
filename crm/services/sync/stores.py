"""Stores from the shop's systems, with their opening hours, and one read back."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm.errors import UnknownStore
from crm.models import Store, StoreHours
from crm.records import BatchResult, StoreHoursRecord, StoreRecord, StoreUpsertResult, StoreView
from crm.services.sync.batch import assign, count, duplicates, one_record, reject_if

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
    reject_if(duplicates(((i, "code"), r.code) for i, r in enumerate(records)))
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
        assign(store, record, _STORE_FIELDS, created=created)
        if record.hours is not None:
            _set_hours(store, record.hours)
        outcomes.append((store, created))
    await session.flush()
    return outcomes


async def upsert_stores(session: AsyncSession, records: Sequence[StoreRecord]) -> BatchResult:
    return count(await _upsert_stores(session, records))


async def upsert_store(session: AsyncSession, record: StoreRecord) -> StoreUpsertResult:
    with one_record():
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
