"""Store stock of a variant, near the customer first, and finding variants."""

from __future__ import annotations

import pytest

from crm.db import Database
from crm.errors import UnknownProduct
from crm.services.stock import find_variant, stock_levels
from tests.builders import add_inventory, add_product, add_store


@pytest.fixture
async def sku(db: Database) -> str:
    async with db.transaction() as s:
        sneaker = await add_product(s, "SNK", prices={"EUR": 5990, "BRL": 39990})
        variant = sneaker.variants[0]
        stores = [
            await add_store(s, "MAD-01", name="Gran Vía", city="Madrid"),
            await add_store(s, "MAD-02", name="Serrano", city="Madrid"),
            await add_store(s, "LCG-01", name="Marineda", city="A Coruña"),
            await add_store(s, "LIS-01", name="Chiado", city="Lisboa", country="PT"),
            await add_store(s, "SAO-01", name="Paulista", city="São Paulo", currency="BRL"),
            await add_store(s, "GIG-01", name="Leblon", city="Rio", currency="BRL"),
        ]
        closed = await add_store(s, "MAD-99", name="Closed", city="Madrid", active=False)
        for store, on_hand, reserved in zip(
            stores, [2, 6, 4, 9, 3, 1], [0, 1, 0, 0, 3, 5], strict=True
        ):
            await add_inventory(s, store, variant, on_hand, reserved=reserved)
        await add_inventory(s, closed, variant, 50)
    return variant.sku


async def test_stock_levels_list_active_stores_by_availability(db: Database, sku: str) -> None:
    async with db.transaction() as s:
        levels = await stock_levels(s, sku)

    assert [(lv.store_code, lv.available) for lv in levels] == [
        ("LIS-01", 9),
        ("MAD-02", 5),
        ("LCG-01", 4),
        ("MAD-01", 2),
        ("GIG-01", 0),
        ("SAO-01", 0),
    ]
    serrano = levels[1]
    assert (serrano.on_hand, serrano.reserved, serrano.city, serrano.country) == (
        6,
        1,
        "Madrid",
        "ES",
    )


async def test_stock_levels_put_the_customers_city_first_ignoring_case_and_accents(
    db: Database, sku: str
) -> None:
    async with db.transaction() as s:
        madrid = await stock_levels(s, sku, near_city=" MADRID ")
        coruna = await stock_levels(s, sku, near_city="a coruna")
        sao_paulo = await stock_levels(s, sku, near_city="sao paulo")

    assert [lv.store_code for lv in madrid][:2] == ["MAD-02", "MAD-01"]
    assert [lv.store_code for lv in coruna][:2] == ["LCG-01", "LIS-01"]
    # Nearby first even with nothing available: the customer can still be told so.
    assert sao_paulo[0].store_code == "SAO-01"


async def test_stock_levels_price_in_the_stores_currency(db: Database, sku: str) -> None:
    async with db.transaction() as s:
        levels = {lv.store_code: lv for lv in await stock_levels(s, sku)}

    assert (levels["LIS-01"].price_minor, levels["LIS-01"].currency) == (5990, "EUR")
    assert (levels["SAO-01"].price_minor, levels["SAO-01"].currency) == (39990, "BRL")


async def test_a_store_without_a_price_in_its_currency_shows_none(db: Database) -> None:
    async with db.transaction() as s:
        product = await add_product(s, prices={"EUR": 990})
        store = await add_store(s, currency="BRL", city="Rio")
        await add_inventory(s, store, product.variants[0], 3)

    async with db.transaction() as s:
        (level,) = await stock_levels(s, product.variants[0].sku)

    assert (level.available, level.price_minor, level.currency) == (3, None, "BRL")


async def test_stock_levels_of_an_unknown_sku(db: Database, sku: str) -> None:
    async with db.transaction() as s:
        with pytest.raises(UnknownProduct):
            await stock_levels(s, "NOPE-1")
        # A variant that no store carries is known: it just has no stock anywhere.
        product = await add_product(s)
        assert await stock_levels(s, product.variants[0].sku) == []


@pytest.fixture
async def boot(db: Database) -> str:
    async with db.transaction() as s:
        product = await add_product(
            s,
            "BOOT",
            names={"en": "Chelsea boot"},
            variants=[("38", "Marrón"), ("39", "Marrón"), ("39", "Negro"), ("M", "negro")],
        )
    return product.external_id


async def test_find_variant_by_size_and_color_ignoring_case_and_accents(
    db: Database, boot: str
) -> None:
    async with db.transaction() as s:
        brown39 = await find_variant(s, boot, size="39", color="MARRON")
        brown = await find_variant(s, boot, color="marrón")
        black = await find_variant(s, f" {boot} ", color="NEGRO")
        medium = await find_variant(s, boot, size="m")
        everything = await find_variant(s, boot)
        none = await find_variant(s, boot, size="45")

    assert [(v.sku, v.size, v.color) for v in brown39] == [("BOOT-2", "39", "Marrón")]
    assert brown39[0].product.names["en"] == "Chelsea boot"
    assert [v.sku for v in brown] == ["BOOT-1", "BOOT-2"]
    assert [v.sku for v in black] == ["BOOT-3", "BOOT-4"]
    assert [v.sku for v in medium] == ["BOOT-4"]
    assert len(everything) == 4
    assert none == []


async def test_find_variant_of_an_unknown_product(db: Database, boot: str) -> None:
    async with db.transaction() as s:
        with pytest.raises(UnknownProduct):
            await find_variant(s, "SHOE-404", size="39")
