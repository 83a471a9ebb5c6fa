"""Saved segments: a marketer's rule over the CRM, kept as the JSON it was written in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, BigId, Json, utcnow


class Segment(Base):
    """A named rule (crm.segments.rules). Archived, never deleted: campaigns name it."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # The rule as its JSON (crm.segments.rules.RULE validates it on the way in and out).
    rule: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    archived_at: Mapped[datetime | None]
