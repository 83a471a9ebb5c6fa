"""What every flow is made of: the turn's context, and the Flow interface.

A flow is a small state machine with slots (like a Rasa form). For every message while
it is active, `advance` reads what the message brings (entities, a pressed button, a
bare answer to the question it asked last), keeps it in its slots (a later value is a
correction and wins), then either asks for the next thing it lacks or finishes.
Its state is plain JSON in the conversation (bots.state), so it survives restarts
and changes of channel.

Button payloads the framework understands:
- `intent:NAME`: as if the customer had written something meaning NAME (menus);
- `FLOW:SLOT=VALUE`: fills SLOT of the flow FLOW (choices a flow offered).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bots.catalogue import say
from bots.notices import queued_text
from bots.state import BotState, FlowState
from crm.models import Conversation, Customer, Language
from dialogue.handoff import HandoffRequest, IllegalTransition, request_handoff
from dialogue.inbox import SupportHours, estimate_wait
from dialogue.messages import Button, Reply
from dialogue.ports import Turn, Understanding

# Two messages in a row not understood: a person takes over.
MISSES_BEFORE_HANDOFF = 2
# How sure the NLU must be that a message asks for another task before it is taken
# as that rather than as an answer to the question a flow asked.
CLEAR_REQUEST = 0.6
# The main menu: what the bot can do, as (text key, intent its button starts).
MENU = (
    ("menu.order_status", "order_status"),
    ("menu.check_stock", "check_stock"),
    ("menu.reserve_item", "reserve_item"),
    ("menu.start_return", "start_return"),
    ("menu.store_info", "store_info"),
    ("menu.human_handoff", "human_handoff"),
)


class Step(enum.Enum):
    WAITING = "waiting"  # asked the customer something; stays active
    DONE = "done"  # finished (or gave up); leaves the conversation's flows


@dataclass
class Context:
    """Everything a flow may use to answer one message."""

    session: AsyncSession
    turn: Turn
    conversation: Conversation
    customer: Customer
    language: Language
    understanding: Understanding
    state: BotState
    now: datetime
    verified: bool  # the channel identity the customer writes from is vouched for
    replies: list[Reply] = field(default_factory=list)
    support: SupportHours = field(default_factory=SupportHours)  # when people answer

    @property
    def text(self) -> str:
        return self.turn.inbound.text.strip()

    @property
    def payload(self) -> str | None:
        return self.turn.inbound.payload

    @property
    def intent(self) -> str:
        return self.understanding.intent

    def t(self, key: str, **params: Any) -> str:
        return say(key, self.language, **params)

    def say(self, key: str, *, buttons: Iterable[Button] = (), **params: Any) -> None:
        self.replies.append(Reply(self.t(key, **params), tuple(buttons)))

    def reply(self, text: str, buttons: Iterable[Button] = ()) -> None:
        self.replies.append(Reply(text, tuple(buttons)))

    def button(self, key: str, payload: str, **params: Any) -> Button:
        return Button(self.t(key, **params), payload)

    def entity(self, name: str) -> str | None:
        """The last value of an entity in this message (a correction comes last)."""
        values = self.entities(name)
        return values[-1] if values else None

    def entities(self, name: str) -> list[str]:
        return [e.value for e in self.understanding.entities if e.name == name]

    def choice(self, flow: str) -> tuple[str, str] | None:
        """The (slot, value) of a button of `flow` the customer pressed, if any."""
        payload = self.payload
        if payload is None or not payload.startswith(f"{flow}:") or "=" not in payload:
            return None
        slot, value = payload[len(flow) + 1 :].split("=", 1)
        return slot, value

    def menu_buttons(self) -> tuple[Button, ...]:
        """What the bot can do, as buttons (numbered on SMS)."""
        return tuple(self.button(key, f"intent:{intent}") for key, intent in MENU)

    def say_menu(self, key: str, **params: Any) -> None:
        self.say(key, buttons=self.menu_buttons(), **params)

    async def not_understood(self) -> None:
        """Say so and offer the menu; the second time in a row, a person takes over."""
        self.state.misses += 1
        if self.state.misses >= MISSES_BEFORE_HANDOFF:
            self.state.misses = 0
            if await self.hand_off("not_understood", flow=self.state.active):
                return
        self.say_menu("fallback.not_understood")

    async def hand_off(self, reason: str, *, flow: FlowState | None = None) -> bool:
        """Queue the conversation for a person and tell the customer what happens next.

        False (and nothing changes) when it is not the bot's to hand off.
        """
        request = HandoffRequest(
            reason=reason,
            intent=self.intent,
            flow=flow.name if flow else None,
            slots=dict(flow.slots) if flow else {},
            language=self.language.value,
        )
        try:
            await request_handoff(self.session, self.conversation, request, self.now)
        except IllegalTransition:
            return False
        wait = await estimate_wait(self.session, self.conversation, self.support, self.now)
        self.reply(queued_text(self.language, wait, ZoneInfo(self.support.zone), self.now))
        return True


class Flow(ABC):
    """One self-service task. Subclasses are stateless: their state is a FlowState."""

    name: ClassVar[str]
    # Intents that start this flow when no other flow claims the message.
    intents: ClassVar[frozenset[str]]
    # Entities that, in a message while this flow waits, are an answer for it.
    slot_entities: ClassVar[frozenset[str]] = frozenset()

    def wants(self, ctx: Context, state: FlowState) -> bool:
        """Whether this message answers this flow (rather than starting another one)."""
        if ctx.payload is not None and ctx.payload.startswith(f"{self.name}:"):
            return True
        if any(e.name in self.slot_entities for e in ctx.understanding.entities):
            return True
        # A bare answer to the question it asked, unless it clearly asks for something
        # else ("en gran via" may look a little like a stock question: it is an answer).
        if state.awaiting is None:
            return False
        understanding = ctx.understanding
        return understanding.intent not in _STARTERS or understanding.confidence < CLEAR_REQUEST

    @abstractmethod
    async def advance(self, ctx: Context, state: FlowState) -> Step:
        """Take in this message; ask for what is missing or finish."""

    async def resume(self, ctx: Context, state: FlowState) -> Step:
        """The customer came back to this flow: ask again for what it was waiting for."""
        return await self.advance(ctx, state)


# Intents that clearly ask for something (a flow, a person, an opt-out): they are never
# taken as a bare answer to another flow's question.
_STARTERS = frozenset(
    {
        "order_status",
        "check_stock",
        "reserve_item",
        "cancel_reservation",
        "start_return",
        "store_info",
        "purchase_history",
        "human_handoff",
        "opt_out",
        "opt_in",
        "change_language",
        "cancel_flow",
    }
)
