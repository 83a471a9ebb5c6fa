"""The returns flow: which purchase, which items, why, in a store or by courier; an RMA.

Slots (plain JSON in the flow state):
- `order`: the order number, in key form;
- `lines`: {line_no: quantity} to return; `pending`: a line whose quantity is asked;
- `reason` (a ReturnReason value) and `note` (the customer's own words, if any);
- `method` (a ReturnMethod value) and `store` (a store code, in-store returns only).

crm.services.returns decides: whether an order can be returned at all
(why_not_returnable, asked before the customer chooses items, so that they hear "too
late" first) and, on start_return, everything else.
"""

from __future__ import annotations

import re
from typing import ClassVar

from sqlalchemy import select

from bots.flows.base import MISSES_BEFORE_HANDOFF, Context, Flow, Step
from bots.flows.returns.purchases import (
    Purchase,
    chosen_lines,
    find_purchase,
    line_named,
    recent_purchases,
    still_returnable,
)
from bots.flows.returns.replies import (
    FLOW,
    MAX_CHOICES,
    MAX_ORDERS,
    MAX_TITLE,
    ask_items,
    ask_quantity,
    describe,
    explain,
    person,
    reason_name,
    say_all_returned,
    short,
    unverified,
)
from bots.flows.returns.words import (
    ALL_WORDS,
    COURIER_WORDS,
    IN_STORE_WORDS,
    NO_WORDS,
    YES_WORDS,
    mentions,
    order_number_in,
    reason_from_text,
)
from bots.flows.stores import store_card
from bots.lookup import format_money, match_stores, store_by_code, usual_store
from bots.state import FlowState
from crm.errors import ExceedsReturnable, InvalidReturn, NotReturnable, OrderNotFound, UnknownStore
from crm.models import Order, ReturnMethod, ReturnReason, Store, order_number_key
from crm.services.returns import RETURN_WINDOW, ReturnLine, start_return
from crm.services.stock import fold
from dialogue.messages import Button

# Entities that answer the question the flow asked last, even in a message the
# engine reads as another request ("ES-100234" may look like an order-status question).
_ENTITIES_WHEN_AWAITING = {
    "order": frozenset({"order_number"}),
    "items": frozenset({"product", "size", "color"}),
    "quantity": frozenset({"quantity"}),
    "method": frozenset({"store"}),
    "store": frozenset({"store"}),
}


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
            return mentions(ctx.text, (*COURIER_WORDS, *IN_STORE_WORDS))
        if state.awaiting in ("reason", "confirm"):
            return reason_from_text(ctx.text) is not ReturnReason.OTHER
        return False

    async def advance(self, ctx: Context, state: FlowState) -> Step:
        if not ctx.verified:
            return unverified(ctx)
        step = await self._take(ctx, state)
        if step is not None:
            return step
        return await self._ask(ctx, state)

    async def resume(self, ctx: Context, state: FlowState) -> Step:
        # The message that brought the customer back ("yes", "in English") is no answer.
        if not ctx.verified:
            return unverified(ctx)
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
            number = order_number_in(ctx.text)
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

    def _set_lines(self, state: FlowState, purchase: Purchase, slot: str, value: str) -> None:
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
            if words & ALL_WORDS:
                self._set_lines(state, purchase, "lines", "all")
                return True
            line = line_named(ctx.entity("product") or text, purchase.returnable)
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
            if mentions(text, COURIER_WORDS):
                slots["method"] = ReturnMethod.COURIER.value
                return True
            if mentions(text, IN_STORE_WORDS):
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
        if ctx.intent == "affirm" or (words and words <= YES_WORDS):
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
        if ctx.intent == "deny" or words & NO_WORDS:
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
        purchase = await find_purchase(ctx, number)
        if purchase is None:
            # Someone else's order reads exactly like one that does not exist.
            state.slots.pop("order", None)
            ctx.say("returns.order_not_found", number=order_number_key(number))
            return None
        if purchase.problem is not None:
            return explain(ctx, purchase.problem)
        if not purchase.returnable:
            await say_all_returned(ctx, purchase.order)
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
            return explain(ctx, purchase.problem)
        if not purchase.returnable:
            await say_all_returned(ctx, purchase.order)
            return Step.DONE
        if "lines" in slots and not still_returnable(state, purchase):
            # Returned meanwhile (on another channel, or at a till): choose again.
            slots.pop("lines")
            ctx.say("returns.exceeds")
        if "lines" not in slots:
            line = purchase.line(int(slots["pending"])) if "pending" in slots else None
            if line is not None:
                return ask_quantity(ctx, state, line)
            return ask_items(ctx, state, purchase)
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
        purchases = [p for p in await recent_purchases(ctx) if p.problem is None and p.returnable]
        if not purchases:
            ctx.say("returns.no_orders", days=RETURN_WINDOW.days, buttons=(person(ctx),))
            return Step.WAITING
        options = "\n".join(describe(ctx, p) for p in purchases[:MAX_ORDERS])
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
        buttons = [Button(short(s.name), f"{FLOW}:store={s.code}") for s in stores]
        ctx.say("returns.ask_store" if buttons else "returns.ask_store_city", buttons=buttons)
        return Step.WAITING

    def _summary(
        self, ctx: Context, state: FlowState, purchase: Purchase, store: Store | None
    ) -> Step:
        state.awaiting = "confirm"
        chosen = chosen_lines(state, purchase)
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
            reason=reason_name(ctx, state),
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
            return explain(ctx, error)
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

    async def _purchase(self, ctx: Context, state: FlowState) -> Purchase | None:
        number = state.slots.get("order")
        return await find_purchase(ctx, number) if number else None


def _complete(slots: dict[str, object]) -> bool:
    return all(name in slots for name in ("order", "lines", "reason", "method"))
