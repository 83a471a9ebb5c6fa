"""Products from the shop's systems, with their variants and prices, and one read back."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm.errors import UnknownProduct
from crm.models import Language, Product, ProductPrice, ProductVariant
from crm.records import BatchResult, ProductRecord, ProductView, UpsertResult, VariantRecord
from crm.services.sync.batch import Problem, assign, count, duplicates, one_record, reject_if


def _set_variants(product: Product, variants: Sequence[VariantRecord]) -> None:
    """Add new SKUs and update known ones; SKUs not sent are kept (order lines use them)."""
    by_sku = {v.sku: v for v in product.variants}
    for record in variants:
        variant = by_sku.get(record.sku)
        created = variant is None
        if variant is None:
            variant = ProductVariant(sku=record.sku)
            product.variants.append(variant)
        assign(variant, record, ("size", "color", "barcode"), created=created)


def _set_prices(product: Product, prices: dict[str, int]) -> None:
    """Replace the product's prices as a whole: one per currency, on every channel."""
    current = {p.currency: p for p in product.prices}
    for currency, amount in prices.items():
        price = current.pop(currency, None)
        if price is None:
            product.prices.append(ProductPrice(currency=currency, amount_minor=amount))
        else:
            price.amount_minor = amount
    for stale in current.values():
        product.prices.remove(stale)


async def _upsert_products(
    session: AsyncSession, records: Sequence[ProductRecord]
) -> list[tuple[Product, bool]]:
    if not records:
        return []
    problems = duplicates(((i, "external_id"), r.external_id) for i, r in enumerate(records))
    problems += duplicates(
        ((i, "variants", j, "sku"), v.sku)
        for i, r in enumerate(records)
        for j, v in enumerate(r.variants)
    )
    skus = [v.sku for r in records for v in r.variants]
    owners: dict[str, str] = {}
    if skus:
        rows = await session.execute(
            select(ProductVariant.sku, Product.external_id)
            .join(Product, ProductVariant.product_id == Product.id)
            .where(ProductVariant.sku.in_(skus))
        )
        owners = dict(rows.all())
    for i, record in enumerate(records):
        for j, variant in enumerate(record.variants):
            owner = owners.get(variant.sku, record.external_id)
            if owner != record.external_id:
                problems.append(
                    Problem(
                        (i, "variants", j, "sku"),
                        f"sku {variant.sku!r} belongs to product {owner!r}",
                        "conflict",
                    )
                )
    reject_if(problems)

    existing = {
        p.external_id: p
        for p in await session.scalars(
            select(Product)
            .where(Product.external_id.in_([r.external_id for r in records]))
            .options(selectinload(Product.variants), selectinload(Product.prices))
        )
    }
    outcomes: list[tuple[Product, bool]] = []
    for record in records:
        product = existing.get(record.external_id)
        created = product is None
        if product is None:
            product = Product(external_id=record.external_id, variants=[], prices=[])
            session.add(product)
        product.names = {language.value: name for language, name in record.names.items()}
        product.category = record.category
        assign(product, record, ("brand", "active"), created=created)
        _set_variants(product, record.variants)
        if record.prices is not None:
            _set_prices(product, record.prices)
        outcomes.append((product, created))
    await session.flush()
    return outcomes


async def upsert_products(session: AsyncSession, records: Sequence[ProductRecord]) -> BatchResult:
    return count(await _upsert_products(session, records))


async def upsert_product(session: AsyncSession, record: ProductRecord) -> UpsertResult:
    with one_record():
        [(product, created)] = await _upsert_products(session, [record])
    return UpsertResult(id=product.id, external_id=record.external_id, created=created)


async def get_product(session: AsyncSession, external_id: str) -> ProductView:
    product = await session.scalar(
        select(Product)
        .where(Product.external_id == external_id)
        .options(selectinload(Product.variants), selectinload(Product.prices))
    )
    if product is None:
        raise UnknownProduct(f"no product with external_id {external_id!r}")
    return ProductView(
        id=product.id,
        external_id=product.external_id,
        names={Language(language): name for language, name in product.names.items()},
        category=product.category,
        brand=product.brand,
        active=product.active,
        variants=[
            VariantRecord(sku=v.sku, size=v.size, color=v.color, barcode=v.barcode)
            for v in product.variants
        ],
        prices={p.currency: p.amount_minor for p in product.prices},
        updated_at=product.updated_at,
    )
