"""The shop's people (agents and their roles) and the API tokens of its systems."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, BigId, Json, str_enum, utcnow
from crm.models.enums import AgentRole, Language


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[AgentRole] = mapped_column(str_enum(AgentRole))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Assignment: only agents who said they are available get conversations, up to
    # `capacity` open at once; the least loaded first, then who waited longest.
    available: Mapped[bool] = mapped_column(default=False)
    capacity: Mapped[int] = mapped_column(default=5)
    teams: Mapped[list[str]] = mapped_column(Json, default=list)
    last_assigned_at: Mapped[datetime | None]


class AgentSession(Base):
    """A signed-in agent's browser: the cookie holds a random token, stored hashed."""

    __tablename__ = "agent_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class CannedResponse(Base):
    """A ready answer agents insert, written once per language."""

    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("shortcut", "language"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(64))
    language: Mapped[Language] = mapped_column(str_enum(Language))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    # An approved WhatsApp template (Twilio Content SID, HX...) whose text is `body`, with
    # {{1}}, {{2}}... for its values: the only kind WhatsApp takes past its 24-hour window.
    whatsapp_content_sid: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Base):
    """A bearer token for the shop's systems; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings, never enough to use
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
