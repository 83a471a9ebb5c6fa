"""The main menu: what the bot can do, offered as buttons (numbered on SMS)."""

from __future__ import annotations

from typing import Any

from bots.flows.base import Context
from dialogue.messages import Button

MENU = (
    ("menu.order_status", "order_status"),
    ("menu.check_stock", "check_stock"),
    ("menu.reserve_item", "reserve_item"),
    ("menu.start_return", "start_return"),
    ("menu.store_info", "store_info"),
    ("menu.human_handoff", "human_handoff"),
)


def menu_buttons(ctx: Context) -> tuple[Button, ...]:
    return tuple(ctx.button(key, f"intent:{intent}") for key, intent in MENU)


def say_menu(ctx: Context, key: str, **params: Any) -> None:
    ctx.say(key, buttons=menu_buttons(ctx), **params)
