"""Conversations and their messages on every channel (the router fills them)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.models.base import Base, BigId, Json, str_enum, utcnow
from crm.models.enums import (
    Channel,
    ConversationStatus,
    DeliveryStatus,
    MessageAuthor,
    MessageDirection,
)

# WhatsApp's customer-service window: for this long after the customer's last message
# (last_inbound_at) a business may write freely; past it, only an approved template.
WHATSAPP_WINDOW = timedelta(hours=24)

_OPEN = text("status != 'resolved'")
_UNPROCESSED = text("direction = 'inbound' AND processed_at IS NULL")
_UNSENT = text("direction = 'outbound' AND delivery_status = 'pending'")


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index(None, "customer_id", "status"),
        Index(None, "status", "updated_at"),
        Index(None, "assigned_agent_id", "status"),
        # One open conversation per customer, whatever the channel: concurrent first
        # messages cannot open two.
        Index(
            "uq_conversations_open_customer",
            "customer_id",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[ConversationStatus] = mapped_column(
        str_enum(ConversationStatus), default=ConversationStatus.BOT
    )
    assigned_agent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("agents.id"))
    # Replies go out on the channel of the customer's latest message.
    last_channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    last_address: Mapped[str] = mapped_column(String(128))
    last_inbound_at: Mapped[datetime | None]  # WhatsApp's 24-hour window starts here
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None]
    # The chatbot's memory of this conversation (active and paused flows, their slots,
    # failed understandings in a row): it follows the customer across channels.
    bot_state: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # Why the conversation was queued for a person, and what the bot knew by then
    # (dialogue.handoff.HandoffRequest): the agent's summary.
    handoff: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # The inbox: which team's queue, when it was queued and taken, the first reply of a
    # person (time to first response), who resolved it, and the customer's 1-5 score.
    team: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime | None]
    assigned_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(16))  # "bot" or "agent"
    csat_asked_at: Mapped[datetime | None]
    csat_score: Mapped[int | None]

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="Message.id"
    )


class ConversationEvent(Base):
    """Every change of hands, in order: the history the inbox shows and metrics read."""

    __tablename__ = "conversation_events"
    __table_args__ = (Index(None, "conversation_id", "id"), Index(None, "kind", "created_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    # queued, assigned, claimed, transferred, unassigned, resolved, handed_back, csat...
    kind: Mapped[str] = mapped_column(String(32))
    # Plain strings: two CHECKs of one enum in a table would share a constraint name.
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    agent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("agents.id"))  # who acted
    data: Mapped[dict[str, Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    # A provider's retry of the same message carries the same id: stored once.
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id"),
        Index(None, "conversation_id", "id"),
        Index(None, "channel", "address", "id"),  # a web-chat visitor's history
        # What the router has still to answer, and what the outbox has still to send.
        Index(
            "ix_messages_unprocessed",
            "conversation_id",
            "id",
            sqlite_where=_UNPROCESSED,
            postgresql_where=_UNPROCESSED,
        ),
        Index(
            "ix_messages_unsent", "next_attempt_at", sqlite_where=_UNSENT, postgresql_where=_UNSENT
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    direction: Mapped[MessageDirection] = mapped_column(str_enum(MessageDirection))
    author: Mapped[MessageAuthor] = mapped_column(str_enum(MessageAuthor))
    agent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("agents.id"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    address: Mapped[str | None] = mapped_column(String(128))  # the customer's, on `channel`
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text, default="")
    # Structured content (buttons, media); rendered per channel by the outbox.
    payload: Mapped[dict[str, Any] | None] = mapped_column(Json)
    private: Mapped[bool] = mapped_column(default=False)  # an agent's note, never sent
    delivery_status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus))
    error_code: Mapped[str | None] = mapped_column(String(16))
    # Inbound: when the router answered it (None: still to do, also after a crash).
    processed_at: Mapped[datetime | None]
    # Outbound: sending attempts so far, and when the next may start (a lease while
    # one is in flight, a back-off after a transient failure).
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class InboundReceipt(Base):
    """A customer's message as a provider delivered it, written before its webhook is
    acknowledged and deleted once the router has stored it as a message.

    Writing it is one statement: the acknowledgement waits for nothing else. Storing
    it (sender, conversation, message) follows at once, in receipt order; whatever a
    crash leaves here is stored by the next recovery sweep. See dialogue.router.
    """

    __tablename__ = "inbound_receipts"
    # A provider's retry while the first delivery is still here is written once.
    __table_args__ = (UniqueConstraint("channel", "provider_message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    provider_message_id: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # Storing it failed this many times; the next try waits until next_attempt_at.
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class WaitingDeliveryUpdate(Base):
    """A provider's status callback about a message the hub has not yet recorded as
    sent with that provider id.

    The provider may call back before the process that sent the message has written
    down the provider's id for it (another process, or a crash in between). The update
    is kept here, acknowledged, and applied once the message is found; see
    dialogue.deliveries.
    """

    __tablename__ = "waiting_delivery_updates"
    __table_args__ = (Index(None, "channel", "provider_message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    provider_message_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus))
    error_code: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
