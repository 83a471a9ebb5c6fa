"""Returns: which purchase, which items, why, in a store or by courier; then an RMA code.

Slots (plain JSON in the flow state):
- `order`: the order number, in key form;
- `lines`: {line_no: quantity} to return; `pending`: a line whose quantity is asked;
- `reason` (a ReturnReason value) and `note` (the customer's own words, if any);
- `method` (a ReturnMethod value) and `store` (a store code, in-store returns only).

crm.services.returns.start_return decides; the flow only screens an order before asking
for its items, so that a customer hears "too late" before choosing what to send back,
not after.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapidfuzz import fuzz, process
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bots.flows.base import MISSES_BEFORE_HANDOFF, Context, Flow, Step
from bots.flows.stores import store_card
from bots.lookup import PRODUCT_CUTOFF, format_money, match_stores, store_by_code, usual_store
from bots.nlu.vocabulary import colour_name
from bots.state import FlowState
from crm.errors import (
    ExceedsReturnable,
    InvalidReturn,
    NotReturnable,
    NotReturnableReason,
    OrderNotFound,
    UnknownStore,
)
from crm.models import (
    RECEIVED_STATUSES,
    Order,
    OrderItem,
    OrderStatus,
    Receipt,
    Return,
    ReturnItem,
    ReturnMethod,
    ReturnReason,
    ReturnStatus,
    Store,
    order_number_key,
)
from crm.services.orders import get_order, list_orders
from crm.services.returns import RETURN_WINDOW, ReturnLine, start_return
from crm.services.stock import fold
from dialogue.messages import Button

FLOW = "start_return"
MAX_TITLE = 20  # buttons are short on every channel
MAX_ORDERS = 5  # recent purchases offered as buttons
MAX_CHOICES = 7  # item, quantity and store buttons (leaving room for one more)

# Entities that answer the question the flow asked last, even in a message the
# engine reads as another request ("ES-100234" may look like an order-status question).
_ENTITIES_WHEN_AWAITING = {
    "order": frozenset({"order_number"}),
    "items": frozenset({"product", "size", "color"}),
    "quantity": frozenset({"quantity"}),
    "method": frozenset({"store"}),
    "store": frozenset({"store"}),
}

# A customer's own words for a reason, folded (no case, no accents), most telling first;
# each matches at the start of a word ("defect" is in "defective", "torn" not in "return").
# What matches none is OTHER, with the words kept as the return's note.
# fmt: off
_REASON_WORDS: tuple[tuple[ReturnReason, tuple[str, ...]], ...] = (
    (ReturnReason.DEFECTIVE, (
        "roto", "rota", "defect", "defeito", "estrag", "rasgad", "descosid", "mancha",
        "broken", "faulty", "damaged", "torn", "stain", "no funciona", "nao funciona",
        "doesn't work", "doesnt work", "partid", "quebrad",
    )),
    (ReturnReason.WRONG_SIZE, (
        "talla", "tamanho", "size", "pequen", "grande", "apret", "apert", "folgad", "larg",
        "small", "big", "large", "tight", "loose", "fit", "numero", "numeracao",
        "no me vale", "nao serve", "no me queda", "nao fica",
    )),
    (ReturnReason.NOT_AS_DESCRIBED, (
        "foto", "descri", "anuncio", "imagen", "imagem", "diferente", "different", "picture",
        "photo", "not as", "no es como", "nao e como", "otro color", "outra cor", "wrong colo",
        "equivocad", "errad", "wrong item",
    )),
    (ReturnReason.LATE_DELIVERY, (
        "tard", "atras", "retras", "demor", "late", "delay",
    )),
    (ReturnReason.CHANGED_MIND, (
        "no me gusta", "ya no", "cambie de opinion", "arrepent", "mudei de ideia",
        "nao gostei", "nao quero", "no lo quiero", "no la quiero", "changed my mind",
        "don't like", "dont like", "don't want", "dont want", "no longer",
    )),
)
# fmt: on

_ALL_WORDS = frozenset({"all", "everything", "todo", "todos", "todas", "tudo", "ambos", "both"})
_YES_WORDS = frozenset(
    {"si", "sim", "yes", "ok", "vale", "confirmar", "confirm", "confirmo", "dale"}
)
_NO_WORDS = frozenset({"no", "nao", "nope", "nada"})
_IN_STORE_WORDS = ("tienda", "loja", "store", "shop", "local")
_COURIER_WORDS = (
    "mensajer", "courier", "recog", "domicilio", "casa", "home", "correo", "correio",
    "transportadora", "estafeta", "envio", "pick", "recolha", "coleta",
)  # fmt: skip
_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\d[A-Za-z0-9-]*")


@dataclass(frozen=True)
class _Line:
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

    def title(self) -> str:
        suffix = f" {self.variant.replace(', ', ' ')}" if self.variant else ""
        return _short(self.name, suffix)


@dataclass(frozen=True)
class _Purchase:
    """One of the customer's orders, screened for a return."""

    order: Order
    lines: list[_Line]
    problem: NotReturnable | None

    @property
    def returnable(self) -> list[_Line]:
        return [line for line in self.lines if line.returnable > 0]

    def line(self, line_no: int) -> _Line | None:
        return next((line for line in self.returnable if line.line_no == line_no), None)


class Returns(Flow):
    name = FLOW
    intents: ClassVar[frozenset[str]] = frozenset({"start_return"})

    def wants(self, ctx: Context, state: FlowState) -> bool:
        if super().wants(ctx, state):
            return True
        expected = _ENTITIES_WHEN_AWAITING.get(state.awaiting or "", frozenset())
        if any(e.name in expected for e in ctx.understanding.entities):
            return True
        # Words that answer the question even when the engine hears another request:
        # "courier" or "it came late" sound like order status, yet answer "how" and "why".
        if state.awaiting == "method":
            return _mentions(ctx.text, (*_COURIER_WORDS, *_IN_STORE_WORDS))
        if state.awaiting in ("reason", "confirm"):
            return reason_from_text(ctx.text) is not ReturnReason.OTHER
        return False

    async def advance(self, ctx: Context, state: FlowState) -> Step:
        if not ctx.verified:
            return _unverified(ctx)
        step = await self._take(ctx, state)
        if step is not None:
            return step
        return await self._ask(ctx, state)

    async def resume(self, ctx: Context, state: FlowState) -> Step:
        # The message that brought the customer back ("yes", "in English") is no answer.
        if not ctx.verified:
            return _unverified(ctx)
        return await self._ask(ctx, state)

    # -- taking in what the message brings -----------------------------------------------

    async def _take(self, ctx: Context, state: FlowState) -> Step | None:
        """Keep what this message answers; a Step when that already ends the turn."""
        choice = ctx.choice(self.name)
        if choice is not None:
            return await self._choose(ctx, state, *choice)
        if ctx.payload is not None:
            return None
        number = ctx.entity("order_number")
        asked_again = ctx.intent == self.name  # "I want to return something", again
        if number is None and state.awaiting == "order" and not asked_again:
            number = _order_number_in(ctx.text)
        if number is not None:
            return await self._set_order(ctx, state, number)
        if state.awaiting is None or asked_again or not ctx.text:
            return None
        understood = await self._answer(ctx, state, state.awaiting)
        if isinstance(understood, Step):
            return understood
        if understood:
            ctx.state.misses = 0
            return None
        # Twice in a row not understood: a person takes over, as anywhere else.
        ctx.state.misses += 1
        if ctx.state.misses >= MISSES_BEFORE_HANDOFF:
            ctx.state.misses = 0
            if await ctx.hand_off("not_understood", flow=state):
                return Step.WAITING
        ctx.say("returns.not_understood")
        return None

    async def _choose(self, ctx: Context, state: FlowState, slot: str, value: str) -> Step | None:
        """A button of this flow: it sets (or corrects) one slot."""
        slots = state.slots
        if slot == "order":
            return await self._set_order(ctx, state, value)
        if slot == "change":
            for name in {"items": ("lines", "pending"), "reason": ("reason", "note"),
                         "method": ("method", "store")}.get(value, ()):  # fmt: skip
                slots.pop(name, None)
            return None
        if slot == "confirm":
            if value == "no":
                ctx.say_menu("returns.cancelled")
                return Step.DONE
            if value == "yes" and state.awaiting == "confirm" and _complete(slots):
                return await self._submit(ctx, state)
            return None
        if slot == "reason" and value in {r.value for r in ReturnReason}:
            slots["reason"], slots["note"] = value, None
        elif slot == "method" and value in {m.value for m in ReturnMethod}:
            slots["method"] = value
            if value == ReturnMethod.COURIER:
                slots.pop("store", None)
        elif slot == "store":
            store = await store_by_code(ctx.session, value)
            if store is not None:
                slots["method"], slots["store"] = ReturnMethod.IN_STORE.value, store.code
        elif slot in ("line", "lines", "qty"):
            purchase = await self._purchase(ctx, state)
            if purchase is not None and purchase.problem is None:
                self._set_lines(state, purchase, slot, value)
        return None

    def _set_lines(self, state: FlowState, purchase: _Purchase, slot: str, value: str) -> None:
        slots = state.slots
        if slot == "lines" and value == "all":
            slots["lines"] = {str(ln.line_no): ln.returnable for ln in purchase.returnable}
            slots.pop("pending", None)
            return
        line_no, _, quantity = value.partition(":")
        line = purchase.line(int(line_no)) if line_no.isdigit() else None
        if line is None:
            return
        if slot == "line" and line.returnable > 1:
            slots["pending"] = line.line_no
            slots.pop("lines", None)
        elif slot == "line":
            slots["lines"] = {str(line.line_no): 1}
        elif quantity.isdigit() and 1 <= int(quantity) <= line.returnable:
            slots["lines"] = {str(line.line_no): int(quantity)}
            slots.pop("pending", None)

    async def _answer(self, ctx: Context, state: FlowState, awaiting: str) -> bool | Step:
        """A typed answer to the question asked last: whether it was understood."""
        slots, text = state.slots, ctx.text
        words = set(re.findall(r"\w+", fold(text)))
        if awaiting == "items":
            purchase = await self._purchase(ctx, state)
            if purchase is None or purchase.problem is not None:
                return False
            if words & _ALL_WORDS:
                self._set_lines(state, purchase, "lines", "all")
                return True
            line = _line_named(ctx.entity("product") or text, purchase.returnable)
            if line is not None:
                self._set_lines(state, purchase, "line", str(line.line_no))
            return line is not None
        if awaiting == "quantity":
            quantity = re.search(r"\d+", ctx.entity("quantity") or text)
            purchase = await self._purchase(ctx, state)
            if quantity is None or "pending" not in slots or purchase is None:
                return False
            self._set_lines(state, purchase, "qty", f"{slots['pending']}:{quantity.group(0)}")
            return "lines" in slots
        if awaiting == "reason":
            slots["reason"] = reason_from_text(text).value
            slots["note"] = text[:500]
            return True
        if awaiting == "method":
            if ctx.entity("store") is not None:
                slots["method"] = ReturnMethod.IN_STORE.value
                return await self._find_store(ctx, state, ctx.entity("store") or text)
            if _mentions(text, _COURIER_WORDS):
                slots["method"] = ReturnMethod.COURIER.value
                return True
            if _mentions(text, _IN_STORE_WORDS):
                slots["method"] = ReturnMethod.IN_STORE.value
                return True
            return False
        if awaiting == "store":
            return await self._find_store(ctx, state, ctx.entity("store") or text)
        if awaiting == "confirm":
            return await self._answer_confirmation(ctx, state, words)
        return False

    async def _answer_confirmation(
        self, ctx: Context, state: FlowState, words: set[str]
    ) -> bool | Step:
        """Yes, no, or a correction ("no, they are too small"): replace and ask again."""
        if ctx.intent == "affirm" or (words and words <= _YES_WORDS):
            step = await self._submit(ctx, state)
            return step if step is not None else True
        reason = reason_from_text(ctx.text)
        if reason is not ReturnReason.OTHER:
            state.slots["reason"], state.slots["note"] = reason.value, ctx.text[:500]
            return True
        store = ctx.entity("store")
        if store is not None:
            state.slots["method"] = ReturnMethod.IN_STORE.value
            return await self._find_store(ctx, state, store)
        if ctx.intent == "deny" or words & _NO_WORDS:
            ctx.say_menu("returns.cancelled")
            return Step.DONE
        return False

    async def _find_store(self, ctx: Context, state: FlowState, query: str) -> bool:
        """A store or city named: one store is taken; several are offered."""
        stores = await match_stores(ctx.session, query)
        if len(stores) == 1:
            state.slots["store"] = stores[0].code
            return True
        state.slots.pop("store", None)
        if stores:
            state.slots["offered_stores"] = [s.code for s in stores[:MAX_CHOICES]]
            return True
        cities = sorted(set((await ctx.session.scalars(
            select(Store.city).where(Store.active.is_(True)))).all()))  # fmt: skip
        ctx.say("returns.store_not_found", query=query.strip(), cities=", ".join(cities))
        return True

    async def _set_order(self, ctx: Context, state: FlowState, number: str) -> Step | None:
        """The order (or ticket) the customer named: a new order starts the slots afresh."""
        purchase = await _find_purchase(ctx, number)
        if purchase is None:
            # Someone else's order reads exactly like one that does not exist.
            state.slots.pop("order", None)
            ctx.say("returns.order_not_found", number=order_number_key(number))
            return None
        if purchase.problem is not None:
            return _explain(ctx, purchase.problem)
        if not purchase.returnable:
            await _say_all_returned(ctx, purchase.order)
            return Step.DONE
        if state.slots.get("order") != purchase.order.number:
            state.slots = {"order": purchase.order.number}
        return None

    # -- asking for what is missing --------------------------------------------------------

    async def _ask(self, ctx: Context, state: FlowState) -> Step:
        slots = state.slots
        purchase = await self._purchase(ctx, state)
        if purchase is None:
            slots.pop("order", None)
            return await self._ask_order(ctx, state)
        if purchase.problem is not None:
            return _explain(ctx, purchase.problem)
        if not purchase.returnable:
            await _say_all_returned(ctx, purchase.order)
            return Step.DONE
        if "lines" in slots and not _still_returnable(state, purchase):
            # Returned meanwhile (on another channel, or at a till): choose again.
            slots.pop("lines")
            ctx.say("returns.exceeds")
        if "lines" not in slots:
            line = purchase.line(int(slots["pending"])) if "pending" in slots else None
            if line is not None:
                return _ask_quantity(ctx, state, line)
            return _ask_items(ctx, state, purchase)
        if "reason" not in slots:
            state.awaiting = "reason"
            buttons = [ctx.button(f"returns.reason.{r.value}", f"{FLOW}:reason={r.value}")
                       for r in ReturnReason]  # fmt: skip
            ctx.say("returns.ask_reason", buttons=buttons)
            return Step.WAITING
        if "method" not in slots:
            state.awaiting = "method"
            ctx.say("returns.ask_method", buttons=(
                ctx.button("returns.method.in_store", f"{FLOW}:method=in_store"),
                ctx.button("returns.method.courier", f"{FLOW}:method=courier"),
            ))  # fmt: skip
            return Step.WAITING
        store = await store_by_code(ctx.session, slots["store"]) if "store" in slots else None
        if slots["method"] == ReturnMethod.IN_STORE and store is None:
            return await self._ask_store(ctx, state, purchase.order)
        return self._summary(ctx, state, purchase, store)

    async def _ask_order(self, ctx: Context, state: FlowState) -> Step:
        state.awaiting = "order"
        purchases = [p for p in await _recent_purchases(ctx) if p.problem is None and p.returnable]
        if not purchases:
            ctx.say("returns.no_orders", days=RETURN_WINDOW.days, buttons=(_person(ctx),))
            return Step.WAITING
        options = "\n".join(_describe(ctx, p) for p in purchases[:MAX_ORDERS])
        buttons = [Button(p.order.number[:MAX_TITLE], f"{FLOW}:order={p.order.number}")
                   for p in purchases[:MAX_ORDERS]]  # fmt: skip
        ctx.say("returns.ask_order", orders=options, buttons=buttons)
        return Step.WAITING

    async def _ask_store(self, ctx: Context, state: FlowState, order: Order) -> Step:
        state.awaiting = "store"
        codes: list[str] = list(state.slots.pop("offered_stores", []))
        if not codes:
            # Where they bought it, the store they usually go to, then their city's.
            candidates = [order.store.code if order.store else None]
            usual = await usual_store(ctx.session, ctx.customer)
            candidates.append(usual.code if usual else None)
            if ctx.customer.city:
                candidates += [s.code for s in await match_stores(ctx.session, ctx.customer.city)]
            codes = [code for code in candidates if code]
        stores: list[Store] = []
        for code in dict.fromkeys(codes):
            store = await store_by_code(ctx.session, code)
            if store is not None and len(stores) < MAX_CHOICES:
                stores.append(store)
        buttons = [Button(_short(s.name), f"{FLOW}:store={s.code}") for s in stores]
        ctx.say("returns.ask_store" if buttons else "returns.ask_store_city", buttons=buttons)
        return Step.WAITING

    def _summary(
        self, ctx: Context, state: FlowState, purchase: _Purchase, store: Store | None
    ) -> Step:
        state.awaiting = "confirm"
        chosen = _chosen(state, purchase)
        items = "\n".join(line.label(quantity) for line, quantity in chosen)
        refund = sum(line.unit_price_minor * quantity for line, quantity in chosen)
        method = (
            ctx.t("returns.summary_in_store", store=store.name)
            if store is not None
            else ctx.t("returns.summary_courier")
        )
        ctx.say(
            "returns.summary",
            number=purchase.order.number,
            items=items,
            reason=_reason_name(ctx, state),
            method=method,
            amount=format_money(refund, purchase.order.currency, ctx.language),
            buttons=(
                ctx.button("returns.confirm", f"{FLOW}:confirm=yes"),
                ctx.button("returns.change_items", f"{FLOW}:change=items"),
                ctx.button("returns.change_reason", f"{FLOW}:change=reason"),
                ctx.button("returns.change_method", f"{FLOW}:change=method"),
                ctx.button("returns.cancel", f"{FLOW}:confirm=no"),
            ),
        )
        return Step.WAITING

    # -- finishing ---------------------------------------------------------------------------

    async def _submit(self, ctx: Context, state: FlowState) -> Step | None:
        """Ask crm for the return; its refusals become words, or a question again."""
        slots = state.slots
        lines = [ReturnLine(int(no), int(qty)) for no, qty in slots["lines"].items()]
        try:
            rma = await start_return(
                ctx.session,
                ctx.customer.id,
                slots["order"],
                lines,
                ReturnReason(slots["reason"]),
                ReturnMethod(slots["method"]),
                store_code=slots.get("store") if slots["method"] == ReturnMethod.IN_STORE else None,
                note=slots.get("note"),
                now=ctx.now,
            )
        except NotReturnable as error:
            return _explain(ctx, error)
        except ExceedsReturnable:
            # Returned between the summary and the confirmation.
            slots.pop("lines", None)
            slots.pop("pending", None)
            ctx.say("returns.exceeds")
            return None
        except UnknownStore:
            slots.pop("store", None)
            ctx.say("returns.store_gone")
            return None
        except (OrderNotFound, InvalidReturn):
            state.slots = {}
            ctx.say("returns.order_not_found", number=slots["order"])
            return None
        amount = format_money(rma.refund_minor or 0, rma.currency, ctx.language)
        if rma.method == ReturnMethod.IN_STORE and rma.store is not None:
            store = await store_by_code(ctx.session, rma.store.code) or rma.store
            ctx.say("returns.done_in_store", code=rma.rma_code, store=store.name,
                    amount=amount, card=store_card(ctx, store))  # fmt: skip
        else:
            ctx.say("returns.done_courier", code=rma.rma_code, amount=amount)
        return Step.DONE

    async def _purchase(self, ctx: Context, state: FlowState) -> _Purchase | None:
        number = state.slots.get("order")
        return await _find_purchase(ctx, number) if number else None


# -- what a message says ---------------------------------------------------------------------


def reason_from_text(text: str) -> ReturnReason:
    """The reason a customer's own words are closest to; OTHER when none fits."""
    for reason, words in _REASON_WORDS:
        if _mentions(text, words):
            return reason
    return ReturnReason.OTHER


def _mentions(text: str, words: Sequence[str]) -> bool:
    """Whether a word of `text` starts like one of `words`, compared folded."""
    folded = fold(text)
    return any(re.search(rf"\b{re.escape(word)}", folded) for word in words)


def _order_number_in(text: str) -> str | None:
    """The order or ticket number in a typed answer: the last word with a digit in it."""
    found = _NUMBER.findall(text)
    return found[-1] if found else None


def _line_named(query: str, lines: Sequence[_Line]) -> _Line | None:
    """The one line whose product the customer named (with typos), or None."""
    names = {line.line_no: fold(f"{line.name} {line.variant}") for line in lines}
    found = process.extract(fold(query), names, scorer=fuzz.WRatio, score_cutoff=PRODUCT_CUTOFF)
    if not found:
        return None
    best = found[0][1]
    close = [key for _, score, key in found if score >= best - 5.0]
    return next(line for line in lines if line.line_no == close[0]) if len(close) == 1 else None


def _complete(slots: dict[str, object]) -> bool:
    return all(name in slots for name in ("order", "lines", "reason", "method"))


# -- reading the customer's orders -------------------------------------------------------------


async def _find_purchase(ctx: Context, number: str) -> _Purchase | None:
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
    returned = await _returned(ctx.session, [order.id])
    return _screen(ctx, order, returned)


async def _recent_purchases(ctx: Context) -> list[_Purchase]:
    orders = await list_orders(ctx.session, ctx.customer.id, limit=10)
    returned = await _returned(ctx.session, [o.id for o in orders])
    return [_screen(ctx, order, returned) for order in orders]


async def _returned(session: AsyncSession, order_ids: list[int]) -> dict[int, int]:
    """Units per order item already in returns that were not rejected."""
    if not order_ids:
        return {}
    rows = await session.execute(
        select(ReturnItem.order_item_id, func.sum(ReturnItem.quantity))
        .join(Return, Return.id == ReturnItem.return_id)
        .where(Return.order_id.in_(order_ids), Return.status != ReturnStatus.REJECTED)
        .group_by(ReturnItem.order_item_id)
    )
    return {item_id: int(total) for item_id, total in rows}


def _screen(ctx: Context, order: Order, returned: dict[int, int]) -> _Purchase:
    """The order with what is left to return of each line, and why it cannot be, if so.

    The same rules as crm.services.returns.start_return (which has the last word),
    told before the customer chooses items rather than after.
    """
    problem: NotReturnable | None = None
    deadline = (order.received_at or order.placed_at) + RETURN_WINDOW
    if order.status == OrderStatus.CANCELLED:
        problem = NotReturnable(order.number, NotReturnableReason.CANCELLED)
    elif order.status not in RECEIVED_STATUSES:
        problem = NotReturnable(order.number, NotReturnableReason.NOT_RECEIVED)
    elif ctx.now > deadline:
        problem = NotReturnable(order.number, NotReturnableReason.WINDOW_CLOSED, deadline=deadline)
    lines = [_line(ctx, item, returned.get(item.id, 0)) for item in order.items]
    return _Purchase(order, lines, problem)


def _line(ctx: Context, item: OrderItem, returned: int) -> _Line:
    variant = item.variant
    parts = [variant.size, colour_name(variant.color, ctx.language) if variant.color else None]
    return _Line(
        line_no=item.line_no,
        name=variant.product.name(ctx.language.value),
        variant=", ".join(p for p in parts if p),
        bought=item.quantity,
        returnable=max(0, item.quantity - returned),
        unit_price_minor=item.unit_price_minor,
    )


def _still_returnable(state: FlowState, purchase: _Purchase) -> bool:
    chosen = _chosen(state, purchase)
    return len(chosen) == len(state.slots["lines"]) and all(
        quantity <= line.returnable for line, quantity in chosen
    )


def _chosen(state: FlowState, purchase: _Purchase) -> list[tuple[_Line, int]]:
    chosen: list[tuple[_Line, int]] = []
    for line_no, quantity in state.slots["lines"].items():
        line = purchase.line(int(line_no))
        if line is not None:
            chosen.append((line, int(quantity)))
    return chosen


# -- saying things -------------------------------------------------------------------------------


def _ask_items(ctx: Context, state: FlowState, purchase: _Purchase) -> Step:
    state.awaiting = "items"
    lines = purchase.returnable
    listing = "\n".join(f"• {line.label(line.returnable)}" for line in lines)
    buttons = [Button(line.title(), f"{FLOW}:line={line.line_no}") for line in lines[:MAX_CHOICES]]
    if len(lines) > 1 or lines[0].returnable > 1:
        buttons.append(ctx.button("returns.all", f"{FLOW}:lines=all"))
    ctx.say("returns.ask_items", number=purchase.order.number, items=listing, buttons=buttons)
    return Step.WAITING


def _ask_quantity(ctx: Context, state: FlowState, line: _Line) -> Step:
    state.awaiting = "quantity"
    buttons = [
        Button(str(n), f"{FLOW}:qty={line.line_no}:{n}")
        for n in range(1, min(line.returnable, MAX_CHOICES) + 1)
    ]
    ctx.say("returns.ask_quantity", item=line.label(line.returnable), buttons=buttons)
    return Step.WAITING


def _describe(ctx: Context, purchase: _Purchase) -> str:
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
        date=_date(ctx, order.placed_at),
        where=where,
        items=items,
    )


def _explain(ctx: Context, problem: NotReturnable) -> Step:
    """Why this order cannot be returned, in words, with a person when one can help."""
    number = problem.order_number
    if problem.reason is NotReturnableReason.WINDOW_CLOSED and problem.deadline is not None:
        ctx.say("returns.window_closed", number=number, days=RETURN_WINDOW.days,
                date=_date(ctx, problem.deadline), buttons=(_person(ctx),))  # fmt: skip
    elif problem.reason is NotReturnableReason.CANCELLED:
        ctx.say_menu("returns.order_cancelled", number=number)
    else:
        ctx.say("returns.not_received", number=number, buttons=(_person(ctx),))
    return Step.DONE


async def _say_all_returned(ctx: Context, order: Order) -> None:
    codes = (
        await ctx.session.scalars(
            select(Return.rma_code)
            .where(Return.order_id == order.id, Return.status != ReturnStatus.REJECTED)
            .order_by(Return.created_at, Return.id)
        )
    ).all()
    ctx.say_menu("returns.all_returned", number=order.number, codes=", ".join(codes))


def _unverified(ctx: Context) -> Step:
    """We cannot tell who writes: say so honestly, and offer a person."""
    ctx.say("returns.unverified", buttons=(_person(ctx),))
    return Step.DONE


def _person(ctx: Context) -> Button:
    return ctx.button("menu.human_handoff", "intent:human_handoff")


def _reason_name(ctx: Context, state: FlowState) -> str:
    name = ctx.t(f"returns.reason.{state.slots['reason']}")
    note = state.slots.get("note")
    return f"{name} ({note})" if note else name


def _date(ctx: Context, moment: datetime) -> str:
    try:
        zone = ZoneInfo(ctx.customer.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = moment.astimezone(zone)
    return ctx.t("returns.date", day=local.day, month=local.month, year=local.year)


def _short(text: str, suffix: str = "") -> str:
    """A button title: `text` cut to fit with `suffix` kept whole."""
    room = MAX_TITLE - len(suffix)
    if len(text) > room:
        text = text[: max(room - 1, 1)].rstrip() + "…"
    return (text + suffix)[:MAX_TITLE]
