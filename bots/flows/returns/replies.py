"""What the returns flow says: its questions, why an order cannot be returned, dates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bots.flows.base import Context, Step
from bots.flows.returns.purchases import Line, Purchase
from bots.state import FlowState
from crm.errors import NotReturnable, NotReturnableReason
from crm.models import Order, Return, ReturnStatus
from crm.services.returns import RETURN_WINDOW
from crm.zones import first_zone
from dialogue.messages import Button

FLOW = "start_return"
MAX_TITLE = 20  # buttons are short on every channel
MAX_ORDERS = 5  # recent purchases offered as buttons
MAX_CHOICES = 7  # item, quantity and store buttons (leaving room for one more)


def ask_items(ctx: Context, state: FlowState, purchase: Purchase) -> Step:
    state.awaiting = "items"
    lines = purchase.returnable
    listing = "\n".join(f"• {line.label(line.returnable)}" for line in lines)
    buttons = [
        Button(_line_title(line), f"{FLOW}:line={line.line_no}") for line in lines[:MAX_CHOICES]
    ]
    if len(lines) > 1 or lines[0].returnable > 1:
        buttons.append(ctx.button("returns.all", f"{FLOW}:lines=all"))
    ctx.say("returns.ask_items", number=purchase.order.number, items=listing, buttons=buttons)
    return Step.WAITING


def ask_quantity(ctx: Context, state: FlowState, line: Line) -> Step:
    state.awaiting = "quantity"
    buttons = [
        Button(str(n), f"{FLOW}:qty={line.line_no}:{n}")
        for n in range(1, min(line.returnable, MAX_CHOICES) + 1)
    ]
    ctx.say("returns.ask_quantity", item=line.label(line.returnable), buttons=buttons)
    return Step.WAITING


def describe(ctx: Context, purchase: Purchase) -> str:
    order = purchase.order
    where = (
        ctx.t("returns.bought_in_store", store=order.store.name)
        if order.store is not None
        else ctx.t("returns.bought_online")
    )
    names = [line.name for line in purchase.returnable]
    items = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    return ctx.t(
        "returns.order_option",
        number=order.number,
        date=local_date(ctx, order.placed_at),
        where=where,
        items=items,
    )


def explain(ctx: Context, problem: NotReturnable) -> Step:
    """Why this order cannot be returned, in words, with a person when one can help."""
    number = problem.order_number
    if problem.reason is NotReturnableReason.WINDOW_CLOSED and problem.deadline is not None:
        ctx.say("returns.window_closed", number=number, days=RETURN_WINDOW.days,
                date=local_date(ctx, problem.deadline), buttons=(person(ctx),))  # fmt: skip
    elif problem.reason is NotReturnableReason.CANCELLED:
        ctx.say_menu("returns.order_cancelled", number=number)
    else:
        ctx.say("returns.not_received", number=number, buttons=(person(ctx),))
    return Step.DONE


async def say_all_returned(ctx: Context, order: Order) -> None:
    codes = (
        await ctx.session.scalars(
            select(Return.rma_code)
            .where(Return.order_id == order.id, Return.status != ReturnStatus.REJECTED)
            .order_by(Return.created_at, Return.id)
        )
    ).all()
    ctx.say_menu("returns.all_returned", number=order.number, codes=", ".join(codes))


def unverified(ctx: Context) -> Step:
    """We cannot tell who writes: say so honestly, and offer a person."""
    ctx.say("returns.unverified", buttons=(person(ctx),))
    return Step.DONE


def person(ctx: Context) -> Button:
    return ctx.button("menu.human_handoff", "intent:human_handoff")


def reason_name(ctx: Context, state: FlowState) -> str:
    name = ctx.t(f"returns.reason.{state.slots['reason']}")
    note = state.slots.get("note")
    return f"{name} ({note})" if note else name


def local_date(ctx: Context, moment: datetime) -> str:
    local = moment.astimezone(first_zone(ctx.customer.timezone))
    return ctx.t("returns.date", day=local.day, month=local.month, year=local.year)


def _line_title(line: Line) -> str:
    suffix = f" {line.variant.replace(', ', ' ')}" if line.variant else ""
    return short(line.name, suffix)


def short(text: str, suffix: str = "") -> str:
    """A button title: `text` cut to fit with `suffix` kept whole."""
    room = MAX_TITLE - len(suffix)
    if len(text) > room:
        text = text[: max(room - 1, 1)].rstrip() + "…"
    return (text + suffix)[:MAX_TITLE]
