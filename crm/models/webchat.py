"""Web-chat sites (where the widget may be embedded, how their users are vouched for) and
which of a visitor's session tokens still hold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, BigId, Json, utcnow


class WebchatSite(Base):
    """One shop website embedding the widget with `data-site-key`."""

    __tablename__ = "webchat_sites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_key: Mapped[str] = mapped_column(String(64), unique=True)  # public, in the page
    name: Mapped[str] = mapped_column(String(200))
    # Origins allowed to open the chat ("https://shop.example"); checked at the
    # websocket upgrade and at session creation.
    allowed_origins: Mapped[list[str]] = mapped_column(Json, default=list)
    # Shared with the shop's backend, which signs its logged-in user's id with it.
    identity_secret: Mapped[str] = mapped_column(String(128))
    # Signs the hub's own session tokens for this site.
    token_secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebchatTokenGeneration(Base):
    """The generation a visitor's session tokens must carry to hold.

    Written only when a visitor's tokens are ended (the visitor signed in, signed out,
    or became another shop user); a visitor without a row is at generation 0.
    """

    __tablename__ = "webchat_token_generations"

    # Visitor ids are random and never reused ("v_" + 24 characters).
    visitor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(default=0)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
