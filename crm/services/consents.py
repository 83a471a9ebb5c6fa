"""Consent decisions per customer, channel and purpose: an append-only history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm.errors import UnknownCustomer
from crm.models import Channel, Consent, ConsentPurpose, Customer, utcnow

_SOURCE_MAX = 64  # the width of Consent.source


async def record_consent(
    session: AsyncSession,
    customer_id: int,
    channel: Channel,
    purpose: ConsentPurpose,
    granted: bool,
    source: str,
    *,
    now: datetime | None = None,
) -> Consent:
    """Add one decision (a grant or an opt-out) to the customer's history.

    Nothing is ever updated or deleted: the newest decision wins, and the history
    shows who said what, where and when. `source` names what recorded it ("api",
    "keyword:BAJA", "agent:12"...). Raises UnknownCustomer.
    """
    source = source.strip()
    if not source or len(source) > _SOURCE_MAX:
        raise ValueError(f"source must be 1..{_SOURCE_MAX} characters, not {source!r}")
    if await session.get(Customer, customer_id) is None:
        raise UnknownCustomer(f"no customer {customer_id}")
    consent = Consent(
        customer_id=customer_id,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source,
        recorded_at=now or utcnow(),
    )
    session.add(consent)
    await session.flush()
    return consent


def is_newest(decision: type[Consent]) -> ColumnElement[bool]:
    """Whether `decision` (Consent or an alias of it, in a query) is its customer's
    newest for its channel and purpose: newest by when it was decided (recorded_at),
    then by id, so a decision imported late with its original date does not override a
    later one. The one definition of "the current decision", for one customer
    (current_consent) and for sets of them (segments)."""
    newer = aliased(Consent)
    return not_(
        exists().where(
            newer.customer_id == decision.customer_id,
            newer.channel == decision.channel,
            newer.purpose == decision.purpose,
            or_(
                newer.recorded_at > decision.recorded_at,
                and_(newer.recorded_at == decision.recorded_at, newer.id > decision.id),
            ),
        )
    )


async def current_consent(
    session: AsyncSession, customer_id: int, channel: Channel, purpose: ConsentPurpose
) -> bool | None:
    """The customer's newest decision for this channel and purpose; None if never asked."""
    granted: bool | None = await session.scalar(
        select(Consent.granted).where(
            Consent.customer_id == customer_id,
            Consent.channel == channel,
            Consent.purpose == purpose,
            is_newest(Consent),
        )
    )
    return granted


async def can_send_marketing(session: AsyncSession, customer_id: int, channel: Channel) -> bool:
    """True only if the customer's current marketing decision on the channel is a grant.

    Never asked counts as no: marketing needs an explicit opt-in.
    """
    return await current_consent(session, customer_id, channel, ConsentPurpose.MARKETING) is True
