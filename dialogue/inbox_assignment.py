"""Who gets a queued conversation, and when: the team's hours, who is free, how long a
customer waits, and giving a conversation to an agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Agent, Conversation, ConversationStatus
from crm.services.staff import ANSWERING_ROLES, answerers_with_load
from dialogue.handoff import IllegalTransition, check_transition
from dialogue.inbox_act import Act, NotFound

_NEVER = datetime.min.replace(tzinfo=UTC)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(
    r"^\s*([a-z]{3})(?:\s*-\s*([a-z]{3}))?\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$"
)


@dataclass(frozen=True)
class SupportHours:
    """When the team answers: `mon-fri 09:00-19:00, sat 10:00-14:00` in a time zone.

    No intervals means always open (the default: a shop that has not said).
    """

    intervals: tuple[tuple[int, time, time], ...] = ()
    zone: str = "UTC"

    @classmethod
    def parse(cls, spec: str | None, zone: str = "UTC") -> SupportHours:
        ZoneInfo(zone)  # an unknown zone fails here, at start
        if not spec or not spec.strip():
            return cls((), zone)
        intervals: list[tuple[int, time, time]] = []
        for part in spec.lower().split(","):
            match = _SPEC.match(part)
            if match is None or match[1] not in _DAYS or (match[2] and match[2] not in _DAYS):
                raise ValueError(f"not a support-hours interval: {part.strip()!r}")
            first = _DAYS.index(match[1])
            last = _DAYS.index(match[2]) if match[2] else first
            opens, closes = (
                time.fromisoformat(match[3].zfill(5)),
                time.fromisoformat(match[4].zfill(5)),
            )
            if opens >= closes:
                raise ValueError(f"opens after it closes: {part.strip()!r}")
            intervals += [(day, opens, closes) for day in range(first, last + 1)]
        return cls(tuple(sorted(intervals)), zone)

    def is_open(self, now: datetime) -> bool:
        if not self.intervals:
            return True
        local = now.astimezone(ZoneInfo(self.zone))
        return any(
            day == local.weekday() and opens <= local.time() < closes
            for day, opens, closes in self.intervals
        )

    def next_opening(self, now: datetime) -> datetime | None:
        """When the team is next at work after `now` (None: it is at work now)."""
        if self.is_open(now):
            return None
        zone = ZoneInfo(self.zone)
        local = now.astimezone(zone)
        for ahead in range(8):
            date = (local + timedelta(days=ahead)).date()
            for day, opens, _ in self.intervals:
                start = datetime.combine(date, opens, zone)
                if day == date.weekday() and start > local:
                    return start
        return None


@dataclass(frozen=True)
class Wait:
    """What a customer queued for a person is told."""

    assigned: bool  # someone has it already
    ahead: int  # conversations queued before theirs
    opens_at: datetime | None  # outside the team's hours: when they are back


async def estimate_wait(
    session: AsyncSession, conversation: Conversation, support: SupportHours, now: datetime
) -> Wait:
    if conversation.status is ConversationStatus.AGENT:
        return Wait(True, 0, None)
    opens_at = support.next_opening(now)
    if opens_at is None and await someone_free(session, conversation.team):
        return Wait(True, 0, None)  # assigned as soon as this transaction commits
    ahead = await session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.status == ConversationStatus.QUEUED,
            Conversation.queued_at < (conversation.queued_at or now),
            Conversation.id != conversation.id,
        )
    )
    return Wait(False, int(ahead or 0), opens_at)


async def someone_free(session: AsyncSession, team: str | None = None) -> bool:
    """Whether an available agent has room for one more conversation."""
    return await least_loaded(session, team, set()) is not None


async def least_loaded(session: AsyncSession, team: str | None, excluded: set[int]) -> Agent | None:
    rows = await answerers_with_load(session, available_only=True)
    free = [
        (open_, agent.last_assigned_at or _NEVER, agent.id, agent)
        for agent, open_ in rows
        if open_ < agent.capacity
        and agent.id not in excluded
        and (team is None or team in (agent.teams or []))
    ]
    if not free:
        return None
    free.sort(key=lambda row: row[:3])
    chosen: Agent = free[0][3]
    return chosen


async def open_count(session: AsyncSession, agent_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.assigned_agent_id == agent_id,
            Conversation.status == ConversationStatus.AGENT,
        )
    )
    return int(count or 0)


async def answerer(act: Act, agent_id: int) -> Agent:
    """The agent, if they may be given conversations: active, and of a role that answers."""
    agent = await act.session.get(Agent, agent_id)
    if agent is None or not agent.active or agent.role not in ANSWERING_ROLES:
        raise NotFound(f"no agent {agent_id} who answers customers")
    return agent


async def give(
    act: Act,
    conversation: Conversation,
    agent: Agent,
    kind: str,
    *,
    by: int | None = None,
) -> None:
    """The conversation becomes the agent's, from the queue or from another agent (the bot
    hands over through the queue only); `by` is who acted, the agent themselves if None."""
    before = conversation.status
    if before is not ConversationStatus.AGENT:
        check_transition(before, ConversationStatus.AGENT)
        if before is ConversationStatus.BOT:
            raise IllegalTransition(before, ConversationStatus.AGENT)
    conversation.status = ConversationStatus.AGENT
    conversation.assigned_agent_id = agent.id
    conversation.assigned_at = act.now
    agent.last_assigned_at = act.now
    act.record(
        conversation, kind, before, by if by is not None else agent.id, {"agent_id": agent.id}
    )
