"""Customers from the shop's systems, with their consents, and one read back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import UnknownCustomer
from crm.models import Channel, Consent, ConsentPurpose, Customer, utcnow
from crm.records import BatchResult, ConsentRecord, CustomerRecord, CustomerView, UpsertResult
from crm.services.sync.batch import Problem, assign, count, duplicates, one_record, reject_if

# Clocks of the shop's systems drift; a consent dated a little ahead is still accepted.
CLOCK_SKEW = timedelta(minutes=5)

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
    problems = duplicates(((i, "external_id"), r.external_id) for i, r in enumerate(records))
    problems += [
        Problem((i, "consents", j, "recorded_at"), "is in the future", "future_datetime")
        for i, r in enumerate(records)
        for j, c in enumerate(r.consents)
        if c.recorded_at > now + CLOCK_SKEW
    ]
    reject_if(problems)

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
        assign(customer, record, _CUSTOMER_FIELDS, created=created)
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
    return count(await _upsert_customers(session, records, now or utcnow()))


async def upsert_customer(
    session: AsyncSession, record: CustomerRecord, *, now: datetime | None = None
) -> UpsertResult:
    with one_record():
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
