"""How the inbox performs: response and resolution times, the bot's share, satisfaction."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Agent, AgentRole, Conversation, ConversationEvent, ConversationStatus

# Event kinds that mean a person had the conversation (dialogue.inbox writes them).
_PERSON_EVENTS = ("queued", "assigned", "claimed")
CSAT_SCORES = range(1, 6)


@dataclass(frozen=True)
class Durations:
    count: int
    p50_seconds: float | None  # None without data
    p90_seconds: float | None


@dataclass(frozen=True)
class Satisfaction:
    responses: int
    average: float | None
    distribution: dict[int, int]  # score 1..5 -> how many gave it


@dataclass(frozen=True)
class InboxMetrics:
    """Over conversations that reached the milestone in [since, until)."""

    since: datetime
    until: datetime
    # From the handoff (queued_at) to the first reply of a person.
    first_response: Durations
    # From the conversation's first message to its resolution.
    resolution: Durations
    resolved: int
    # Resolved without ever being queued for a person.
    resolved_by_bot: int
    bot_resolved_share: float | None
    satisfaction: Satisfaction  # scores of conversations resolved in the period


@dataclass(frozen=True)
class InboxLoad:
    """The inbox now: conversations per status (resolved ones left out), agents free."""

    open_by_status: dict[ConversationStatus, int]
    agents_available: int


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _durations(pairs: Sequence[tuple[datetime, datetime]]) -> Durations:
    seconds = [max(0.0, (end - start).total_seconds()) for start, end in pairs]
    return Durations(len(seconds), percentile(seconds, 0.5), percentile(seconds, 0.9))


async def inbox_metrics(session: AsyncSession, since: datetime, until: datetime) -> InboxMetrics:
    if until <= since:
        raise ValueError(f"an empty period: {since.isoformat()} to {until.isoformat()}")
    first = await session.execute(
        select(Conversation.queued_at, Conversation.first_response_at).where(
            Conversation.queued_at.is_not(None),
            Conversation.first_response_at >= since,
            Conversation.first_response_at < until,
        )
    )
    resolved_in_period = (
        Conversation.status == ConversationStatus.RESOLVED,
        Conversation.resolved_at >= since,
        Conversation.resolved_at < until,
    )
    resolved = await session.execute(
        select(Conversation.created_at, Conversation.resolved_at).where(*resolved_in_period)
    )
    resolution_pairs = [(start, end) for start, end in resolved if end is not None]
    person = exists().where(
        ConversationEvent.conversation_id == Conversation.id,
        ConversationEvent.kind.in_(_PERSON_EVENTS),
    )
    by_bot = await session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(*resolved_in_period, Conversation.queued_at.is_(None), ~person)
    )
    scores = await session.execute(
        select(Conversation.csat_score, func.count())
        .where(*resolved_in_period, Conversation.csat_score.is_not(None))
        .group_by(Conversation.csat_score)
    )
    distribution = dict.fromkeys(CSAT_SCORES, 0)
    for score, count in scores:
        if score in distribution:
            distribution[score] = count
    responses = sum(distribution.values())
    average = sum(s * n for s, n in distribution.items()) / responses if responses else None
    total = len(resolution_pairs)
    bot = by_bot or 0
    return InboxMetrics(
        since=since,
        until=until,
        first_response=_durations([(q, f) for q, f in first if q is not None and f is not None]),
        resolution=_durations(resolution_pairs),
        resolved=total,
        resolved_by_bot=bot,
        bot_resolved_share=bot / total if total else None,
        satisfaction=Satisfaction(responses, average, distribution),
    )


async def inbox_load(session: AsyncSession) -> InboxLoad:
    counts = await session.execute(
        select(Conversation.status, func.count())
        .where(Conversation.status != ConversationStatus.RESOLVED)
        .group_by(Conversation.status)
    )
    by_status: dict[ConversationStatus, int] = {
        s: 0 for s in ConversationStatus if s is not ConversationStatus.RESOLVED
    }
    for status, count in counts:
        by_status[ConversationStatus(status)] = count
    available = await session.scalar(
        select(func.count())
        .select_from(Agent)
        .where(
            Agent.active.is_(True),
            Agent.available.is_(True),
            Agent.role.in_([AgentRole.AGENT, AgentRole.SUPERVISOR, AgentRole.ADMIN]),
        )
    )
    return InboxLoad(by_status, available or 0)
