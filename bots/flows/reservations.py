"""Reservations for pick-up in a store: making one (with a confirmation), cancelling one."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bots.flows.base import Context, Flow, Step
from bots.flows.holds import VERIFYING, ask_who, hours, say_limit, short_hold_note
from bots.flows.stock import (
    ITEM_SLOTS,
    Item,
    ItemQuestions,
    Place,
    item_by_sku,
    levels_near,
    place_of,
    store_buttons,
    store_lines,
    take_place,
)
from bots.flows.verification import answers_verification, ensure_verified
from bots.lookup import store_by_code
from bots.state import FlowState
from crm.errors import (
    IllegalTransition,
    OutOfStock,
    ReservationNotFound,
    UnknownProduct,
    UnknownStore,
    UnverifiedHoldLimit,
)
from crm.models import ProductVariant, Reservation, ReservationStatus, Store
from crm.services.codes import CODE_ALPHABET, CODE_LENGTH
from crm.services.reservations import (
    HoldTerms,
    cancel_reservation,
    check_hold,
    pickup_code_key,
    reserve_item,
)
from crm.services.stock import fold
from dialogue.messages import Button

# More than this in one reservation is not a customer picking something up.
MAX_QUANTITY = 5
STORE_CHOICES = 5
HELD_SHOWN = 5

_NUMBERS = {
    "un": 1, "uno": 1, "una": 1, "um": 1, "uma": 1, "one": 1, "a": 1,
    "dos": 2, "dois": 2, "duas": 2, "two": 2, "pair": 2, "par": 2,
    "tres": 3, "três": 3, "three": 3, "cuatro": 4, "quatro": 4, "four": 4,
    "cinco": 5, "five": 5,
}  # fmt: skip


def _quantity(text: str) -> int | None:
    for word in fold(text).split():
        if word.isdigit():
            return int(word)
        if word in _NUMBERS:
            return _NUMBERS[word]
    return None


def until(ctx: Context, when: datetime, store: Store) -> str:
    """When a hold ends, in the store's local time: "4 de mar a las 11:00"."""
    local = when.astimezone(ZoneInfo(store.timezone))
    month = ctx.t("reserve.months").split(",")[local.month - 1]
    return ctx.t("reserve.until", day=local.day, month=month, time=f"{local:%H:%M}")


def _yes_no(ctx: Context, flow: str, prefix: str) -> tuple[Button, Button]:
    return (
        ctx.button(f"{prefix}.yes", f"{flow}:confirm=yes"),
        ctx.button(f"{prefix}.no", f"{flow}:confirm=no"),
    )


def _answer(ctx: Context, flow: str) -> bool | None:
    """Yes (True) or no (False) to a confirmation, else None."""
    choice = ctx.choice(flow)
    if choice is not None and choice[0] == "confirm":
        return choice[1] == "yes"
    if ctx.intent in ("affirm", "deny"):
        return ctx.intent == "affirm"
    return None


class ReserveItem(Flow):
    """Product, variant, store and quantity; a confirmation; then the hold and its code.

    A customer nobody vouched for holds less (bots.flows.holds): past the limits the
    flow offers what they may hold, or to prove who they are and go on from there.
    """

    name = "reserve_item"
    intents: ClassVar[frozenset[str]] = frozenset({"reserve_item"})
    slot_entities: ClassVar[frozenset[str]] = frozenset(
        {"product", "size", "color", "store", "quantity"}
    )

    def __init__(self) -> None:
        self.item = ItemQuestions(self.name)

    def wants(self, ctx: Context, state: FlowState) -> bool:
        return answers_verification(ctx, state) or super().wants(ctx, state)

    async def advance(self, ctx: Context, state: FlowState) -> Step:
        choice = ctx.choice(self.name)
        verifying = choice is None and state.awaiting in VERIFYING
        if (choice is not None and choice[0] == "verify") or verifying:
            return await self._verify(ctx, state)
        slots = state.slots
        if not slots:
            self._continue_stock_check(ctx, state)
        before = dict(slots)
        choice = ctx.choice(self.name)
        if choice is not None and choice[0] == "item":
            await self._from_stock(ctx, state, choice[1])
        self.item.take(ctx, state)
        await self._take_store(ctx, state)
        if not self._take_quantity(ctx, state):
            return Step.WAITING
        if state.awaiting == "confirm":
            named = {e.name for e in ctx.understanding.entities}
            corrected = slots != before or bool(named & self.slot_entities)
            answer = None if corrected else _answer(ctx, self.name)
            if answer is False:
                ctx.say_menu("reserve.not_reserved")
                return Step.DONE
            if answer is True:
                return await self._proceed(ctx, state, read=False, confirmed=True)
        return await self._proceed(ctx, state, read=True)

    async def resume(self, ctx: Context, state: FlowState) -> Step:
        return await self._proceed(ctx, state, read=False)

    async def _verify(self, ctx: Context, state: FlowState) -> Step:
        """Proving who they are, to reserve past the limits; then on where they were."""
        # "Use another number" too: the code exchange's own question speaks of orders.
        if ctx.choice(self.name) in (("verify", "start"), ("verify", "other")) and not ctx.verified:
            ask_who(ctx, state)
            return Step.WAITING
        if not await ensure_verified(ctx, state):
            return Step.WAITING if state.awaiting else Step.DONE
        return await self._proceed(ctx, state, read=False)

    def _continue_stock_check(self, ctx: Context, state: FlowState) -> None:
        """ "Reserve them" in the middle of a stock check: keep what it already knows."""
        checked = ctx.state.take_paused("check_stock")
        if checked is not None:
            for slot in (*ITEM_SLOTS, "store", "city"):
                if checked.slots.get(slot) is not None:
                    state.slots[slot] = checked.slots[slot]

    async def _from_stock(self, ctx: Context, state: FlowState, value: str) -> None:
        """The "Reserve it" button of a stock answer: `SKU` or `SKU@STORE`."""
        sku, _, store = value.partition("@")
        try:
            product, size, colour = await item_by_sku(ctx.session, sku)
        except UnknownProduct:
            return
        state.slots.clear()
        state.slots.update(product=product, size=size, color=colour)
        if store:
            state.slots["store"] = store

    async def _take_store(self, ctx: Context, state: FlowState) -> None:
        choice = ctx.choice(self.name)
        if choice is not None and choice[0] == "store":
            state.slots.pop("city", None)
            state.slots["store"] = choice[1]
            return
        query = ctx.entity("store")
        if query is None and state.awaiting == "store" and ctx.text:
            query = ctx.text
        if query is not None and not await take_place(ctx, state, query):
            ctx.say("reserve.store_not_found", query=query)

    def _take_quantity(self, ctx: Context, state: FlowState) -> bool:
        choice = ctx.choice(self.name)
        if choice is not None and choice[0] == "quantity":
            raw: str | None = choice[1]
        else:
            raw = ctx.entity("quantity")
            if raw is None and state.awaiting == "quantity":
                raw = ctx.text
        if raw is None:
            return True
        quantity = _quantity(raw)
        if quantity is None or not 1 <= quantity <= MAX_QUANTITY:
            state.awaiting = "quantity"
            ctx.say("reserve.quantity_range", max=MAX_QUANTITY)
            return False
        state.slots["quantity"] = quantity
        return True

    async def _proceed(
        self, ctx: Context, state: FlowState, *, read: bool, confirmed: bool = False
    ) -> Step:
        item = await self.item.settle(ctx, state, read=read)
        if item is None:
            return Step.WAITING
        quantity = int(state.slots.get("quantity", 1))
        store = await self._store(ctx, state, item, quantity)
        if store is None:
            return Step.WAITING if state.awaiting in ("store", "size") else Step.DONE
        if not confirmed:
            try:
                terms = await check_hold(
                    ctx.session, ctx.customer.id, store.code, item.variant.sku, quantity
                )
            except UnverifiedHoldLimit as limit:
                say_limit(ctx, self.name, state, limit, quantity=quantity, store=store)
                return Step.WAITING
            self._ask_confirmation(ctx, state, item, store, quantity, terms)
            return Step.WAITING
        return await self._hold(ctx, state, item, store, quantity)

    async def _store(
        self, ctx: Context, state: FlowState, item: Item, quantity: int
    ) -> Store | None:
        """The chosen store when it has enough; else asks among those that have it."""
        place = await place_of(ctx, state) or Place(None, None)
        levels = await levels_near(ctx.session, item.variant.sku, place)
        code = state.slots.get("store")
        if code is not None:
            store = await store_by_code(ctx.session, code)
            level = next((s for s in levels if s.store_code == code), None)
            if store is not None and level is not None and level.available >= quantity:
                return store
            del state.slots["store"]
            if store is not None:
                available = level.available if level else 0
                ctx.say("reserve.not_enough", store=store.name, available=available)
        enough = [s for s in levels if s.available >= quantity]
        city = state.slots.get("city")
        if city is not None:
            in_city = [s for s in enough if fold(s.city) == fold(city)]
            if len(in_city) == 1:  # the confirmation names it
                state.slots["store"] = in_city[0].store_code
                return await store_by_code(ctx.session, in_city[0].store_code)
            if in_city:
                enough = in_city
            else:
                ctx.say("reserve.none_in_city", city=city)
        if not enough:
            ctx.say("reserve.nowhere", item=item.describe(ctx))
            if len(item.product.variants) > 1:  # another size or colour may be in stock
                state.slots.pop("size", None)
                state.slots.pop("color", None)
                state.awaiting = "size"
                ctx.say("reserve.try_other")
            return None
        state.awaiting = "store"
        shown = enough[:STORE_CHOICES]
        ctx.say(
            "reserve.ask_store",
            item=item.describe(ctx),
            stores=store_lines(ctx, shown),
            buttons=store_buttons(self.name, shown),
        )
        return None

    def _ask_confirmation(
        self,
        ctx: Context,
        state: FlowState,
        item: Item,
        store: Store,
        quantity: int,
        terms: HoldTerms,
    ) -> None:
        state.awaiting = "confirm"
        question = ctx.t(
            "reserve.confirm",
            quantity=quantity,
            item=item.describe(ctx),
            store=store.name,
            address=store.address,
            city=store.city,
            price=item.price(store.currency, ctx.language) or "-",
            hours=hours(terms.hold),
        )
        note = short_hold_note(ctx, terms)
        ctx.reply(f"{question}\n{note}" if note else question, _yes_no(ctx, self.name, "reserve"))

    async def _hold(
        self, ctx: Context, state: FlowState, item: Item, store: Store, quantity: int
    ) -> Step:
        try:
            reservation = await reserve_item(
                ctx.session, ctx.customer.id, store.code, item.variant.sku, quantity, now=ctx.now
            )
        except (OutOfStock, UnknownStore) as exc:
            # Someone took the last units (or the store closed) since we asked.
            available = exc.available if isinstance(exc, OutOfStock) else 0
            ctx.say("reserve.not_enough", store=store.name, available=available)
            del state.slots["store"]
            return await self._proceed(ctx, state, read=False)
        except UnverifiedHoldLimit as limit:  # they reserved elsewhere since we asked
            say_limit(ctx, self.name, state, limit, quantity=quantity, store=store)
            return Step.WAITING
        ctx.say(
            "reserve.done",
            code=reservation.pickup_code,
            quantity=quantity,
            item=item.describe(ctx),
            store=store.name,
            address=store.address,
            city=store.city,
            until=until(ctx, reservation.held_until, store),
        )
        return Step.DONE


def codes_in(text: str) -> list[str]:
    """What could be pick-up codes in what the customer wrote ("K7M-2PQ", "k7m2pq")."""
    found = []
    for token in text.split():
        code = pickup_code_key(token.strip(".,;:!?¡¿()\"'#"))
        if len(code) == CODE_LENGTH and all(c in CODE_ALPHABET for c in code):
            found.append(code)
    return found


def _has_digit(code: str) -> bool:
    return any(c.isdigit() for c in code)


class CancelReservation(Flow):
    """The customer's held reservations (or the code they give), a confirmation, the
    cancellation; the stock goes back on the shelf."""

    name = "cancel_reservation"
    intents: ClassVar[frozenset[str]] = frozenset({"cancel_reservation"})

    def wants(self, ctx: Context, state: FlowState) -> bool:
        return super().wants(ctx, state) or any(map(_has_digit, codes_in(ctx.text)))

    async def advance(self, ctx: Context, state: FlowState) -> Step:
        choice = ctx.choice(self.name)
        if choice is not None and choice[0] == "code":
            code: str | None = choice[1]
        else:
            code = await self._code_in(ctx, state)
        if code is not None:
            state.slots["code"] = code
        elif state.awaiting == "confirm":
            answer = _answer(ctx, self.name)
            if answer is True:
                return await self._cancel(ctx, state)
            if answer is False:
                await self._keep(ctx, state)
                return Step.DONE
        elif state.awaiting == "code" and ctx.text:
            ctx.say("cancel_reservation.not_found", code=ctx.text)
        return await self._proceed(ctx, state)

    async def resume(self, ctx: Context, state: FlowState) -> Step:
        return await self._proceed(ctx, state)

    async def _code_in(self, ctx: Context, state: FlowState) -> str | None:
        """The code the customer gave, if any.

        Asked for one, any well-formed token is a code. Otherwise a six-letter word
        ("PUEDES") is one only when it is one of the customer's own codes: a token
        with a digit is always one, so unknown and other people's codes get one answer.
        """
        candidates = codes_in(ctx.text)
        if state.awaiting == "code" or not candidates:
            return candidates[0] if candidates else None
        with_digit = [c for c in candidates if _has_digit(c)]
        if with_digit:
            return with_digit[0]
        own = await ctx.session.scalars(
            select(Reservation.pickup_code).where(
                Reservation.customer_id == ctx.customer.id,
                Reservation.pickup_code.in_(candidates),
            )
        )
        return next(iter(own.all()), None)

    async def _proceed(self, ctx: Context, state: FlowState) -> Step:
        code = state.slots.get("code")
        reservation = await self._own(ctx, code) if code is not None else None
        if code is not None and reservation is None:
            ctx.say("cancel_reservation.not_found", code=code)
            del state.slots["code"]
        if reservation is None:
            return await self._ask_which(ctx, state)
        if reservation.status is not ReservationStatus.HELD or reservation.held_until <= ctx.now:
            ctx.say("cancel_reservation.not_held", code=reservation.pickup_code)
            return Step.DONE
        state.awaiting = "confirm"
        ctx.say(
            "cancel_reservation.confirm",
            code=reservation.pickup_code,
            quantity=reservation.quantity,
            item=Item(reservation.variant.product, reservation.variant).describe(ctx),
            store=reservation.store.name,
            buttons=_yes_no(ctx, self.name, "cancel_reservation"),
        )
        return Step.WAITING

    async def _ask_which(self, ctx: Context, state: FlowState) -> Step:
        held = await self._held(ctx)
        if not held:
            ctx.say("cancel_reservation.none")
            return Step.DONE
        state.awaiting = "code"
        ctx.say(
            "cancel_reservation.which",
            reservations="\n".join(
                ctx.t(
                    "cancel_reservation.line",
                    code=r.pickup_code,
                    quantity=r.quantity,
                    item=Item(r.variant.product, r.variant).describe(ctx),
                    store=r.store.name,
                    until=until(ctx, r.held_until, r.store),
                )
                for r in held
            ),
            buttons=[Button(r.pickup_code, f"{self.name}:code={r.pickup_code}") for r in held],
        )
        return Step.WAITING

    async def _cancel(self, ctx: Context, state: FlowState) -> Step:
        code = str(state.slots.get("code"))
        try:
            await cancel_reservation(ctx.session, ctx.customer.id, code, now=ctx.now)
        except ReservationNotFound:
            ctx.say("cancel_reservation.not_found", code=code)
            return Step.DONE
        except IllegalTransition:  # collected or expired since we asked
            ctx.say("cancel_reservation.not_held", code=code)
            return Step.DONE
        ctx.say_menu("cancel_reservation.done", code=code)
        return Step.DONE

    async def _keep(self, ctx: Context, state: FlowState) -> None:
        reservation = await self._own(ctx, str(state.slots.get("code")))
        if reservation is None:
            ctx.say_menu("reserve.not_reserved")
            return
        ctx.say(
            "cancel_reservation.kept",
            code=reservation.pickup_code,
            until=until(ctx, reservation.held_until, reservation.store),
        )

    async def _own(self, ctx: Context, code: str) -> Reservation | None:
        """The customer's own reservation with that code; someone else's is None, as an
        unknown code is, so that nobody learns which codes exist."""
        return await ctx.session.scalar(
            select(Reservation)
            .where(
                Reservation.pickup_code == pickup_code_key(code),
                Reservation.customer_id == ctx.customer.id,
            )
            .options(*_DETAILS)
        )

    async def _held(self, ctx: Context) -> list[Reservation]:
        held = await ctx.session.scalars(
            select(Reservation)
            .where(
                Reservation.customer_id == ctx.customer.id,
                Reservation.status == ReservationStatus.HELD,
                Reservation.held_until > ctx.now,
            )
            .order_by(Reservation.held_until)
            .limit(HELD_SHOWN)
            .options(*_DETAILS)
        )
        return list(held.all())


# What a reservation is shown with: its store, and the variant with its product.
_DETAILS = (
    selectinload(Reservation.store).selectinload(Store.hours),
    selectinload(Reservation.variant).selectinload(ProductVariant.product),
)
