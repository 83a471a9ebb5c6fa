"""One inbox action: its transaction (Act), the event it publishes, its errors, and the
checks every action makes of who may act.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import (
    WHATSAPP_WINDOW,
    Agent,
    AgentRole,
    Conversation,
    ConversationEvent,
    ConversationStatus,
)
from dialogue.handoff import IllegalTransition

TOPIC = "inbox"


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


@dataclass
class Act:
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
        self.events.append(make_event(conversation, kind, self.now, agent_id, message_id))


def make_event(
    conversation: Conversation,
    kind: str,
    at: datetime,
    agent_id: int | None = None,
    message_id: int | None = None,
) -> InboxEvent:
    """The event telling every inbox page how the conversation stands now."""
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


async def may_manage(act: Act, conversation: Conversation, by: int) -> None:
    """Its owner, or a supervisor or admin, may move a conversation on; checked under
    the conversation's lock, so ownership cannot change in between."""
    agent = await act.session.get(Agent, by)
    if agent is None or not agent.active:
        raise NotOwner("unknown or inactive agent")
    if agent.role in (AgentRole.SUPERVISOR, AgentRole.ADMIN):
        return
    if agent.role is not AgentRole.AGENT or conversation.assigned_agent_id != by:
        raise NotOwner("only the agent who has this conversation, or a supervisor, may")


def check_owner(conversation: Conversation, agent_id: int) -> None:
    if conversation.status is not ConversationStatus.AGENT:
        raise IllegalTransition(conversation.status, ConversationStatus.AGENT)
    if conversation.assigned_agent_id != agent_id:
        raise NotOwner("only the agent who has this conversation may write in it")


def window_open(conversation: Conversation, now: datetime) -> bool:
    last = conversation.last_inbound_at
    return last is not None and now - last < WHATSAPP_WINDOW
