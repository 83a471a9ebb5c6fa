"""Customers, their per-channel addresses and their consent history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.models.base import Base, BigId, Json, str_enum, utcnow
from crm.models.enums import (
    Channel,
    ConsentPurpose,
    DeliveryStatus,
    FunnelStage,
    Language,
    VerificationMethod,
)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The shop's own id for the customer; None for someone who only ever chatted.
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    # E.164; not unique: households share a phone, and the shop's data is not proof.
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    language: Mapped[Language | None] = mapped_column(str_enum(Language))
    timezone: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[str | None] = mapped_column(String(2))
    tags: Mapped[list[str]] = mapped_column(Json, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    funnel_stage: Mapped[FunnelStage] = mapped_column(
        str_enum(FunnelStage), default=FunnelStage.LEAD
    )
    loyalty_points: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="customer")


class ChannelIdentity(Base):
    """One address on one channel (a phone on WhatsApp, a Telegram user id...).

    It belongs to exactly one customer. Unverified identities are never used to merge
    customers: each unknown address gets a profile of its own until someone vouches.
    """

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    address: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(200))
    verified: Mapped[bool] = mapped_column(default=False)
    verified_by: Mapped[VerificationMethod | None] = mapped_column(str_enum(VerificationMethod))
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(back_populates="identities")


class Consent(Base):
    """One consent decision. The history is append-only: the newest row wins.

    An opt-out is recorded as a row with granted=False, never by deleting a grant, so
    the hub can always show who said what, where and when.
    """

    __tablename__ = "consents"
    __table_args__ = (Index(None, "customer_id", "channel", "purpose", "recorded_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    purpose: Mapped[ConsentPurpose] = mapped_column(str_enum(ConsentPurpose))
    granted: Mapped[bool]
    # What recorded it: "api", "keyword:BAJA", "twilio:21610", "agent:12"...
    source: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class OneTimeCodeEvent(Base):
    """A one-time code sent to a customer's phone, a wrong one typed, or a notice that
    codes are paused for them.

    Counted per customer, whatever chat asked (opening new chats buys no more codes and
    no more guesses), and per asking chat (`asker_id`: the profile of whoever typed it,
    so a guesser locks only their own chat); see bots.flows.verification.
    A "sent" or "paused" row is also the record of the SMS it stands for, which is no
    message of any conversation: `body` is what it said with the code masked, never the
    code; `destination` the phone's last digits; then what the provider made of it.
    """

    __tablename__ = "one_time_code_events"
    __table_args__ = (
        Index(None, "customer_id", "kind", "created_at"),
        Index(None, "asker_id", "kind", "created_at"),
        Index(None, "channel", "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Whose phone the code is for; None: a wrong code typed when nobody matched.
    customer_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="CASCADE")
    )
    # Who asked or typed it: the profile of the chat, which may be someone else's.
    asker_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(8))  # "sent", "wrong" or "paused"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "paused": codes for this customer are not sent or accepted until then.
    until: Mapped[datetime | None]
    # The SMS of a "sent" or "paused" row: masked, as it is shown and kept.
    channel: Mapped[Channel | None] = mapped_column(str_enum(Channel))
    destination: Mapped[str | None] = mapped_column(String(16))  # "··45"
    body: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    delivery_status: Mapped[DeliveryStatus | None] = mapped_column(str_enum(DeliveryStatus))
    error_code: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime | None]
