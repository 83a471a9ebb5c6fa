"""Store stock of a variant, and finding the variant a customer means."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm.errors import UnknownProduct
from crm.models import Inventory, Product, ProductPrice, ProductVariant, Store


@dataclass(frozen=True)
class StockLevel:
    """One store's stock of one variant, priced in the store's currency."""

    sku: str
    store_code: str
    store_name: str
    city: str
    country: str
    on_hand: int
    reserved: int
    available: int  # what can still be sold or reserved; never negative
    price_minor: int | None  # None when the product has no price in this currency
    currency: str


def fold(text: str) -> str:
    """Text compared as people mean it: "A Coruña" == "a coruna", "MARRÓN" == "marron"."""
    decomposed = unicodedata.normalize("NFKD", text.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


async def stock_levels(
    session: AsyncSession, sku: str, *, near_city: str | None = None
) -> list[StockLevel]:
    """Stock of a variant in every active store that carries it.

    Stores in `near_city` (compared ignoring case and accents) come first, then the
    rest; within each group the most available first. Unknown SKU: UnknownProduct.
    """
    variant = await session.scalar(select(ProductVariant).where(ProductVariant.sku == sku.strip()))
    if variant is None:
        raise UnknownProduct(f"no variant with SKU {sku!r}")
    rows = await session.execute(
        select(Store, Inventory.on_hand, Inventory.reserved, ProductPrice.amount_minor)
        .join(Inventory, Inventory.store_id == Store.id)
        .outerjoin(
            ProductPrice,
            and_(
                ProductPrice.product_id == variant.product_id,
                ProductPrice.currency == Store.currency,
            ),
        )
        .where(Inventory.variant_id == variant.id, Store.active.is_(True))
    )
    levels = [
        StockLevel(
            sku=variant.sku,
            store_code=store.code,
            store_name=store.name,
            city=store.city,
            country=store.country,
            on_hand=on_hand,
            reserved=reserved,
            available=max(0, on_hand - reserved),
            price_minor=price,
            currency=store.currency,
        )
        for store, on_hand, reserved, price in rows
    ]
    # A chain has tens or hundreds of stores: sorting here keeps the accent-insensitive
    # comparison the same on SQLite and PostgreSQL.
    city = fold(near_city) if near_city else None
    levels.sort(key=lambda s: (fold(s.city) != city, -s.available, s.store_name, s.store_code))
    return levels


async def find_variant(
    session: AsyncSession,
    product_external_id: str,
    *,
    size: str | None = None,
    color: str | None = None,
) -> list[ProductVariant]:
    """The product's variants matching size and colour (ignoring case and accents).

    An omitted size or colour matches every variant; no match is an empty list.
    An unknown product raises UnknownProduct. Variants come with their product.
    """
    product = await session.scalar(
        select(Product)
        .where(Product.external_id == product_external_id.strip())
        .options(selectinload(Product.variants).selectinload(ProductVariant.product))
    )
    if product is None:
        raise UnknownProduct(f"no product {product_external_id!r}")

    def matches(value: str | None, wanted: str | None) -> bool:
        return wanted is None or (value is not None and fold(value) == fold(wanted))

    return [v for v in product.variants if matches(v.size, size) and matches(v.color, color)]
