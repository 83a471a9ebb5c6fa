"""The inbox's actions: people take conversations from the bot and give them back.

Every action runs in its own transaction, under a row lock on the conversation (so two
agents claiming at once: exactly one wins), moves the conversation through the state
machine of dialogue.handoff, writes a `conversation_events` row, and publishes an
InboxEvent on the bus topic `inbox` after the commit, so every process's inbox pages
update. What the customer is told (the wait, the satisfaction question) comes from the
Notices port, in their language. docs/inbox.md is the contract.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import Database
from crm.models import (
    Agent,
    AgentRole,
    CannedResponse,
    Channel,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Message,
    MessageAuthor,
    MessageDirection,
    utcnow,
)
from crm.services.staff import ANSWERING_ROLES, answerers_with_load
from dialogue.handoff import HandoffRequest, IllegalTransition, check_transition, request_handoff
from dialogue.messages import Reply, Template
from dialogue.ports import Bus, ChannelSender
from dialogue.replies import Replies

__all__ = [
    "TOPIC",
    "AlreadyTaken",
    "IllegalTransition",
    "Inbox",
    "InboxEvent",
    "NotFound",
    "NotOwner",
    "Notices",
    "OutsideWindow",
    "SupportHours",
    "Wait",
    "estimate_wait",
    "someone_free",
]

log = logging.getLogger(__name__)

TOPIC = "inbox"
WHATSAPP_WINDOW = timedelta(hours=24)
_NEVER = datetime.min.replace(tzinfo=UTC)
_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")  # a WhatsApp template's {{1}}


class NotFound(Exception):
    """No such conversation (or agent)."""


class AlreadyTaken(Exception):
    """Someone else owns the conversation already."""

    def __init__(self, by_agent_id: int | None):
        super().__init__("another agent has taken this conversation")
        self.by_agent_id = by_agent_id


class NotOwner(Exception):
    """Only the agent who owns the conversation may do this."""


class OutsideWindow(Exception):
    """WhatsApp's 24-hour window is closed: only an approved template may be sent."""


@dataclass(frozen=True)
class InboxEvent:
    kind: str  # queued, assigned, claimed, transferred, unassigned, resolved, handed_back,
    # message, delivery, typing, availability
    conversation_id: int
    status: str
    assigned_agent_id: int | None
    team: str | None
    at: datetime
    message_id: int | None = None
    agent_id: int | None = None  # who acted

    def to_bytes(self) -> bytes:
        return json.dumps({**asdict(self), "at": self.at.isoformat()}).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> InboxEvent:
        data = json.loads(raw)
        data["at"] = datetime.fromisoformat(data["at"])
        return cls(**data)


# -- the team's hours, and how long a customer will wait ------------------------------

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
    return await _least_loaded(session, team, set()) is not None


class Notices(Protocol):
    """What the hub says to a customer when people take over or let go (bots writes it)."""

    def queued(self, customer: Customer, wait: Wait) -> Reply: ...

    def satisfaction_question(self, customer: Customer) -> Reply: ...

    def handed_back(self, customer: Customer) -> Reply: ...


# -- the actions ----------------------------------------------------------------------


@dataclass
class _Act:
    """One action's transaction: what it changed, to publish and send after the commit."""

    session: AsyncSession
    now: datetime
    events: list[InboxEvent] = field(default_factory=list)
    dispatch: set[int] = field(default_factory=set)
    assign: set[int] = field(default_factory=set)

    async def lock(self, conversation_id: int) -> Conversation:
        conversation = await self.session.scalar(
            select(Conversation).where(Conversation.id == conversation_id).with_for_update()
        )
        if conversation is None:
            raise NotFound(f"no conversation {conversation_id}")
        return conversation

    def record(
        self,
        conversation: Conversation,
        kind: str,
        before: ConversationStatus,
        agent_id: int | None,
        data: dict[str, Any] | None = None,
        *,
        message_id: int | None = None,
    ) -> None:
        self.session.add(
            ConversationEvent(
                conversation_id=conversation.id,
                kind=kind,
                from_status=before.value,
                to_status=conversation.status.value,
                agent_id=agent_id,
                data=data,
                created_at=self.now,
            )
        )
        conversation.updated_at = self.now
        self.events.append(_event(conversation, kind, self.now, agent_id, message_id))


def _event(
    conversation: Conversation,
    kind: str,
    at: datetime,
    agent_id: int | None = None,
    message_id: int | None = None,
) -> InboxEvent:
    return InboxEvent(
        kind=kind,
        conversation_id=conversation.id,
        status=conversation.status.value,
        assigned_agent_id=conversation.assigned_agent_id,
        team=conversation.team,
        at=at,
        message_id=message_id,
        agent_id=agent_id,
    )


class Inbox:
    def __init__(
        self,
        db: Database,
        replies: Replies,
        senders: Mapping[Channel, ChannelSender],
        bus: Bus,
        notices: Notices,
        *,
        support: SupportHours | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.db = db
        self.replies = replies
        self.senders = senders
        self.bus = bus
        self.notices = notices
        self.support = support or SupportHours()
        self.clock = clock

    # -- taking and giving back ----------------------------------------------------------

    async def claim(self, conversation_id: int, agent_id: int) -> None:
        """A queued conversation becomes the agent's; someone else's: AlreadyTaken."""
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            if conversation.status is ConversationStatus.AGENT:
                if conversation.assigned_agent_id == agent_id:
                    return  # a double click
                raise AlreadyTaken(conversation.assigned_agent_id)
            await self._give(act, conversation, await self._answerer(act, agent_id), "claimed")

    async def assign(self, conversation_id: int, agent_id: int, *, by: int) -> None:
        """A supervisor gives a queued (or someone's) conversation to an agent."""
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            agent = await self._answerer(act, agent_id)
            await self._give(act, conversation, agent, "assigned", by=by)

    async def transfer(
        self,
        conversation_id: int,
        *,
        by: int,
        to_agent: int | None = None,
        to_team: str | None = None,
    ) -> None:
        """To another agent (it stays with a person) or to a team's queue."""
        if (to_agent is None) == (to_team is None):
            raise ValueError("transfer to an agent or to a team")
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            await _may_manage(act, conversation, by)
            if to_agent is not None:
                agent = await self._answerer(act, to_agent)
                await self._give(act, conversation, agent, "transferred", by=by)
                return
            before = conversation.status
            if before is not ConversationStatus.QUEUED:
                check_transition(before, ConversationStatus.QUEUED)
            conversation.status = ConversationStatus.QUEUED
            conversation.assigned_agent_id = None
            conversation.team = to_team
            conversation.queued_at = act.now
            act.record(conversation, "transferred", before, by, {"team": to_team})
            act.assign.add(conversation.id)

    async def unassign(self, conversation_id: int, *, by: int) -> None:
        """Back to the queue, for someone else."""
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            await _may_manage(act, conversation, by)
            before = conversation.status
            if before is not ConversationStatus.AGENT:  # only a person can let go
                raise IllegalTransition(before, ConversationStatus.QUEUED)
            previous = conversation.assigned_agent_id
            conversation.status = ConversationStatus.QUEUED
            conversation.assigned_agent_id = None
            conversation.queued_at = act.now
            act.record(conversation, "unassigned", before, by, {"from_agent_id": previous})
        await self.auto_assign(conversation_id, exclude=(previous,) if previous else ())

    async def resolve(self, conversation_id: int, *, by: int) -> None:
        """Done: the customer is asked for a 1-5 score; their next message goes to the bot."""
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            await _may_manage(act, conversation, by)
            before = conversation.status
            check_transition(before, ConversationStatus.RESOLVED)
            conversation.status = ConversationStatus.RESOLVED
            conversation.resolved_at = act.now
            conversation.resolved_by = "agent"
            conversation.csat_asked_at = act.now
            act.record(conversation, "resolved", before, by)
            customer = await act.session.get_one(Customer, conversation.customer_id)
            question = self.notices.satisfaction_question(customer)
            self._tell(act, conversation, question)

    async def hand_back(self, conversation_id: int, *, by: int) -> None:
        """The bot answers again; the customer is told."""
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            await _may_manage(act, conversation, by)
            before = conversation.status
            check_transition(before, ConversationStatus.BOT)
            conversation.status = ConversationStatus.BOT
            conversation.assigned_agent_id = None
            act.record(conversation, "handed_back", before, by)
            customer = await act.session.get_one(Customer, conversation.customer_id)
            notice = self.notices.handed_back(customer)
            self._tell(act, conversation, notice)

    async def queue(self, conversation_id: int, *, by: int, reason: str = "supervisor") -> None:
        """A supervisor takes a conversation from the bot into the queue."""
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            await self._queue(act, conversation, reason, by)

    async def bot_gave_up(self, conversation_id: int) -> None:
        """The bot failed on a message again and again: a person takes the conversation
        (the router set the message aside; nothing the customer said is lost)."""
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            if conversation.status is ConversationStatus.BOT:
                await self._queue(act, conversation, "bot_failed", None)

    async def _queue(
        self, act: _Act, conversation: Conversation, reason: str, by: int | None
    ) -> None:
        await request_handoff(act.session, conversation, HandoffRequest(reason), act.now)
        act.events.append(_event(conversation, "queued", act.now, by))
        customer = await act.session.get_one(Customer, conversation.customer_id)
        wait = await estimate_wait(act.session, conversation, self.support, act.now)
        notice = self.notices.queued(customer, wait)
        self._tell(act, conversation, notice)
        act.assign.add(conversation.id)

    async def auto_assign(self, conversation_id: int, *, exclude: Iterable[int] = ()) -> int | None:
        """Give a queued conversation to the least-loaded available agent with room.

        In the conversation's team when it has one; ties go to who waited longest for
        a conversation. None (it stays queued) when nobody is free.
        """
        excluded = set(exclude)
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            if (
                conversation.status is not ConversationStatus.QUEUED
                or conversation.assigned_agent_id is not None
                or not self.support.is_open(act.now)
            ):
                return None
            agent = await _least_loaded(act.session, conversation.team, excluded)
            if agent is None:
                return None
            # Two conversations assigned at once must not both take an agent's last place:
            # lock the agent and count again.
            await act.session.execute(
                select(Agent.id).where(Agent.id == agent.id).with_for_update()
            )
            if await _open_count(act.session, agent.id) >= agent.capacity:
                return None
            await self._give(act, conversation, agent, "assigned")
            return agent.id

    async def set_availability(self, agent_id: int, available: bool) -> None:
        """An available agent gets queued conversations, oldest first, up to capacity."""
        async with self.db.transaction() as session:
            agent = await session.get(Agent, agent_id)
            if agent is None:
                raise NotFound(f"no agent {agent_id}")
            agent.available = available
        if available:
            await self.assign_queued()

    async def assign_queued(self) -> None:
        """Offer every unassigned queued conversation to whoever is free, oldest first."""
        async with self.db.transaction() as session:
            waiting = (
                await session.scalars(
                    select(Conversation.id)
                    .where(
                        Conversation.status == ConversationStatus.QUEUED,
                        Conversation.assigned_agent_id.is_(None),
                    )
                    .order_by(Conversation.queued_at, Conversation.id)
                    .limit(500)
                )
            ).all()
        for conversation_id in waiting:
            if await self.auto_assign(conversation_id) is None:
                break  # nobody (else) is free

    # -- talking -------------------------------------------------------------------------

    async def reply(self, conversation_id: int, agent_id: int, text: str) -> int:
        """The owner's answer, on the channel of the customer's latest message."""
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            _check_owner(conversation, agent_id)
            if conversation.last_channel is Channel.WHATSAPP and not _window_open(
                conversation, act.now
            ):
                raise OutsideWindow(
                    "WhatsApp's 24-hour window is closed: only an approved template may go"
                )
            return await self._agent_says(act, conversation, agent_id, Reply(text))

    async def send_template(
        self, conversation_id: int, agent_id: int, template: str, params: dict[str, str]
    ) -> int:
        """An approved WhatsApp template (a canned response with a Content SID), in the
        customer's language when there is one: what may go past the 24-hour window."""
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            _check_owner(conversation, agent_id)
            if conversation.last_channel is not Channel.WHATSAPP:
                raise NotFound("templates are for WhatsApp; write the customer a reply")
            customer = await act.session.get_one(Customer, conversation.customer_id)
            approved = (
                await act.session.scalars(
                    select(CannedResponse).where(
                        CannedResponse.shortcut == template,
                        CannedResponse.active.is_(True),
                        CannedResponse.whatsapp_content_sid.is_not(None),
                    )
                )
            ).all()
            chosen = next((t for t in approved if t.language == customer.language), None) or next(
                iter(approved), None
            )
            if chosen is None or chosen.whatsapp_content_sid is None:
                raise NotFound(f"no approved WhatsApp template {template!r}")
            wanted = set(_PLACEHOLDER.findall(chosen.body))
            if "1" in wanted and "1" not in params:  # {{1}} is the customer's first name
                params = {**params, "1": (customer.name or "").split(" ")[0] or "-"}
            if set(params) != wanted:
                raise ValueError(
                    f"template {template!r} needs values for {sorted(wanted)}, not {sorted(params)}"
                )
            text = _PLACEHOLDER.sub(lambda m: params[m.group(1)], chosen.body)
            reply = Reply(text, template=Template(chosen.whatsapp_content_sid, dict(params)))
            return await self._agent_says(act, conversation, agent_id, reply)

    def _tell(self, act: _Act, conversation: Conversation, reply: Reply) -> None:
        """What the hub says to the customer about a change of hands, sent after commit."""
        self.replies.queue(act.session, conversation, reply, MessageAuthor.BOT, act.now)
        act.dispatch.add(conversation.id)

    async def _agent_says(
        self, act: _Act, conversation: Conversation, agent_id: int, reply: Reply
    ) -> int:
        """Queue an agent's message to the customer; the first one is the first response."""
        messages = self.replies.queue(
            act.session, conversation, reply, MessageAuthor.AGENT, act.now, agent_id=agent_id
        )
        await act.session.flush()
        if conversation.first_response_at is None:
            conversation.first_response_at = act.now
        conversation.updated_at = act.now
        act.events.append(_event(conversation, "message", act.now, agent_id, messages[0].id))
        act.dispatch.add(conversation.id)
        return messages[0].id

    async def note(self, conversation_id: int, agent_id: int, text: str) -> int:
        """A private note for the team: kept in the conversation, never sent."""
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            note = Message(
                conversation_id=conversation.id,
                direction=MessageDirection.OUTBOUND,
                author=MessageAuthor.AGENT,
                agent_id=agent_id,
                channel=conversation.last_channel,
                address=None,
                body=text,
                private=True,
                # Never pending, so the outbox never picks it up.
                delivery_status=DeliveryStatus.RECEIVED,
                created_at=act.now,
            )
            act.session.add(note)
            await act.session.flush()
            conversation.updated_at = act.now
            act.events.append(_event(conversation, "message", act.now, agent_id, note.id))
            return note.id

    async def typing(self, conversation_id: int, agent_id: int) -> None:
        """Show the customer that someone is typing, where the channel can."""
        async with self.db.transaction() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                raise NotFound(f"no conversation {conversation_id}")
            _check_owner(conversation, agent_id)
            channel, address = conversation.last_channel, conversation.last_address
        sender = self.senders.get(channel)
        if sender is not None and sender.capabilities.typing:
            await sender.typing(address)

    # -- what the router tells the inbox ---------------------------------------------------

    async def answered(self, conversation_ids: Iterable[int]) -> None:
        """After the router committed: live events for conversations people own or wait
        for (a new customer message, a bot's handoff), and assignment of new ones."""
        ids = sorted(set(conversation_ids))
        if not ids:
            return
        now = self.clock()
        async with self.db.transaction() as session:
            rows = (
                await session.scalars(
                    select(Conversation).where(
                        Conversation.id.in_(ids), Conversation.status != ConversationStatus.BOT
                    )
                )
            ).all()
            events = [
                _event(c, "queued" if c.assigned_agent_id is None else "message", now)
                for c in rows
                if c.status is not ConversationStatus.RESOLVED
            ]
        await self._publish(events)
        for event in events:
            if event.kind == "queued":
                await self.auto_assign(event.conversation_id)

    async def delivered(self, changed: list[tuple[int, int]]) -> None:
        """Outbound messages' statuses changed ((conversation id, message id) each): the
        inbox shows those of conversations a person has or waits for, live."""
        async with self.db.transaction() as session:
            conversations = {
                c.id: c
                for c in await session.scalars(
                    select(Conversation).where(
                        Conversation.id.in_({conversation_id for conversation_id, _ in changed}),
                        Conversation.status != ConversationStatus.BOT,
                    )
                )
            }
        now = self.clock()
        await self._publish(
            [
                _event(conversations[conversation_id], "delivery", now, None, message_id)
                for conversation_id, message_id in changed
                if conversation_id in conversations
            ]
        )

    async def events(self) -> AsyncIterator[InboxEvent]:
        async for raw in self.bus.subscribe(TOPIC):
            try:
                yield InboxEvent.from_bytes(raw)
            except (ValueError, TypeError, KeyError):
                log.warning("ignoring a malformed inbox event")

    # -- internals -----------------------------------------------------------------------

    def _acting(self) -> _Acting:
        return _Acting(self)

    async def _answerer(self, act: _Act, agent_id: int) -> Agent:
        agent = await act.session.get(Agent, agent_id)
        if agent is None or not agent.active or agent.role not in ANSWERING_ROLES:
            raise NotFound(f"no agent {agent_id} who answers customers")
        return agent

    async def _give(
        self,
        act: _Act,
        conversation: Conversation,
        agent: Agent,
        kind: str,
        *,
        by: int | None = None,
    ) -> None:
        before = conversation.status
        if before is not ConversationStatus.AGENT:
            check_transition(before, ConversationStatus.AGENT)
            if before is ConversationStatus.BOT:
                raise IllegalTransition(before, ConversationStatus.AGENT)
        conversation.status = ConversationStatus.AGENT
        conversation.assigned_agent_id = agent.id
        conversation.assigned_at = act.now
        agent.last_assigned_at = act.now
        act.record(conversation, kind, before, by if by is not None else agent.id,
                   {"agent_id": agent.id})  # fmt: skip

    async def _publish(self, events: Sequence[InboxEvent]) -> None:
        for event in events:
            try:
                await self.bus.publish(TOPIC, event.to_bytes())
            except Exception:  # live updates are best effort; the page reloads on reconnect
                log.exception("could not publish an inbox event")


class _Acting:
    """`async with inbox._acting() as act`: a transaction; after its commit, the events
    are published, replies dispatched and new queue entries offered to agents."""

    def __init__(self, inbox: Inbox):
        self.inbox = inbox
        self._transaction: Any = None
        self.act: _Act | None = None

    async def __aenter__(self) -> _Act:
        self._transaction = self.inbox.db.transaction()
        session = await self._transaction.__aenter__()
        self.act = _Act(session, self.inbox.clock())
        return self.act

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self._transaction.__aexit__(exc_type, exc, tb)
        act = self.act
        if exc_type is not None or act is None:
            return
        inbox = self.inbox
        await inbox._publish(act.events)
        for conversation_id in act.dispatch:
            inbox.replies.send_soon(conversation_id)
        for conversation_id in act.assign:
            await inbox.auto_assign(conversation_id)


async def _may_manage(act: _Act, conversation: Conversation, by: int) -> None:
    """Its owner, or a supervisor or admin, may move a conversation on; checked under
    the conversation's lock, so ownership cannot change in between."""
    agent = await act.session.get(Agent, by)
    if agent is None or not agent.active:
        raise NotOwner("unknown or inactive agent")
    if agent.role in (AgentRole.SUPERVISOR, AgentRole.ADMIN):
        return
    if agent.role is not AgentRole.AGENT or conversation.assigned_agent_id != by:
        raise NotOwner("only the agent who has this conversation, or a supervisor, may")


def _check_owner(conversation: Conversation, agent_id: int) -> None:
    if conversation.status is not ConversationStatus.AGENT:
        raise IllegalTransition(conversation.status, ConversationStatus.AGENT)
    if conversation.assigned_agent_id != agent_id:
        raise NotOwner("only the agent who has this conversation may write in it")


def _window_open(conversation: Conversation, now: datetime) -> bool:
    last = conversation.last_inbound_at
    return last is not None and now - last < WHATSAPP_WINDOW


async def _least_loaded(
    session: AsyncSession, team: str | None, excluded: set[int]
) -> Agent | None:
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


async def _open_count(session: AsyncSession, agent_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.assigned_agent_id == agent_id,
            Conversation.status == ConversationStatus.AGENT,
        )
    )
    return int(count or 0)
