"""The inbox's actions: people take conversations from the bot and give them back.

Every action runs in its own transaction, under a row lock on the conversation (so two
agents claiming at once: exactly one wins), moves the conversation through the state
machine of dialogue.handoff, writes a `conversation_events` row, and publishes an
InboxEvent on the bus topic `inbox` after the commit, so every process's inbox pages
update. What the customer is told (the wait, the satisfaction question) comes from the
Notices port, in their language. docs/inbox.md is the contract.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from crm.db import Database
from crm.models import (
    Agent,
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Message,
    MessageAuthor,
    MessageDirection,
    utcnow,
)
from dialogue.handoff import HandoffRequest, IllegalTransition, check_transition, request_handoff
from dialogue.inbox_act import (
    TOPIC,
    Act,
    AlreadyTaken,
    InboxEvent,
    NotFound,
    NotOwner,
    OutsideWindow,
    check_owner,
    may_manage,
    window_open,
)
from dialogue.inbox_act import make_event as _event
from dialogue.inbox_assignment import (
    SupportHours,
    Wait,
    answerer,
    estimate_wait,
    give,
    least_loaded,
    open_count,
    someone_free,
)
from dialogue.inbox_templates import template_reply
from dialogue.messages import Reply
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


class Notices(Protocol):
    """What the hub says to a customer when people take over or let go (bots writes it)."""

    def queued(self, customer: Customer, wait: Wait) -> Reply: ...

    def satisfaction_question(self, customer: Customer) -> Reply: ...

    def handed_back(self, customer: Customer) -> Reply: ...


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
            await give(act, conversation, await answerer(act, agent_id), "claimed")

    async def assign(self, conversation_id: int, agent_id: int, *, by: int) -> None:
        """A supervisor gives a queued (or someone's) conversation to an agent."""
        async with self._acting() as act:
            conversation = await act.lock(conversation_id)
            agent = await answerer(act, agent_id)
            await give(act, conversation, agent, "assigned", by=by)

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
            await may_manage(act, conversation, by)
            if to_agent is not None:
                agent = await answerer(act, to_agent)
                await give(act, conversation, agent, "transferred", by=by)
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
            await may_manage(act, conversation, by)
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
            await may_manage(act, conversation, by)
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
            await may_manage(act, conversation, by)
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
        self, act: Act, conversation: Conversation, reason: str, by: int | None
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
            agent = await least_loaded(act.session, conversation.team, excluded)
            if agent is None:
                return None
            # Two conversations assigned at once must not both take an agent's last place:
            # lock the agent and count again.
            await act.session.execute(
                select(Agent.id).where(Agent.id == agent.id).with_for_update()
            )
            if await open_count(act.session, agent.id) >= agent.capacity:
                return None
            await give(act, conversation, agent, "assigned")
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
            check_owner(conversation, agent_id)
            if conversation.last_channel is Channel.WHATSAPP and not window_open(
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
            check_owner(conversation, agent_id)
            if conversation.last_channel is not Channel.WHATSAPP:
                raise NotFound("templates are for WhatsApp; write the customer a reply")
            customer = await act.session.get_one(Customer, conversation.customer_id)
            reply = await template_reply(act.session, customer, template, params)
            return await self._agent_says(act, conversation, agent_id, reply)

    def _tell(self, act: Act, conversation: Conversation, reply: Reply) -> None:
        """What the hub says to the customer about a change of hands, sent after commit."""
        self.replies.queue(act.session, conversation, reply, MessageAuthor.BOT, act.now)
        act.dispatch.add(conversation.id)

    async def _agent_says(
        self, act: Act, conversation: Conversation, agent_id: int, reply: Reply
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
            check_owner(conversation, agent_id)
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
        self.act: Act | None = None

    async def __aenter__(self) -> Act:
        self._transaction = self.inbox.db.transaction()
        session = await self._transaction.__aenter__()
        self.act = Act(session, self.inbox.clock())
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
