"""The interfaces dialogue/ needs from the outside; adapters/ and bots/ implement them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Channel, Language
from dialogue.messages import DeliveryUpdate, Inbound, Outgoing, Reply, SendReceipt


@dataclass(frozen=True)
class Capabilities:
    """What a channel can carry; the outbox renders every reply to fit."""

    max_buttons: int  # native choices per message; 0 means numbered text instead
    max_length: int  # characters per message; longer text is split
    typing: bool  # can show that someone is typing


class SendError(Exception):
    """A send failed; subclasses say whether trying again can help."""

    def __init__(self, reason: str, *, code: str | None = None):
        super().__init__(reason)
        self.code = code


class TransientSendError(SendError):
    """Worth retrying later: rate limits (429), provider errors (5xx), the network."""

    def __init__(self, reason: str, *, code: str | None = None, retry_after: float | None = None):
        super().__init__(reason, code=code)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Retrying the same message cannot succeed."""


class RecipientOptedOut(PermanentSendError):
    """The recipient said STOP to the provider (Twilio 21610): record an opt-out."""


class RecipientUnreachable(PermanentSendError):
    """The recipient blocked the bot or no longer exists (Telegram 403)."""


class OutsideWindow(PermanentSendError):
    """WhatsApp's 24-hour window is closed: only an approved template may go."""


class ChannelSender(Protocol):
    """Sends on one channel through the provider's own library."""

    @property
    def channel(self) -> Channel: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def send(self, message: Outgoing) -> SendReceipt:
        """Hand one message to the provider; raise a SendError subclass on failure."""
        ...

    async def typing(self, address: str) -> None:
        """Show that someone is typing (channels whose capabilities say `typing`)."""
        ...


@dataclass(frozen=True)
class Accepted:
    """A stored message's id, and whether this call stored it."""

    message_id: int
    # False: an earlier call with the same channel and provider id stored it (a retry,
    # or someone else sending that id again). Exactly one call sees True.
    new: bool


class InboundSink(Protocol):
    """Where adapters deliver what providers send: the router."""

    async def accept(self, inbound: Inbound) -> int:
        """Store the message durably (once per provider id) and return its id.

        Returns only after the message is committed, so a webhook that awaits this
        may acknowledge the provider: a crash afterwards loses nothing.
        """
        ...

    async def accept_new(self, inbound: Inbound) -> Accepted:
        """`accept`, telling also whether this call was the one that stored it."""
        ...

    async def receive(self, inbound: Inbound) -> None:
        """Record the message durably (once per provider id), to be stored and answered.

        What provider webhooks call: returns once the message is committed, possibly
        before it is stored as a message (`accept`'s id is not known yet), so that
        acknowledging waits for as little as possible.
        """
        ...

    async def delivery(self, update: DeliveryUpdate) -> None:
        """Record a provider's status callback on the message it refers to."""
        ...


@dataclass(frozen=True)
class Turn:
    """One customer message for the responder to answer, with where it stands."""

    conversation_id: int
    customer_id: int
    message_id: int
    inbound: Inbound


class Responder(Protocol):
    """Decides what to answer (the chatbot); runs in the router's transaction."""

    async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]: ...


@dataclass(frozen=True)
class Entity:
    """Something named in a message: an order number, a product, a store, a size..."""

    name: str  # the entity type: order_number, product, store, size, color, quantity, email...
    value: str  # normalised: the canonical lookup value when one matched, else the text
    text: str  # as the customer wrote it
    start: int
    end: int


@dataclass(frozen=True)
class Understanding:
    """What an NLU engine made of one message."""

    intent: str  # one of bots' intent names; `out_of_scope` below the confidence threshold
    confidence: float
    entities: tuple[Entity, ...] = ()
    # The language the message is written in, or None when it does not tell ("ok", "2").
    language: Language | None = None


class NluEngine(Protocol):
    """Understands a customer's message: the embedded engine, or a Rasa server."""

    async def parse(self, text: str) -> Understanding: ...


@dataclass(frozen=True)
class IdentityVerified:
    """A channel identity proved by a one-time code (dialogue.verification)."""

    channel: Channel
    address: str
    provider_id: str  # of the message that carried the code


# Work to do once the transaction that changed something has committed.
AfterCommit = Callable[[], Coroutine[Any, Any, None]]


class IdentityGuard(Protocol):
    """A channel whose credentials must not outlive an identity's proof.

    Whatever a channel handed out before the proof (the web chat's session tokens) may
    have been copied by someone else: once the identity is the customer's, it must no
    longer act as them. Called in the transaction that verifies the identity, so the
    end commits with the proof or not at all; what it returns runs after the commit
    (telling open connections), before the answer to that message goes out.
    """

    async def verified(
        self, session: AsyncSession, event: IdentityVerified
    ) -> AfterCommit | None: ...


class Bus(Protocol):
    """Publish/subscribe between the hub's processes (in-process or Redis)."""

    async def publish(self, topic: str, data: bytes) -> None: ...

    def subscribe(self, topic: str) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True)
class Hints:
    """What an `omnihub worker` took from the AnswerQueue at once."""

    conversation_ids: list[int] = field(default_factory=list)  # with messages to answer
    receipts: bool = False  # inbound receipts wait to be stored as messages
    deliveries: bool = False  # status callbacks wait to be applied to their messages


class AnswerQueue(Protocol):
    """What `serve` leaves to `omnihub worker` processes (`OMNIHUB_ANSWERING=worker`):
    receipts to store as messages, status callbacks to apply, and conversations with
    messages to answer.

    Hints, not the record: the receipts, callbacks and messages are in the database, and
    a recovery sweep takes up whatever a lost hint leaves behind. Each hint reaches one
    taker.
    """

    async def put(self, conversation_ids: Sequence[int]) -> None:
        """These conversations have messages to answer."""
        ...

    async def put_receipts(self) -> None:
        """Receipts wait to be stored as messages."""
        ...

    async def put_deliveries(self) -> None:
        """Status callbacks wait to be applied (dialogue.deliveries)."""
        ...

    async def take(self, most: int) -> Hints:
        """Wait for up to `most` hints, and return what they say together; empty
        Hints after a while without any."""
        ...


class Listener(Protocol):
    """What the router tells others, each after the commit it is about (the inbox)."""

    async def answered(self, conversation_ids: list[int]) -> None:
        """Messages of these conversations were answered (or passed, an agent's)."""

    async def delivered(self, changed: list[tuple[int, int]]) -> None:
        """Outbound messages' delivery statuses changed: (conversation id, message id)."""

    async def bot_gave_up(self, conversation_id: int) -> None:
        """The bot failed on a message MAX_ANSWER_ATTEMPTS times: a person takes it."""


class Nobody:
    """A Listener that hears nothing (tests that do not ask)."""

    async def answered(self, conversation_ids: list[int]) -> None:
        pass

    async def delivered(self, changed: list[tuple[int, int]]) -> None:
        pass

    async def bot_gave_up(self, conversation_id: int) -> None:
        pass
