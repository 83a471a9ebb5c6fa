"""The web chat's wire format: frames the widget sends, frames the hub sends, bus topics."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.channels.webchat.texts import FrameError
from crm.models import Message
from crm.text import storable
from dialogue.messages import Button, Outgoing

MAX_TEXT = 4000
MAX_BUTTONS = 10  # quick replies under one message
MAX_PAYLOAD = 1000
# UUIDs and the widget's fallback ids fit; the router stores "<visitor>:<id>" in 128.
# Matched whole (fullmatch): "$" would let "abc\n" through as a second id for "abc".
_CLIENT_MSG_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def visitor_topic(visitor_id: str) -> str:
    """The bus topic carrying everything one visitor's open widgets should see."""
    return f"webchat.visitor.{visitor_id}"


# -- from the widget -------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    token: object  # checked by tokens.read_token
    last_seen_id: int
    language: str | None


@dataclass(frozen=True)
class Said:
    """A visitor's message, typed or chosen from quick replies."""

    client_msg_id: str
    text: str
    payload: str | None = None  # the pressed quick reply's payload


class BadFrame(Exception):
    def __init__(self, error: FrameError, client_msg_id: str | None = None):
        super().__init__(error.value)
        self.error = error
        self.client_msg_id = client_msg_id


def _object(raw: str) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json reads
        return None
    return data if isinstance(data, dict) else None


def parse_hello(raw: str) -> Hello | None:
    """The first frame, or None when it is anything but a well-formed hello."""
    data = _object(raw)
    if data is None or data.get("type") != "hello":
        return None
    last_seen = data.get("last_seen_id", 0)
    # bool is an int to Python, never a message id.
    if not isinstance(last_seen, int) or isinstance(last_seen, bool) or last_seen < 0:
        return None
    language = data.get("lang")
    return Hello(
        token=data.get("token"),
        last_seen_id=last_seen,
        language=language if isinstance(language, str) else None,
    )


def parse_said(raw: str) -> Said:
    """A frame after the hello; raises BadFrame saying what is wrong with it."""
    data = _object(raw)
    if data is None:
        raise BadFrame(FrameError.NOT_JSON)
    kind = data.get("type")
    if kind not in ("message", "choice"):
        raise BadFrame(FrameError.UNKNOWN_TYPE)
    client_msg_id = data.get("client_msg_id")
    if not isinstance(client_msg_id, str) or not client_msg_id:
        raise BadFrame(FrameError.MISSING_CLIENT_MSG_ID)
    if not _CLIENT_MSG_ID.fullmatch(client_msg_id):
        # Refused, not tidied: "abc" and "abc\n" would be one message sent twice.
        raise BadFrame(FrameError.BAD_CLIENT_MSG_ID)
    text = data.get("text", "" if kind == "choice" else None)
    if not isinstance(text, str):
        raise BadFrame(FrameError.EMPTY, client_msg_id)
    if len(text) > MAX_TEXT:
        raise BadFrame(FrameError.TOO_LONG, client_msg_id)
    if not storable(text):
        raise BadFrame(FrameError.BAD_TEXT, client_msg_id)
    if kind == "message":
        if not text.strip():
            raise BadFrame(FrameError.EMPTY, client_msg_id)
        return Said(client_msg_id=client_msg_id, text=text)
    payload = data.get("payload")
    if (
        not isinstance(payload, str)
        or not payload
        or len(payload) > MAX_PAYLOAD
        or not storable(payload)
    ):
        raise BadFrame(FrameError.BAD_CHOICE, client_msg_id)
    return Said(client_msg_id=client_msg_id, text=text, payload=payload)


# -- to the widget ---------------------------------------------------------------------


def _encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class MessageFrame:
    """One message of the visitor's conversation, as the widget shows it."""

    id: int  # the hub's message id: the widget dedupes replayed and live copies by it
    direction: str
    author: str | None  # unknown on live replies: the outbox does not say who wrote
    text: str
    created_at: datetime
    buttons: tuple[Button, ...] = ()
    # On the visitor's own messages: lets the sending widget match its pending copy.
    client_msg_id: str | None = None

    def encode(self) -> str:
        frame: dict[str, Any] = {
            "type": "message",
            "id": self.id,
            "direction": self.direction,
            "author": self.author,
            "text": self.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
            "created_at": self.created_at.isoformat(),
        }
        if self.client_msg_id is not None:
            frame["client_msg_id"] = self.client_msg_id
        return _encode(frame)

    @classmethod
    def from_row(cls, row: Message, visitor_id: str) -> MessageFrame:
        prefix = f"{visitor_id}:"
        provider_id = row.provider_message_id or ""
        return cls(
            id=row.id,
            direction=row.direction.value,
            author=row.author.value,
            text=row.body,
            created_at=row.created_at,
            buttons=_buttons(row.payload),
            client_msg_id=provider_id.removeprefix(prefix)
            if provider_id.startswith(prefix)
            else None,
        )

    @classmethod
    def from_outgoing(cls, outgoing: Outgoing, now: datetime) -> MessageFrame:
        return cls(
            id=outgoing.message_id,
            direction="outbound",
            author=None,
            text=outgoing.text,
            created_at=now,
            buttons=outgoing.buttons,
        )


def _buttons(payload: dict[str, Any] | None) -> tuple[Button, ...]:
    # Written by the router; read defensively, since a bad row must not break a replay.
    raw = (payload or {}).get("buttons")
    # Past MAX_BUTTONS the outbox wrote the choices into the text as a numbered list,
    # and the live copy came without buttons: the replay must look the same.
    if not isinstance(raw, list) or len(raw) > MAX_BUTTONS:
        return ()
    return tuple(
        Button(title=b["title"], payload=b["payload"])
        for b in raw
        if isinstance(b, dict)
        and isinstance(b.get("title"), str)
        and isinstance(b.get("payload"), str)
    )


def ack_frame(client_msg_id: str, message_id: int) -> str:
    return _encode({"type": "ack", "client_msg_id": client_msg_id, "id": message_id})


def error_frame(
    error: FrameError, reason: str, client_msg_id: str | None, *, retry_after: int | None = None
) -> str:
    frame: dict[str, Any] = {"type": "error", "code": error.value, "reason": reason}
    if client_msg_id is not None:
        frame["client_msg_id"] = client_msg_id
    if retry_after is not None:
        frame["retry_after"] = retry_after  # seconds until the visitor may send again
    return _encode(frame)


def ended_frame(generation: int) -> str:
    """On the bus only: the visitor's tokens older than `generation` were ended."""
    return _encode({"type": "ended", "generation": generation})


def proved_frame(generation: int, provider_id: str) -> str:
    """On the bus only: the visitor proved who they are by a one-time code in the
    message `provider_id`; their tokens older than `generation` were ended."""
    return _encode({"type": "proved", "generation": generation, "provider_id": provider_id})


def token_frame(token: str) -> str:
    """To the one socket whose message proved the visitor: the token to go on with."""
    return _encode({"type": "token", "token": token})


READY_FRAME = _encode({"type": "ready"})
TYPING_FRAME = _encode({"type": "typing"})


@dataclass(frozen=True)
class BusFrame:
    """A frame read back from the bus: just enough to route it."""

    type: str
    raw: str
    message_id: int | None = None
    generation: int | None = None  # on "ended" and "proved" frames
    provider_id: str | None = None  # on "proved" frames


def read_bus_frame(data: bytes) -> BusFrame | None:
    try:
        raw = data.decode()
    except UnicodeDecodeError:
        return None
    frame = _object(raw)
    if frame is None or not isinstance(frame.get("type"), str):
        return None
    message_id, generation = frame.get("id"), frame.get("generation")
    provider_id = frame.get("provider_id")
    return BusFrame(
        type=frame["type"],
        raw=raw,
        message_id=message_id if isinstance(message_id, int) else None,
        generation=generation if isinstance(generation, int) else None,
        provider_id=provider_id if isinstance(provider_id, str) else None,
    )
