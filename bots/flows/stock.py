"""Stock: the item a customer means (product, size, colour) and which stores have it.

The item questions are shared with the reservation flow (bots.flows.reservations): both
ask only for what the product makes necessary (a size when it comes in several, a
colour when in several), and take a later value as a correction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bots.flows.base import Context, Flow, Step
from bots.lookup import format_money, match_products, match_stores, store_by_code, usual_store
from bots.nlu.vocabulary import colour_name, colours
from bots.state import FlowState
from crm.errors import UnknownProduct
from crm.models import Language, Product, ProductVariant, Store
from crm.services.stock import StockLevel, fold, stock_levels
from dialogue.messages import Button

# Button titles must stay short: WhatsApp cuts them at 20 characters.
MAX_TITLE = 20
# How many other stores an answer names, and how many a choice of store offers.
ALTERNATIVES = 3
STORE_CHOICES = 5
ITEM_SLOTS = ("product", "size", "color")
# While a flow waits for these, the message is not about the item ("2", "Madrid").
_NOT_ITEM = frozenset({"store", "quantity", "code"})

# --- Colours -------------------------------------------------------------------------------


def colour_key(text: str, language: Language) -> str | None:
    """The colour a text names, in any language, as the database's key; the longest
    name wins, so "azul marino" is navy and not blue. A word that is a colour only in
    another language ("tan" in a Spanish message) is not one."""
    vocabulary = colours()
    words = " " + " ".join(re.findall(r"[\w-]+", fold(text))) + " "
    found: tuple[int, str] | None = None
    for word, key in vocabulary.words().items():
        friend = vocabulary.false_friends.get(word)
        if friend is not None and friend is not language:
            continue
        folded = fold(word)
        if f" {folded} " in words and (found is None or len(folded) > found[0]):
            found = (len(folded), key)
    return found[1] if found else None


# --- Sizes ---------------------------------------------------------------------------------
_CLOTHING_ORDER = ("XXS", "XS", "S", "M", "L", "XL", "XXL")
# Brazilian clothing sizes (P, M, G, GG) as the shop stores them.
_SIZE_ALIASES = {"P": "S", "G": "L", "GG": "XL", "EG": "XXL"}


def _size_order(size: str) -> tuple[int, float, str]:
    if size.isdigit():
        return (0, float(size), size)
    if size.upper() in _CLOTHING_ORDER:
        return (1, float(_CLOTHING_ORDER.index(size.upper())), size)
    return (2, 0.0, size)


def size_in(text: str, sizes: Iterable[str]) -> str | None:
    """The product's size a text names ("42", "talla m", "tamanho G"), if any."""
    by_upper = {s.upper(): s for s in sizes}
    for token in reversed(re.findall(r"[\w.]+", text.upper())):
        if token in by_upper:
            return by_upper[token]
        alias = _SIZE_ALIASES.get(token)
        if alias is not None and alias in by_upper:
            return by_upper[alias]
    return None


# --- Products and the variant --------------------------------------------------------------


def short(title: str) -> str:
    """A button title that fits: long store and product names are cut."""
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1].rstrip() + "…"


async def _product(session: AsyncSession, external_id: str) -> Product | None:
    return await session.scalar(
        select(Product)
        .where(Product.external_id == external_id, Product.active.is_(True))
        .options(selectinload(Product.variants), selectinload(Product.prices))
    )


@dataclass(frozen=True)
class Item:
    """The variant a customer settled on."""

    product: Product
    variant: ProductVariant

    def describe(self, ctx: Context) -> str:
        """ "Brisa city sneaker, size 42, black", in the customer's language."""
        parts = [self.product.name(ctx.language.value)]
        if self.variant.size:
            parts.append(ctx.t("stock.size", size=self.variant.size))
        if self.variant.color:
            parts.append(colour_name(self.variant.color, ctx.language))
        return ", ".join(parts)

    def price(self, currency: str, language: Language) -> str | None:
        for price in self.product.prices:
            if price.currency == currency:
                return format_money(price.amount_minor, currency, language)
        return None


class ItemQuestions:
    """Asks for the product, the size and the colour a flow needs, and keeps them.

    Slots: `product` (external id), `size`, `color` (the database's English key).
    """

    def __init__(self, flow: str):
        self.flow = flow

    def take(self, ctx: Context, state: FlowState) -> None:
        """What this message says about the size and colour (product: see `settle`)."""
        slots = state.slots
        choice = ctx.choice(self.flow)
        if choice is not None and choice[0] in ("size", "color"):
            slots[choice[0]] = choice[1]
        size = ctx.entity("size")
        if size is not None:
            slots["size"] = size.strip()
        colour = ctx.entity("color")
        if colour is not None:
            slots["color"] = colour_key(colour, ctx.language) or fold(colour)
        if choice is None and colour is None and ctx.text and state.awaiting not in _NOT_ITEM:
            # A bare answer, or a correction the engine did not tag ("no, las negras").
            named = colour_key(ctx.text, ctx.language)
            if named is not None:
                slots["color"] = named

    async def settle(self, ctx: Context, state: FlowState, *, read: bool = True) -> Item | None:
        """The variant the slots name, or None after asking for what is missing.

        `read`: this message may name the product or a size (not when resuming).
        """
        slots = state.slots
        query = self._product_query(ctx, state) if read else None
        if query is not None and not await self._take_product(ctx, state, query):
            return None
        if "product" not in slots:
            state.awaiting = "product"
            ctx.say("stock.ask_product")
            return None
        product = await _product(ctx.session, slots["product"])
        if product is None:  # withdrawn since it was chosen
            self.forget(state)
            state.awaiting = "product"
            ctx.say("stock.ask_product")
            return None
        return self._variant(ctx, state, product, read=read)

    def forget(self, state: FlowState) -> None:
        for slot in ITEM_SLOTS:
            state.slots.pop(slot, None)

    def _product_query(self, ctx: Context, state: FlowState) -> str | None:
        choice = ctx.choice(self.flow)
        if choice is not None:
            return f"={choice[1]}" if choice[0] == "product" else None
        entity = ctx.entity("product")
        if entity is not None:
            return entity
        if state.awaiting == "product" and ctx.text:
            return ctx.text
        if "product" not in state.slots and ctx.intent in (self.flow, "check_stock") and ctx.text:
            return ctx.text  # "tenis brisa 42 preto" when the engine tagged no product
        return None

    async def _take_product(self, ctx: Context, state: FlowState, query: str) -> bool:
        """Fill the product slot from what the customer named; False after asking."""
        slots = state.slots
        if query.startswith("="):
            matches = [query[1:]]
        else:
            exact = await _product(ctx.session, query.strip())
            found = await match_products(ctx.session, query) if exact is None else []
            matches = [exact.external_id] if exact is not None else [m.external_id for m in found]
            if len(found) > 1:
                if slots.get("product") in matches:
                    return True  # the same product named again
                state.awaiting = "product"
                ctx.say(
                    "stock.which_product",
                    options="\n".join(f"- {m.name(ctx.language)}" for m in found),
                    buttons=[
                        Button(short(m.name(ctx.language)), f"{self.flow}:product={m.external_id}")
                        for m in found
                    ],
                )
                return False
        if not matches:
            if "product" in slots and state.awaiting != "product":
                return True  # a word the engine took for a product; the item stands
            state.awaiting = "product"
            ctx.say("stock.product_not_found", query=query.strip())
            return False
        slots["product"] = matches[0]
        return True

    def _variant(
        self, ctx: Context, state: FlowState, product: Product, *, read: bool
    ) -> Item | None:
        slots = state.slots
        variants = product.variants
        sizes = sorted({v.size for v in variants if v.size}, key=_size_order)
        product_colours = list(dict.fromkeys(v.color for v in variants if v.color))
        name = product.name(ctx.language.value)
        untagged = ctx.entity("size") is None and ctx.choice(self.flow) is None
        if read and untagged and ctx.text and state.awaiting not in _NOT_ITEM:
            # "tenis brisa 42 preto", "better in 42": a size the engine did not tag.
            named = size_in(ctx.text, sizes)
            if named is not None:
                slots["size"] = named

        size = slots.get("size")
        if size is not None:
            known = size_in(str(size), sizes)
            if known is None:
                ctx.say("stock.no_size", product=name, size=size)
                del slots["size"]
            else:
                slots["size"] = known
        colour = slots.get("color")
        if colour is not None and colour not in product_colours:
            ctx.say("stock.no_colour", product=name, colour=colour_name(colour, ctx.language))
            del slots["color"]

        def matching(size: str | None, colour: str | None) -> list[ProductVariant]:
            return [
                v
                for v in variants
                if (size is None or v.size == size) and (colour is None or v.color == colour)
            ]

        candidates = matching(slots.get("size"), slots.get("color"))
        if not candidates:  # that size does not come in that colour
            ctx.say(
                "stock.no_combination",
                size=slots["size"],
                colour=colour_name(slots["color"], ctx.language),
            )
            del slots["color"]
            candidates = matching(slots.get("size"), None)

        sizes_left = sorted({v.size for v in candidates if v.size}, key=_size_order)
        if len(sizes_left) > 1:
            state.awaiting = "size"
            ctx.say(
                "stock.ask_size",
                product=name,
                sizes=", ".join(sizes_left),
                buttons=[Button(s, f"{self.flow}:size={s}") for s in sizes_left],
            )
            return None
        colours_left = list(dict.fromkeys(v.color for v in candidates if v.color))
        if len(colours_left) > 1:
            state.awaiting = "color"
            names = [colour_name(c, ctx.language) for c in colours_left]
            ctx.say(
                "stock.ask_colour",
                product=name,
                colours=", ".join(names),
                buttons=[
                    Button(short(n), f"{self.flow}:color={c}")
                    for c, n in zip(colours_left, names, strict=True)
                ],
            )
            return None
        variant = candidates[0]
        slots["size"], slots["color"] = variant.size, variant.color
        return Item(product, variant)


async def item_by_sku(session: AsyncSession, sku: str) -> tuple[str, str | None, str | None]:
    """(product external id, size, colour) of a SKU; UnknownProduct when there is none."""
    variant = await session.scalar(
        select(ProductVariant)
        .where(ProductVariant.sku == sku)
        .options(selectinload(ProductVariant.product))
    )
    if variant is None:
        raise UnknownProduct(f"no variant with SKU {sku!r}")
    return variant.product.external_id, variant.size, variant.color


# --- Stores --------------------------------------------------------------------------------


def names_city(query: str, stores: Sequence[Store]) -> str | None:
    """The city a customer named, when `query` names one rather than a store."""
    words = fold(query).split()
    for store in stores:
        city = fold(store.city)
        if city == fold(query) or city in words or (len(city.split()) > 1 and city in fold(query)):
            return store.city
    return None


@dataclass(frozen=True)
class Place:
    """Where the customer wants stock: one store, or a city."""

    store: Store | None
    city: str | None


async def place_of(ctx: Context, state: FlowState) -> Place | None:
    """The store or city the slots name, else the customer's usual store, else their city."""
    code = state.slots.get("store")
    if code is not None:
        store = await store_by_code(ctx.session, code)
        if store is not None:
            return Place(store, store.city)
    if state.slots.get("city"):
        return Place(None, state.slots["city"])
    usual = await usual_store(ctx.session, ctx.customer)
    if usual is not None:
        return Place(usual, usual.city)
    if ctx.customer.city:
        return Place(None, ctx.customer.city)
    return None


async def take_place(ctx: Context, state: FlowState, query: str) -> bool:
    """Fill `store` (a store named) or `city` (a city named, whatever its number of
    stores) from what the customer wrote; False when nothing matched."""
    stores = await match_stores(ctx.session, query)
    if not stores:
        return False
    city = names_city(query, stores)
    if city is not None:
        state.slots.pop("store", None)
        state.slots["city"] = city
    else:
        state.slots.pop("city", None)
        state.slots["store"] = stores[0].code
    return True


async def levels_near(session: AsyncSession, sku: str, place: Place) -> list[StockLevel]:
    """Every store's stock of the variant: the place's store first, then the rest of its
    city (most units first), then the other stores, nearest first (by coordinates)."""
    levels = await stock_levels(session, sku, near_city=place.city)
    rows = (
        await session.execute(
            select(Store.code, Store.city, Store.latitude, Store.longitude).where(
                Store.active.is_(True)
            )
        )
    ).all()
    located: dict[str, tuple[float, float]] = {
        code: (lat, lon) for code, _, lat, lon in rows if lat is not None and lon is not None
    }
    home = place.store.code if place.store is not None else None
    city = fold(place.city) if place.city else None
    anchor = located.get(home) if home else None
    if anchor is None and city is not None:
        in_city = (code for code, name, _, _ in rows if code in located and fold(name) == city)
        anchor = located.get(next(in_city, ""))

    def nearness(level: StockLevel) -> tuple[bool, bool, int, float]:
        same_city = fold(level.city) == city
        here = located.get(level.store_code)
        far = math.inf if anchor is None or here is None else _km(*anchor, *here)
        return (level.store_code != home, not same_city, -level.available if same_city else 0, far)

    # Stable: without coordinates, stock_levels' order (most units first) stays.
    return sorted(levels, key=nearness)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance: good enough to say which store is nearer."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 12742 * math.asin(math.sqrt(a))


def store_buttons(flow: str, levels: Iterable[StockLevel]) -> list[Button]:
    return [Button(short(s.store_name), f"{flow}:store={s.store_code}") for s in levels]


def store_lines(ctx: Context, levels: Iterable[StockLevel]) -> str:
    return "\n".join(
        ctx.t("stock.line", units=s.available, store=s.store_name, city=s.city) for s in levels
    )


# --- The flow ------------------------------------------------------------------------------


class CheckStock(Flow):
    """ "Do you have the Brisa in 42?": units in the customer's store or city, and where
    else, at the one price of every channel; with a button to reserve it."""

    name = "check_stock"
    intents: ClassVar[frozenset[str]] = frozenset({"check_stock"})
    slot_entities: ClassVar[frozenset[str]] = frozenset({"product", "size", "color", "store"})

    def __init__(self) -> None:
        self.item = ItemQuestions(self.name)

    def wants(self, ctx: Context, state: FlowState) -> bool:
        # "Reserve them" in the middle of a check starts the reservation, which takes
        # over what the check already knows (bots.flows.reservations).
        if ctx.intent == "reserve_item":
            return False
        return super().wants(ctx, state)

    async def advance(self, ctx: Context, state: FlowState) -> Step:
        self.item.take(ctx, state)
        choice = ctx.choice(self.name)
        query = ctx.entity("store")
        if choice is not None and choice[0] in ("store", "city"):
            state.slots.pop("store" if choice[0] == "city" else "city", None)
            state.slots[choice[0]] = choice[1]
        elif query is None and state.awaiting == "store" and ctx.text:
            query = ctx.text
        if query is not None and not await take_place(ctx, state, query):
            ctx.say("stock.store_not_found", query=query)
            state.awaiting = "store"
            return Step.WAITING
        return await self._answer(ctx, state)

    async def resume(self, ctx: Context, state: FlowState) -> Step:
        return await self._answer(ctx, state, read=False)

    async def _answer(self, ctx: Context, state: FlowState, *, read: bool = True) -> Step:
        item = await self.item.settle(ctx, state, read=read)
        if item is None:
            return Step.WAITING
        place = await place_of(ctx, state)
        if place is None:
            state.awaiting = "store"
            ctx.say("stock.ask_store")
            return Step.WAITING
        levels = await levels_near(ctx.session, item.variant.sku, place)
        ctx.reply(*self._report(ctx, item, place, levels))
        return Step.DONE

    def _report(
        self, ctx: Context, item: Item, place: Place, levels: list[StockLevel]
    ) -> tuple[str, list[Button]]:
        home, city = place.store, place.city or ""
        with_stock = [s for s in levels if s.available > 0]
        lines = [item.describe(ctx)]
        if home is not None:
            units = next((s.available for s in levels if s.store_code == home.code), 0)
            key = "stock.here" if units else "stock.none_here"
            lines.append(ctx.t(key, units=units, store=home.name, city=home.city))
            others = [s for s in with_stock if s.store_code != home.code]
            header = "stock.also" if units else "stock.elsewhere"
        else:
            units = 0
            others = [s for s in with_stock if fold(s.city) == fold(city)]
            header = "stock.in_city"
            if not others:
                lines.append(ctx.t("stock.none_in_city", city=city))
                others, header = with_stock, "stock.elsewhere"
        if others:
            lines.append(ctx.t(header, city=city) + "\n" + store_lines(ctx, others[:ALTERNATIVES]))
        currency = home.currency if home is not None else (levels[0].currency if levels else None)
        price = item.price(currency, ctx.language) if currency else None
        if price is not None:
            lines.append(ctx.t("stock.price", price=price))
        if not with_stock:
            lines.append(ctx.t("stock.nowhere"))
            return "\n\n".join(lines), []
        # Straight to the confirmation when the customer's own store has it; else the
        # reservation asks which of the stores that have it.
        target = (
            f"{item.variant.sku}@{home.code}" if home is not None and units else item.variant.sku
        )
        button = Button(ctx.t("stock.reserve_button"), f"reserve_item:item={target}")
        return "\n\n".join(lines), [button]
