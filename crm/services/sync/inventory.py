"""On-hand stock per store and SKU from the shop's systems."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Inventory
from crm.records import InventoryLevel, InventoryResult, OverReserved
from crm.services.sync.batch import duplicates, reject_if, store_ids, unknown, variant_ids


async def set_inventory(session: AsyncSession, levels: Sequence[InventoryLevel]) -> InventoryResult:
    """Set absolute on-hand counts; `reserved` is the hub's and is never touched."""
    problems = duplicates(((i,), (lv.store_code, lv.sku)) for i, lv in enumerate(levels))
    stores = await store_ids(session, (lv.store_code for lv in levels))
    variants = await variant_ids(session, (lv.sku for lv in levels))
    for i, level in enumerate(levels):
        if level.store_code not in stores:
            problems.append(unknown((i, "store_code"), "store with code", level.store_code))
        if level.sku not in variants:
            problems.append(unknown((i, "sku"), "variant with sku", level.sku))
    reject_if(problems)
    if not levels:
        return InventoryResult(created=0, updated=0, over_reserved=[])

    pairs = [(stores[lv.store_code], variants[lv.sku]) for lv in levels]
    # Locked so that `reserved`, reported below, cannot move under us before commit;
    # taken in id order so that two concurrent uploads cannot deadlock.
    existing = {
        (row.store_id, row.variant_id): row
        for row in await session.scalars(
            select(Inventory)
            .where(tuple_(Inventory.store_id, Inventory.variant_id).in_(pairs))
            .order_by(Inventory.id)
            .with_for_update()
        )
    }
    created = 0
    over_reserved = []
    for level, pair in zip(levels, pairs, strict=True):
        row = existing.get(pair)
        if row is None:
            created += 1
            session.add(Inventory(store_id=pair[0], variant_id=pair[1], on_hand=level.on_hand))
            continue
        row.on_hand = level.on_hand
        if row.on_hand < row.reserved:
            over_reserved.append(
                OverReserved(
                    store_code=level.store_code,
                    sku=level.sku,
                    on_hand=row.on_hand,
                    reserved=row.reserved,
                )
            )
    await session.flush()
    return InventoryResult(
        created=created, updated=len(levels) - created, over_reserved=over_reserved
    )
