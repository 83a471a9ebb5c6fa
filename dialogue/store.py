"""How dialogue's message types are kept in the messages table, and read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from crm.models import Channel
from dialogue.messages import Button, Inbound, Media, Reply, Template


def inbound_payload(inbound: Inbound) -> dict[str, Any]:
    """What an inbound message carries beyond its text, kept so it can be rebuilt."""
    return {
        "payload": inbound.payload,
        "media": [{"url": m.url, "content_type": m.content_type} for m in inbound.media],
        "display_name": inbound.display_name,
        "vouched_phone": inbound.vouched_phone,
        "shop_customer_id": inbound.shop_customer_id,
        "sent_at": inbound.sent_at.isoformat() if inbound.sent_at else None,
    }


class StoredInbound(Protocol):
    """What a stored inbound message has: a `Message`, or a row of its columns."""

    @property
    def id(self) -> int: ...
    @property
    def channel(self) -> Channel: ...
    @property
    def provider_message_id(self) -> str | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def body(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any] | None: ...


def inbound_from_message(message: StoredInbound) -> Inbound:
    """The Inbound a stored message was made from (after a restart, too)."""
    extra = message.payload or {}
    return Inbound(
        channel=message.channel,
        provider_id=message.provider_message_id or str(message.id),
        address=message.address or "",
        text=message.body,
        payload=extra.get("payload"),
        media=tuple(Media(m["url"], m["content_type"]) for m in extra.get("media", [])),
        display_name=extra.get("display_name"),
        vouched_phone=extra.get("vouched_phone"),
        shop_customer_id=extra.get("shop_customer_id"),
        sent_at=datetime.fromisoformat(extra["sent_at"]) if extra.get("sent_at") else None,
    )


def buttons_payload(buttons: tuple[Button, ...]) -> dict[str, Any] | None:
    if not buttons:
        return None
    return {"buttons": [{"title": b.title, "payload": b.payload} for b in buttons]}


def offered_buttons(payload: dict[str, Any] | None) -> tuple[Button, ...]:
    """The choices an outbound message offered (from its payload), however rendered."""
    raw = (payload or {}).get("buttons", [])
    return tuple(Button(b["title"], b["payload"]) for b in raw)


def reply_payload(reply: Reply) -> dict[str, Any] | None:
    """What an outbound reply carries beyond its text: its choices, its template."""
    payload = buttons_payload(reply.buttons) or {}
    if reply.template is not None:
        payload["template"] = {
            "content_sid": reply.template.content_sid,
            "variables": dict(reply.template.variables),
        }
    return payload or None


def template_of(payload: dict[str, Any] | None) -> Template | None:
    raw = (payload or {}).get("template")
    if not raw:
        return None
    return Template(str(raw["content_sid"]), {str(k): str(v) for k, v in raw["variables"].items()})
