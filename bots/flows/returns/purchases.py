"""The customer's orders screened for a return, and the lines they choose of one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import func, select

from bots.flows.base import Context
from bots.lookup import PRODUCT_CUTOFF
from bots.nlu.vocabulary import colour_name
from bots.state import FlowState
from crm.errors import NotReturnable, OrderNotFound
from crm.models import Order, OrderItem, Receipt, order_number_key
from crm.services.orders import get_order, list_orders
from crm.services.returns import returned_quantities, why_not_returnable
from crm.services.stock import fold


@dataclass(frozen=True)
class Line:
    """A line of the order as the customer sees it, and what is left to return of it."""

    line_no: int
    name: str
    variant: str  # "42, black": size and colour, those the product has
    bought: int
    returnable: int
    unit_price_minor: int

    def label(self, quantity: int | None = None) -> str:
        units = quantity if quantity is not None else self.bought
        variant = f" ({self.variant})" if self.variant else ""
        return f"{units} × {self.name}{variant}"


@dataclass(frozen=True)
class Purchase:
    """One of the customer's orders, screened for a return."""

    order: Order
    lines: list[Line]
    problem: NotReturnable | None

    @property
    def returnable(self) -> list[Line]:
        return [line for line in self.lines if line.returnable > 0]

    def line(self, line_no: int) -> Line | None:
        return next((line for line in self.returnable if line.line_no == line_no), None)


async def find_purchase(ctx: Context, number: str) -> Purchase | None:
    """The customer's order with this number, or with this ticket number; None otherwise.

    Ownership is get_order's: an order of someone else is None, as a missing one.
    """
    try:
        order = await get_order(ctx.session, ctx.customer.id, number)
    except OrderNotFound:
        # A till ticket number names the same purchase.
        order_number = await ctx.session.scalar(
            select(Order.number)
            .join(Receipt, Receipt.order_id == Order.id)
            .where(func.upper(Receipt.number) == order_number_key(number))
        )
        if order_number is None:
            return None
        try:
            order = await get_order(ctx.session, ctx.customer.id, order_number)
        except OrderNotFound:
            return None
    returned = await returned_quantities(ctx.session, [order.id])
    return _screen(ctx, order, returned)


async def recent_purchases(ctx: Context) -> list[Purchase]:
    orders = await list_orders(ctx.session, ctx.customer.id, limit=10)
    returned = await returned_quantities(ctx.session, [o.id for o in orders])
    return [_screen(ctx, order, returned) for order in orders]


def _screen(ctx: Context, order: Order, returned: dict[int, int]) -> Purchase:
    """The order with what is left to return of each line, and why it cannot be, if so.

    Whether it can be is crm.services.returns' to say (start_return has the last word);
    asked here so that a customer hears "too late" before choosing items, not after.
    """
    problem = why_not_returnable(order, ctx.now)
    lines = [_line(ctx, item, returned.get(item.id, 0)) for item in order.items]
    return Purchase(order, lines, problem)


def _line(ctx: Context, item: OrderItem, returned: int) -> Line:
    variant = item.variant
    parts = [variant.size, colour_name(variant.color, ctx.language) if variant.color else None]
    return Line(
        line_no=item.line_no,
        name=variant.product.name(ctx.language.value),
        variant=", ".join(p for p in parts if p),
        bought=item.quantity,
        returnable=max(0, item.quantity - returned),
        unit_price_minor=item.unit_price_minor,
    )


def still_returnable(state: FlowState, purchase: Purchase) -> bool:
    """Whether every line chosen can still be returned in the quantity chosen."""
    chosen = chosen_lines(state, purchase)
    return len(chosen) == len(state.slots["lines"]) and all(
        quantity <= line.returnable for line, quantity in chosen
    )


def chosen_lines(state: FlowState, purchase: Purchase) -> list[tuple[Line, int]]:
    """The lines in the `lines` slot that can still be returned, with their quantities."""
    chosen: list[tuple[Line, int]] = []
    for line_no, quantity in state.slots["lines"].items():
        line = purchase.line(int(line_no))
        if line is not None:
            chosen.append((line, int(quantity)))
    return chosen


def line_named(query: str, lines: Sequence[Line]) -> Line | None:
    """The one line whose product the customer named (with typos), or None."""
    names = {line.line_no: fold(f"{line.name} {line.variant}") for line in lines}
    found = process.extract(fold(query), names, scorer=fuzz.WRatio, score_cutoff=PRODUCT_CUTOFF)
    if not found:
        return None
    best = found[0][1]
    close = [key for _, score, key in found if score >= best - 5.0]
    return next(line for line in lines if line.line_no == close[0]) if len(close) == 1 else None
