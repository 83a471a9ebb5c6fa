"""Who owns a conversation, and how it changes hands: an explicit state machine.

bot ──request──▶ queued ──claim──▶ agent ──resolve──▶ resolved
 ▲                 │                 │
 └──── hand back ──┴─────────────────┘

The chatbot asks for a person with `request_handoff`; the inbox moves the rest.
An illegal move raises IllegalTransition and changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import crm.errors
from crm.models import Conversation, ConversationEvent, ConversationStatus
from crm.transitions import TransitionTable, check


class IllegalTransition(crm.errors.IllegalTransition):
    """A move of a conversation's owner that the table does not allow."""

    def __init__(self, current: ConversationStatus, target: ConversationStatus):
        super().__init__("a conversation", current, target)
        self.current: ConversationStatus = current
        self.target: ConversationStatus = target


OWNERSHIP = TransitionTable[ConversationStatus](
    "a conversation",
    {
        ConversationStatus.BOT: frozenset({ConversationStatus.QUEUED, ConversationStatus.RESOLVED}),
        ConversationStatus.QUEUED: frozenset(
            {ConversationStatus.AGENT, ConversationStatus.BOT, ConversationStatus.RESOLVED}
        ),
        ConversationStatus.AGENT: frozenset(
            {ConversationStatus.QUEUED, ConversationStatus.BOT, ConversationStatus.RESOLVED}
        ),
        ConversationStatus.RESOLVED: frozenset(),
    },
    illegal=IllegalTransition,
)


def check_transition(current: ConversationStatus, target: ConversationStatus) -> None:
    """Raise IllegalTransition unless OWNERSHIP allows current -> target."""
    check(OWNERSHIP, current, target)


@dataclass(frozen=True)
class HandoffRequest:
    """What the agent who takes the conversation needs, so the customer repeats nothing."""

    reason: str  # "asked" (the customer asked for a person), "not_understood", ...
    intent: str | None = None  # what the customer was trying to do
    flow: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    language: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def request_handoff(
    session: AsyncSession, conversation: Conversation, request: HandoffRequest, now: datetime
) -> None:
    """Queue the conversation for a person; from now on the bot says nothing in it.

    The summary is kept with the conversation for the inbox. Raises IllegalTransition
    when the conversation is not the bot's (already queued, with an agent, resolved).
    """
    before = conversation.status
    check_transition(before, ConversationStatus.QUEUED)
    conversation.status = ConversationStatus.QUEUED
    conversation.assigned_agent_id = None
    conversation.handoff = {**request.to_json(), "requested_at": now.isoformat()}
    conversation.queued_at = now
    conversation.updated_at = now
    session.add(
        ConversationEvent(
            conversation_id=conversation.id,
            kind="queued",
            from_status=before.value,
            to_status=ConversationStatus.QUEUED.value,
            data={"reason": request.reason},
            created_at=now,
        )
    )
    await session.flush()
