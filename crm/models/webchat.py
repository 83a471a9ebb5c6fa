"""Web-chat sites: where the widget may be embedded and how their users are vouched for."""

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
