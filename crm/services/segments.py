"""Segments: count and preview a rule, and save, read, change and archive named ones."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import NotFound
from crm.models import Customer, Segment, utcnow
from crm.segments.compile import count_of, customer_ids
from crm.segments.records import (
    SAMPLE_SIZE,
    Preview,
    SegmentChange,
    SegmentCreated,
    SegmentDraft,
    SegmentList,
    SegmentSummary,
    SegmentView,
)
from crm.segments.rules import RULE, Rule


class UnknownSegment(NotFound):
    """No segment with that id, or it was archived."""


async def count_rule(session: AsyncSession, rule: Rule, *, now: datetime | None = None) -> int:
    """How many customers match: one COUNT over the compiled query."""
    count = await session.scalar(count_of(customer_ids(rule, now=now or utcnow())))
    return int(count or 0)


async def preview_rule(
    session: AsyncSession, rule: Rule, *, now: datetime | None = None
) -> Preview:
    """The count and the first customers (by id, so the same sample every time)."""
    now = now or utcnow()
    audience = customer_ids(rule, now=now).subquery()
    sample = await session.scalars(
        select(Customer.external_id)
        .join(audience, audience.c.id == Customer.id)
        .order_by(Customer.id)
        .limit(SAMPLE_SIZE)
    )
    return Preview(count=await count_rule(session, rule, now=now), sample=list(sample))


async def create_segment(session: AsyncSession, draft: SegmentDraft) -> SegmentCreated:
    segment = Segment(name=draft.name, rule=_stored(draft.rule))
    session.add(segment)
    await session.flush()
    return SegmentCreated(id=segment.id, count=await count_rule(session, draft.rule))


async def list_segments(session: AsyncSession) -> SegmentList:
    segments = await session.scalars(
        select(Segment).where(Segment.archived_at.is_(None)).order_by(Segment.id.desc())
    )
    return SegmentList(
        segments=[SegmentSummary.model_validate(s, from_attributes=True) for s in segments]
    )


async def get_segment(session: AsyncSession, segment_id: int) -> SegmentView:
    return await _view(session, await _live(session, segment_id))


async def change_segment(
    session: AsyncSession, segment_id: int, change: SegmentChange
) -> SegmentView:
    segment = await _live(session, segment_id, lock=True)
    if change.name is not None:
        segment.name = change.name
    if change.rule is not None:
        segment.rule = _stored(change.rule)
    segment.updated_at = utcnow()
    await session.flush()
    return await _view(session, segment)


async def archive_segment(session: AsyncSession, segment_id: int) -> None:
    """Hide it from lists and reads; the row stays, as campaigns refer to it."""
    segment = await _live(session, segment_id, lock=True)
    segment.archived_at = utcnow()
    await session.flush()


def segment_rule(segment: Segment) -> Rule:
    return RULE.validate_python(segment.rule)


def audience_of(segment: Segment, *, now: datetime) -> Select[int]:
    """The customer ids the segment matches at `now`: what a campaign freezes."""
    return customer_ids(segment_rule(segment), now=now)


async def _live(session: AsyncSession, segment_id: int, *, lock: bool = False) -> Segment:
    query = select(Segment).where(Segment.id == segment_id, Segment.archived_at.is_(None))
    segment = await session.scalar(query.with_for_update() if lock else query)
    if segment is None:
        raise UnknownSegment(f"no segment {segment_id}")
    return segment


async def _view(session: AsyncSession, segment: Segment) -> SegmentView:
    rule = segment_rule(segment)
    preview = await preview_rule(session, rule)
    return SegmentView(
        id=segment.id,
        name=segment.name,
        rule=rule,
        count=preview.count,
        sample=preview.sample,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


def _stored(rule: Rule) -> dict[str, object]:
    stored = RULE.dump_python(rule, mode="json", exclude_none=True)
    assert isinstance(stored, dict)
    return stored
