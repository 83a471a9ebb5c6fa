"""Test doubles of dialogue's ports: a scripted responder and a recording sender.

They stand in for the chatbot (which the chatbot issue plugs in) and for a provider
in the router's own tests; end-to-end tests use the real adapters and fake providers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Channel, DeliveryStatus
from dialogue.messages import Button, Outgoing, Reply, SendReceipt
from dialogue.ports import Capabilities, SendError, Turn

MENU = (Button("Order status", "order_status"), Button("Store hours", "store_info"))


class EchoResponder:
    """Answers "echo: TEXT" (or the pressed payload); "menu" offers two choices.

    "boom" raises, as a crashing bot would, so tests can see that the message stays
    unprocessed and is answered once the hub recovers.
    """

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.fail = False

    async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]:
        if self.fail or turn.inbound.text == "boom":
            raise RuntimeError("the bot crashed")
        self.turns.append(turn)
        if turn.inbound.payload:
            return [Reply(f"chose: {turn.inbound.payload}")]
        if turn.inbound.text == "menu":
            return [Reply("What can I do for you?", MENU)]
        return [Reply(f"echo: {turn.inbound.text}")]


@dataclass
class RecordingSender:
    """A ChannelSender that keeps what it was asked to send, failing on request."""

    channel: Channel
    capabilities: Capabilities
    sent: list[Outgoing] = field(default_factory=list)
    failures: list[SendError] = field(default_factory=list)  # raised, first first
    status: DeliveryStatus = DeliveryStatus.QUEUED
    gate: asyncio.Event | None = None  # when set, sends wait for it
    # Told of each receipt as the provider hands it over (a provider calling back).
    on_receipt: Callable[[SendReceipt], None] | None = None
    typed: list[str] = field(default_factory=list)  # typing indicators shown, by address

    async def typing(self, address: str) -> None:
        self.typed.append(address)

    async def send(self, message: Outgoing) -> SendReceipt:
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        receipt = SendReceipt(provider_id=f"P{message.message_id}", status=self.status)
        if self.on_receipt is not None:
            self.on_receipt(receipt)
        return receipt


SMS = Capabilities(max_buttons=0, max_length=1600, typing=False)
CHAT = Capabilities(max_buttons=8, max_length=4096, typing=True)


@dataclass
class Heard:
    """A dialogue.ports.Listener that writes down what the router tells it."""

    answered_ids: list[list[int]] = field(default_factory=list)
    changed: list[list[tuple[int, int]]] = field(default_factory=list)
    gave_up: list[int] = field(default_factory=list)
    answered_once: asyncio.Event = field(default_factory=asyncio.Event)

    async def answered(self, conversation_ids: list[int]) -> None:
        self.answered_ids.append(conversation_ids)
        self.answered_once.set()

    async def delivered(self, changed: list[tuple[int, int]]) -> None:
        self.changed.append(changed)

    async def bot_gave_up(self, conversation_id: int) -> None:
        self.gave_up.append(conversation_id)
