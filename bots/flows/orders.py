"""Order status, and purchase history with the copies of in-store receipts.

Both show a customer's own data, so both run only for a verified identity
(bots.flows.verification). An order number of someone else's gets the very words a
number that does not exist gets: crm.services.orders raises OrderNotFound for both.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bots.catalogue import keys
from bots.flows.base import Context, Flow, Step
from bots.flows.verification import (
    answers_verification,
    ensure_verified,
    order_number_in,
)
from bots.lookup import format_hours, format_money, intervals_on
from bots.state import FlowState
from crm.errors import NoReceipt, OrderNotFound
from crm.models import Fulfilment, Order, ProductVariant, Receipt, SalesChannel, Store
from crm.models import OrderStatus as Status
from crm.services.orders import get_order, get_receipt, list_orders
from crm.services.stock import fold
from crm.zones import first_zone
from dialogue.messages import Button

RECENT_ORDERS = 5  # offered when the customer names none
HISTORY_SIZE = 6
MAX_TITLE = 20  # button titles, on every channel

# Done with: nothing more will happen to the order. (`Status` is the CRM's enum;
# `OrderStatus` below is the flow, named after its intent.)
_FINAL = frozenset({Status.DELIVERED, Status.COLLECTED, Status.COMPLETED, Status.CANCELLED})
# What customers call a receipt, folded (no case, no accents), in the three languages.
_RECEIPT_WORDS = frozenset(
    {"ticket", "tiquet", "tickets", "recibo", "recibos", "factura", "fatura", "receipt",
     "receipts", "invoice", "talao", "cupom", "comprovante"}
)  # fmt: skip
_RECEIPT_PHRASES = ("nota fiscal", "segunda via")


class OrderStatus(Flow):
    """Where an order is: status, carrier and tracking, promised date, pick-up store."""

    name = "order_status"
    intents: ClassVar[frozenset[str]] = frozenset({"order_status"})
    slot_entities: ClassVar[frozenset[str]] = frozenset({"order_number"})

    def wants(self, ctx: Context, state: FlowState) -> bool:
        if answers_verification(ctx, state):
            return True
        if state.awaiting == "order" and order_number_in(ctx) is not None:
            return True
        return super().wants(ctx, state)

    async def advance(self, ctx: Context, state: FlowState) -> Step:
        choice = ctx.choice(self.name)
        number = choice[1] if choice is not None and choice[0] == "order" else None
        number = number or order_number_in(ctx)
        if number is not None:
            state.slots["order"] = number  # a later one is a correction
        if not await ensure_verified(ctx, state):
            return Step.WAITING if state.awaiting else Step.DONE
        number = state.slots.get("order")
        if number is None:
            if state.awaiting == "order" and ctx.payload is None:
                return await self._not_a_number(ctx, state)
            return await self._ask_which(ctx, state)
        try:
            order = await get_order(ctx.session, ctx.customer.id, number)
        except OrderNotFound:
            # The same words for someone else's order as for one that does not exist.
            del state.slots["order"]
            state.awaiting = "order"
            orders = await list_orders(ctx.session, ctx.customer.id, limit=RECENT_ORDERS)
            ctx.say("orders.not_found", number=number, buttons=self._buttons(orders))
            return Step.WAITING
        state.awaiting = None
        await describe_order(ctx, order)
        return Step.DONE

    async def resume(self, ctx: Context, state: FlowState) -> Step:
        if state.awaiting == "order":
            state.awaiting = None  # the message that resumes is no answer: offer the list
        return await self.advance(ctx, state)

    async def _ask_which(self, ctx: Context, state: FlowState) -> Step:
        orders = await list_orders(ctx.session, ctx.customer.id, limit=RECENT_ORDERS)
        if not orders:
            ctx.say("orders.none")
            return Step.DONE
        if len(orders) == 1:
            await describe_order(ctx, orders[0])
            return Step.DONE
        lines = "\n".join(order_line(ctx, order) for order in orders)
        state.awaiting = "order"
        ctx.say("orders.which", orders=lines, buttons=self._buttons(orders))
        return Step.WAITING

    async def _not_a_number(self, ctx: Context, state: FlowState) -> Step:
        """Asked which order, and the answer names none."""
        if closes_the_question(ctx):
            state.awaiting = None
            return Step.DONE
        orders = await list_orders(ctx.session, ctx.customer.id, limit=RECENT_ORDERS)
        ctx.say("orders.which_again", buttons=self._buttons(orders))
        return Step.WAITING

    def _buttons(self, orders: list[Order]) -> tuple[Button, ...]:
        return tuple(Button(_title(o.number), f"{self.name}:order={o.number}") for o in orders)


class PurchaseHistory(Flow):
    """What the customer bought, in shops and online, and copies of till receipts."""

    name = "purchase_history"
    intents: ClassVar[frozenset[str]] = frozenset({"purchase_history"})

    def wants(self, ctx: Context, state: FlowState) -> bool:
        if answers_verification(ctx, state):
            return True
        if state.awaiting == "receipt" and order_number_in(ctx) is not None:
            return True
        return super().wants(ctx, state)

    async def advance(self, ctx: Context, state: FlowState) -> Step:
        choice = ctx.choice(self.name)
        if choice is not None and choice[0] == "receipt":
            state.slots["receipt"] = choice[1]
        elif asks_for_receipt(ctx.text) or state.awaiting == "receipt":
            state.slots["receipt_wanted"] = True
            number = order_number_in(ctx)
            if number is not None:
                state.slots["receipt"] = number
            store = ctx.entity("store")
            if store is not None:
                state.slots["store"] = store
        if not await ensure_verified(ctx, state):
            return Step.WAITING if state.awaiting else Step.DONE
        if (
            state.awaiting == "receipt"
            and "receipt" not in state.slots
            and closes_the_question(ctx)
        ):
            state.awaiting = None
            return Step.DONE
        state.awaiting = None
        number = state.slots.get("receipt")
        if number is not None:
            await self._receipt(ctx, number)
            return Step.DONE
        if state.slots.get("receipt_wanted"):
            return await self._which_receipt(ctx, state)
        await self._history(ctx)
        return Step.DONE

    async def resume(self, ctx: Context, state: FlowState) -> Step:
        if state.awaiting == "receipt":
            state.awaiting = None
        return await self.advance(ctx, state)

    async def _history(self, ctx: Context) -> None:
        orders = await _recent_purchases(ctx)
        if not orders:
            ctx.say("orders.history.none")
            return
        with_receipt = await _with_receipt(ctx, orders)
        lines = "\n".join(history_line(ctx, order) for order in orders)
        if with_receipt:
            ctx.say(
                "orders.history.list_receipts",
                purchases=lines,
                buttons=self._buttons(ctx, with_receipt),
            )
        else:
            ctx.say("orders.history.list", purchases=lines)

    async def _which_receipt(self, ctx: Context, state: FlowState) -> Step:
        orders = await _with_receipt(ctx, await _recent_purchases(ctx))
        store = state.slots.get("store")
        if store is not None:
            in_store = [o for o in orders if o.store and fold(store) in fold(o.store.name)]
            orders = in_store or orders
        if not orders:
            ctx.say("orders.receipt.none")
            return Step.DONE
        if len(orders) == 1:
            await self._receipt(ctx, orders[0].number)
            return Step.DONE
        lines = "\n".join(history_line(ctx, order) for order in orders)
        state.awaiting = "receipt"
        ctx.say("orders.receipt.which", purchases=lines, buttons=self._buttons(ctx, orders))
        return Step.WAITING

    async def _receipt(self, ctx: Context, number: str) -> None:
        try:
            receipt = await get_receipt(ctx.session, ctx.customer.id, number)
            order = await get_order(ctx.session, ctx.customer.id, number)
        except NoReceipt:
            ctx.say("orders.receipt.online", number=number)
            return
        except OrderNotFound:
            ctx.say("orders.receipt.not_found", number=number)
            return
        ctx.reply(receipt_copy(ctx, receipt, order))

    def _buttons(self, ctx: Context, orders: list[Order]) -> tuple[Button, ...]:
        return tuple(
            Button(
                _title(ctx.t("orders.button.receipt", number=o.number)),
                f"{self.name}:receipt={o.number}",
            )
            for o in orders
        )


def closes_the_question(ctx: Context) -> bool:
    """A "thanks", "bye" or "no" to a question of choices: answer it, and stop asking."""
    if ctx.intent == "thanks":
        ctx.say("thanks.reply")
    elif ctx.intent == "goodbye":
        ctx.say("goodbye.reply")
    elif ctx.intent == "deny":
        ctx.say_menu("menu.what_else")
    else:
        return False
    return True


def asks_for_receipt(text: str) -> bool:
    folded = fold(text)
    return bool(_RECEIPT_WORDS & set(folded.split())) or any(p in folded for p in _RECEIPT_PHRASES)


# -- how an order reads ---------------------------------------------------------------


def order_line(ctx: Context, order: Order) -> str:
    return ctx.t(
        "orders.line",
        number=order.number,
        date=format_date(ctx, order.placed_at, _zone(ctx, order)),
        status=status_words(ctx, order.status),
        total=format_money(order.total_minor, order.currency, ctx.language),
    )


def history_line(ctx: Context, order: Order) -> str:
    if order.sales_channel is SalesChannel.STORE and order.store is not None:
        where = order.store.name
    else:
        where = ctx.t(f"orders.channel.{order.sales_channel.value}")
    return ctx.t(
        "orders.history.line",
        number=order.number,
        date=format_date(ctx, order.placed_at, _zone(ctx, order)),
        where=where,
        total=format_money(order.total_minor, order.currency, ctx.language),
    )


def status_words(ctx: Context, status: Status) -> str:
    return ctx.t(f"orders.status.{status.value}")


async def describe_order(ctx: Context, order: Order) -> None:
    """Everything the customer wants to know about one order, in one message."""
    zone = _zone(ctx, order)
    lines = [
        ctx.t(
            "orders.detail.head",
            number=order.number,
            date=format_date(ctx, order.placed_at, zone),
            status=status_words(ctx, order.status),
        )
    ]
    items = ", ".join(
        ctx.t("orders.detail.item", quantity=item.quantity, name=_product_name(ctx, item.variant))
        for item in order.items
    )
    if items:
        lines.append(ctx.t("orders.detail.items", items=items))
    late = (
        order.promised_at is not None
        and order.status not in _FINAL
        and order.status is not Status.READY_FOR_PICKUP
        and ctx.now > order.promised_at
    )
    promised = format_date(ctx, order.promised_at, zone) if order.promised_at else None
    if order.fulfilment is Fulfilment.DELIVERY:
        lines += _delivery_lines(ctx, order, zone, promised, late=late)
    elif order.fulfilment is Fulfilment.PICKUP:
        lines += await _pickup_lines(ctx, order, zone, promised, late=late)
    elif order.store is not None:
        lines.append(ctx.t("orders.detail.in_store", store=order.store.name))
    buttons: tuple[Button, ...] = ()
    if late:
        lines.append(ctx.t("orders.detail.offer_person"))
        buttons = (ctx.button("orders.button.person", "intent:human_handoff"),)
    ctx.reply("\n".join(lines), buttons)


def _delivery_lines(
    ctx: Context, order: Order, zone: ZoneInfo, promised: str | None, *, late: bool
) -> list[str]:
    lines: list[str] = []
    if order.status is Status.CANCELLED:
        return lines
    if order.carrier and order.tracking_url:
        lines.append(
            ctx.t("orders.detail.tracking_link", carrier=order.carrier, link=order.tracking_url)
        )
    elif order.carrier and order.tracking_number:
        lines.append(
            ctx.t(
                "orders.detail.tracking_number",
                carrier=order.carrier,
                tracking=order.tracking_number,
            )
        )
    elif order.carrier:
        lines.append(ctx.t("orders.detail.carrier", carrier=order.carrier))
    if order.status is Status.DELIVERED and order.received_at is not None:
        lines.append(
            ctx.t("orders.detail.delivered_on", date=format_date(ctx, order.received_at, zone))
        )
    elif late and promised:
        lines.append(ctx.t("orders.detail.late", date=promised))
    elif promised and order.status not in _FINAL:
        lines.append(ctx.t("orders.detail.arrives", date=promised))
    return lines


async def _pickup_lines(
    ctx: Context, order: Order, zone: ZoneInfo, promised: str | None, *, late: bool
) -> list[str]:
    lines: list[str] = []
    if order.status is Status.CANCELLED:
        return lines
    store = await _store_with_hours(ctx, order.pickup_store_id)
    if store is not None:
        today = intervals_on(store, ctx.now)
        hours = (
            ctx.t("store.hours_today", hours=format_hours(today))
            if today
            else ctx.t("store.closed_today")
        )
        lines.append(
            ctx.t(
                "orders.detail.pickup_store",
                store=store.name,
                address=store.address,
                city=store.city,
                hours=hours,
            )
        )
    if order.status is Status.READY_FOR_PICKUP:
        lines.append(ctx.t("orders.detail.ready"))
    elif order.status is Status.COLLECTED and order.received_at is not None:
        lines.append(
            ctx.t("orders.detail.collected_on", date=format_date(ctx, order.received_at, zone))
        )
    elif late and promised:
        lines.append(ctx.t("orders.detail.pickup_late", date=promised))
    elif promised and order.status not in _FINAL:
        lines.append(ctx.t("orders.detail.ready_by", date=promised))
    elif order.status not in _FINAL:
        lines.append(ctx.t("orders.detail.not_ready"))
    return lines


def receipt_copy(ctx: Context, receipt: Receipt, order: Order) -> str:
    """The till receipt as text: store, date and till, lines, total, tax and payment."""
    store = receipt.store
    issued = receipt.issued_at.astimezone(first_zone(store.timezone))
    lines = [
        ctx.t(
            "orders.receipt.head",
            number=receipt.number,
            order=order.number,
            store=store.name,
            address=store.address,
            city=store.city,
            date=format_date(ctx, issued, first_zone(store.timezone)),
            time=f"{issued:%H:%M}",
        )
    ]
    if receipt.till:
        lines.append(ctx.t("orders.receipt.till", till=receipt.till))
    for item in order.items:
        lines.append(
            ctx.t(
                "orders.receipt.line",
                quantity=item.quantity,
                name=_product_name(ctx, item.variant),
                amount=format_money(
                    item.quantity * item.unit_price_minor, receipt.currency, ctx.language
                ),
            )
        )
    payment_key = f"orders.payment.{receipt.payment_method}"
    payment = ctx.t(payment_key) if payment_key in keys(ctx.language) else receipt.payment_method
    lines.append(
        ctx.t(
            "orders.receipt.total",
            total=format_money(receipt.total_minor, receipt.currency, ctx.language),
            tax=format_money(receipt.tax_minor, receipt.currency, ctx.language),
            payment=payment,
        )
    )
    return "\n".join(lines)


def format_date(ctx: Context, moment: datetime, zone: ZoneInfo) -> str:
    """A date as customers read it ("12 de marzo", "12 March"), the year only if not this."""
    local = moment.astimezone(zone)
    month = ctx.t(f"orders.month.{local.month}")
    if local.year == ctx.now.astimezone(zone).year:
        return ctx.t("orders.date", day=local.day, month=month)
    return ctx.t("orders.date_year", day=local.day, month=month, year=local.year)


# -- helpers ----------------------------------------------------------------------------


async def _recent_purchases(ctx: Context) -> list[Order]:
    orders = await list_orders(ctx.session, ctx.customer.id, limit=HISTORY_SIZE * 2)
    return [o for o in orders if o.status is not Status.CANCELLED][:HISTORY_SIZE]


async def _with_receipt(ctx: Context, orders: list[Order]) -> list[Order]:
    """The orders among `orders` that have a till receipt, in the same order."""
    ids = set(
        (
            await ctx.session.scalars(
                select(Receipt.order_id).where(Receipt.order_id.in_([o.id for o in orders]))
            )
        ).all()
    )
    return [o for o in orders if o.id in ids]


async def _store_with_hours(ctx: Context, store_id: int | None) -> Store | None:
    if store_id is None:
        return None
    return await ctx.session.scalar(
        select(Store)
        .where(Store.id == store_id)
        .options(selectinload(Store.hours))
        .execution_options(populate_existing=True)
    )


def _product_name(ctx: Context, variant: ProductVariant) -> str:
    names = variant.product.names
    return names.get(ctx.language.value) or names.get("en") or variant.product.external_id


def _zone(ctx: Context, order: Order) -> ZoneInfo:
    """The customer's time zone, else the store's, for the day an order was placed."""
    return first_zone(
        ctx.customer.timezone,
        order.pickup_store.timezone if order.pickup_store else None,
        order.store.timezone if order.store else None,
    )


def _title(text: str) -> str:
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"
