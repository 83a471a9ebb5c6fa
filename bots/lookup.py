"""Finding what a customer names, as they write it: products, stores, their usual store.

Names are compared folded (no case, no accents) and with typos (rapidfuzz), in every
language the shop names its products in, so "zapatila brisa", "tenis brisa" and
"brisa sneaker" are the same product.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm.models import Customer, Language, Order, Product, Store
from crm.services.stock import fold

# Below this a name is not taken as meant (0-100, rapidfuzz's WRatio).
PRODUCT_CUTOFF = 72.0
STORE_CUTOFF = 80.0


@dataclass(frozen=True)
class ProductMatch:
    external_id: str
    names: dict[str, str]
    score: float

    def name(self, language: Language) -> str:
        return self.names.get(language.value) or self.names.get("en") or self.external_id


async def match_products(
    session: AsyncSession, query: str, *, limit: int = 3
) -> list[ProductMatch]:
    """Active products whose name in any language is close to `query`, best first.

    A clear winner comes alone; close runners-up come with it so the bot can ask.
    """
    wanted = fold(query)
    if not wanted:
        return []
    rows = (
        await session.execute(
            select(Product.external_id, Product.names).where(Product.active.is_(True))
        )
    ).all()
    choices: dict[tuple[str, str], str] = {}
    names_of: dict[str, dict[str, str]] = {}
    for external_id, names in rows:
        names_of[external_id] = names
        for language, name in names.items():
            choices[(external_id, language)] = fold(name)
        choices[(external_id, "id")] = fold(external_id)
    best: dict[str, float] = {}
    for name, score, key in process.extract(
        wanted, choices, scorer=fuzz.WRatio, score_cutoff=PRODUCT_CUTOFF, limit=None
    ):
        # WRatio scores every "tenis ..." alike for "tenis brisa 42"; the words the
        # query and the name share tell the Brisa apart.
        score = (score + fuzz.token_set_ratio(wanted, name)) / 2
        external_id = key[0]
        best[external_id] = max(score, best.get(external_id, 0.0))
    ranked = sorted(best.items(), key=lambda item: -item[1])
    if not ranked:
        return []
    top = ranked[0][1]
    return [
        ProductMatch(external_id, names_of[external_id], score)
        for external_id, score in ranked[:limit]
        if score >= top - 5.0
    ]


async def match_stores(session: AsyncSession, query: str, *, limit: int = 5) -> list[Store]:
    """Active stores named like `query`, or in the city it names; with their hours."""
    wanted = fold(query)
    if not wanted:
        return []
    stores = (
        await session.scalars(
            select(Store).where(Store.active.is_(True)).options(selectinload(Store.hours))
        )
    ).all()
    in_city = [s for s in stores if fold(s.city) == wanted or fold(s.city) in wanted.split(" ")]
    if in_city:
        return in_city[:limit]
    by_code = {s.code: s for s in stores}
    exact = [s for s in stores if wanted in (fold(s.name), fold(s.code))]
    if exact:
        return exact
    choices = {s.code: fold(s.name) for s in stores}
    choices.update({f"{s.code}@city": fold(s.city) for s in stores})
    choices.update({f"{s.code}@code": fold(s.code) for s in stores})
    best: dict[str, float] = {}
    for _, score, key in process.extract(
        wanted, choices, scorer=fuzz.WRatio, score_cutoff=STORE_CUTOFF, limit=None
    ):
        code = key.split("@")[0]
        best[code] = max(score, best.get(code, 0.0))
    if not best:
        return []
    # "rumbo covent garden" is close to every "rumbo ..." store: only the best stand.
    top = max(best.values())
    ranked = sorted((c for c, score in best.items() if score >= top - 5.0), key=lambda c: -best[c])
    return [by_code[code] for code in ranked[:limit]]


async def store_by_code(session: AsyncSession, code: str) -> Store | None:
    return await session.scalar(
        select(Store)
        .where(Store.code == code, Store.active.is_(True))
        .options(selectinload(Store.hours))
    )


async def usual_store(session: AsyncSession, customer: Customer) -> Store | None:
    """The store the customer last bought in or collected from, else one in their city."""
    order = await session.scalar(
        select(Order)
        .where(
            Order.customer_id == customer.id,
            or_(Order.store_id.is_not(None), Order.pickup_store_id.is_not(None)),
        )
        .order_by(Order.placed_at.desc())
        .limit(1)
    )
    if order is not None:
        store_id = order.pickup_store_id or order.store_id
        store = await session.scalar(
            select(Store)
            .where(Store.id == store_id, Store.active.is_(True))
            .options(selectinload(Store.hours))
        )
        if store is not None:
            return store
    if customer.city:
        stores = await match_stores(session, customer.city, limit=1)
        return stores[0] if stores else None
    return None


def intervals_on(store: Store, day: datetime) -> list[tuple[time, time]]:
    """The store's opening intervals on the weekday of `day` (in the store's time)."""
    local = day.astimezone(ZoneInfo(store.timezone))
    return [(h.opens, h.closes) for h in store.hours if h.weekday == local.weekday()]


def is_open(store: Store, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(store.timezone)).time()
    return any(opens <= local < closes for opens, closes in intervals_on(store, now))


def format_hours(intervals: list[tuple[time, time]]) -> str:
    return ", ".join(f"{o:%H:%M}–{c:%H:%M}" for o, c in intervals)


def format_money(minor: int, currency: str, language: Language) -> str:
    """19.95 € / R$ 199,90 / MX$1,499.00, as customers of each market read prices."""
    units, cents = divmod(minor, 100)
    if language is Language.EN:
        amount = f"{units:,}.{cents:02d}"
    else:
        amount = f"{units:,}".replace(",", ".") + f",{cents:02d}"
    symbols = {"EUR": ("", " €"), "BRL": ("R$ ", ""), "MXN": ("MX$", ""), "USD": ("US$", "")}
    prefix, suffix = symbols.get(currency, ("", f" {currency}"))
    return f"{prefix}{amount}{suffix}"
