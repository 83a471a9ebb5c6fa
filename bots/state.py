"""The chatbot's memory of one conversation, kept in `conversations.bot_state`.

It lives on the conversation, not on a channel, so a customer who leaves a flow on web
chat and comes back on WhatsApp finds it where they left it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# How many flows a customer may leave half-done and come back to.
MAX_PAUSED = 3


@dataclass
class FlowState:
    """One flow under way: its slots, and the slot it asked for last."""

    name: str
    slots: dict[str, Any] = field(default_factory=dict)
    awaiting: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "slots": self.slots, "awaiting": self.awaiting}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FlowState:
        return cls(str(raw["name"]), dict(raw.get("slots") or {}), raw.get("awaiting"))


@dataclass
class BotState:
    active: FlowState | None = None
    paused: list[FlowState] = field(default_factory=list)  # most recent first
    misses: int = 0  # messages in a row the bot did not understand
    offered_resume: bool = False  # the last answer asked whether to resume a paused flow
    extra: dict[str, Any] = field(default_factory=dict)  # flows' own memory (one-time codes)

    def pause_active(self) -> None:
        if self.active is not None:
            self.paused = [self.active, *[p for p in self.paused if p.name != self.active.name]]
            del self.paused[MAX_PAUSED:]
            self.active = None

    def take_paused(self, name: str | None = None) -> FlowState | None:
        for index, paused in enumerate(self.paused):
            if name is None or paused.name == name:
                return self.paused.pop(index)
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "active": self.active.to_json() if self.active else None,
            "paused": [p.to_json() for p in self.paused],
            "misses": self.misses,
            "offered_resume": self.offered_resume,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> BotState:
        if not raw:
            return cls()
        active = raw.get("active")
        return cls(
            active=FlowState.from_json(active) if active else None,
            paused=[FlowState.from_json(p) for p in raw.get("paused") or []],
            misses=int(raw.get("misses") or 0),
            offered_resume=bool(raw.get("offered_resume")),
            extra=dict(raw.get("extra") or {}),
        )
