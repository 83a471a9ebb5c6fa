"""Store info: hours today, address, and the stores in a city."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import select

from bots.flows.base import Context, Flow, Step
from bots.lookup import format_hours, intervals_on, is_open, match_stores, usual_store
from bots.state import FlowState
from crm.models import Store


def store_card(ctx: Context, store: Store) -> str:
    """One store, as the customer needs it today: where, and when it is open."""
    today = intervals_on(store, ctx.now)
    hours = (
        ctx.t("store.hours_today", hours=format_hours(today))
        if today
        else ctx.t("store.closed_today")
    )
    now = ctx.t("store.open_now") if is_open(store, ctx.now) else ctx.t("store.closed_now")
    card = ctx.t("store.card", name=store.name, address=store.address, city=store.city,
                 hours=hours, now=now)  # fmt: skip
    return card + "\n" + ctx.t("store.phone", phone=store.phone) if store.phone else card


class StoreInfo(Flow):
    name = "store_info"
    intents: ClassVar[frozenset[str]] = frozenset({"store_info"})
    slot_entities: ClassVar[frozenset[str]] = frozenset({"store"})

    async def advance(self, ctx: Context, state: FlowState) -> Step:
        query = ctx.entity("store")
        choice = ctx.choice(self.name)
        if choice is not None:
            query = choice[1]
        elif query is None and state.awaiting == "store" and ctx.text:
            query = ctx.text
        if query is not None:
            stores = await match_stores(ctx.session, query)
            if not stores:
                state.awaiting = "store"
                await self._not_found(ctx)
                return Step.WAITING
        else:
            usual = await usual_store(ctx.session, ctx.customer)
            if usual is None:
                state.awaiting = "store"
                ctx.say("store.ask")
                return Step.WAITING
            stores = [usual]
        cards = "\n\n".join(store_card(ctx, store) for store in stores)
        ctx.reply(cards)
        return Step.DONE

    async def resume(self, ctx: Context, state: FlowState) -> Step:
        state.awaiting = "store"
        ctx.say("store.ask")
        return Step.WAITING

    async def _not_found(self, ctx: Context) -> None:
        cities = sorted(set((await ctx.session.scalars(
            select(Store.city).where(Store.active.is_(True)))).all()))  # fmt: skip
        ctx.say("store.not_found", cities=", ".join(cities))
