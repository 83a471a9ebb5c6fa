"""Products: styles with variants and prices, upserted by external_id."""

from __future__ import annotations

import pytest
from pytest_aiohttp.plugin import AiohttpClient

from crm.db import Database
from crm.models import Product, ProductPrice, ProductVariant
from tests.api import Api, Json, count, counts, product, start_api

ROWS = (Product, ProductVariant, ProductPrice)


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, db: Database) -> Api:
    return await start_api(aiohttp_client, db)


async def test_created_then_updated_then_unchanged(api: Api, db: Database) -> None:
    first = await api.post("/products", product(skus=("SKU-1", "SKU-2")))
    assert first.status == 200
    assert first.body == {"id": first.body["id"], "external_id": "P-1", "created": True}

    changed = product(
        skus=("SKU-2", "SKU-3"),
        names={"pt": "Ténis urbano"},
        prices={"EUR": 4990, "BRL": 29900},
        active=False,
    )
    second = await api.post("/products", changed)
    assert second.body == {"id": first.body["id"], "external_id": "P-1", "created": False}
    before = (await api.get("/products/P-1")).body
    assert (await api.post("/products", changed)).body["created"] is False
    after = (await api.get("/products/P-1")).body

    assert after == before
    assert after["names"] == {"pt": "Ténis urbano"}
    assert after["active"] is False
    assert after["prices"] == {"EUR": 4990, "BRL": 29900}
    # SKU-1 was not sent again but orders may name it: it stays.
    assert [v["sku"] for v in after["variants"]] == ["SKU-1", "SKU-2", "SKU-3"]
    assert await counts(db, *ROWS) == {"Product": 1, "ProductVariant": 3, "ProductPrice": 2}


async def test_prices_are_replaced_and_omitted_prices_kept(api: Api) -> None:
    await api.post("/products", product(prices={"EUR": 100, "USD": 120}))
    await api.post("/products", product(prices={"USD": 110}))
    assert (await api.get("/products/P-1")).body["prices"] == {"USD": 110}
    without_prices = product()
    del without_prices["prices"]
    await api.post("/products", without_prices)
    assert (await api.get("/products/P-1")).body["prices"] == {"USD": 110}


async def test_variant_fields_not_sent_are_kept(api: Api) -> None:
    await api.post("/products", product(variants=[{"sku": "S", "size": "40", "color": "red"}]))
    await api.post("/products", product(variants=[{"sku": "S", "size": "41"}]))
    variants = (await api.get("/products/P-1")).body["variants"]
    assert variants == [{"sku": "S", "size": "41", "color": "red", "barcode": None}]


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        ({"names": {}}, ["body", "names"], "too_short"),
        ({"names": {"fr": "Basket"}}, ["body", "names", "fr", "[key]"], "enum"),
        ({"prices": {"eur": 100}}, ["body", "prices", "eur", "[key]"], "string_pattern_mismatch"),
        ({"prices": {"EUR": -1}}, ["body", "prices", "EUR"], "greater_than_equal"),
        ({"category": ""}, ["body", "category"], "string_too_short"),
        (
            {"variants": [{"sku": "A"}, {"sku": "A"}]},
            ["body", "variants"],
            "value_error",
        ),
    ],
)
async def test_invalid_fields_are_refused(
    api: Api, db: Database, fields: dict[str, Json], loc: list[object], kind: str
) -> None:
    reply = await api.post("/products", product(**fields))
    assert reply.status == 422
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [(loc, kind)]
    assert await count(db, Product) == 0


async def test_a_sku_of_another_product_is_refused(api: Api, db: Database) -> None:
    await api.post("/products", product("P-1", skus=("SKU-1",)))
    reply = await api.post("/products", product("P-2", skus=("SKU-9", "SKU-1")))
    assert reply.status == 422
    [error] = reply.body["errors"]
    assert error["loc"] == ["body", "variants", 1, "sku"]
    assert error["type"] == "conflict"
    assert "P-1" in error["msg"]
    assert await counts(db, Product, ProductVariant) == {"Product": 1, "ProductVariant": 1}


async def test_batch_is_all_or_nothing(api: Api, db: Database) -> None:
    batch = [product(f"P-{n}", skus=(f"SKU-{n}",)) for n in range(4)]
    batch.append(product("P-9", skus=("SKU-2",)))  # claims the SKU of P-2 in the same batch
    reply = await api.post("/products/batch", batch)
    assert reply.status == 422
    assert [e["loc"] for e in reply.body["errors"]] == [["body", 4, "variants", 0, "sku"]]
    assert await counts(db, *ROWS) == {"Product": 0, "ProductVariant": 0, "ProductPrice": 0}

    reply = await api.post("/products/batch", batch[:4])
    assert reply.body == {"created": 4, "updated": 0}
    assert (await api.post("/products/batch", batch[:4])).body == {"created": 0, "updated": 4}
    assert await counts(db, *ROWS) == {"Product": 4, "ProductVariant": 4, "ProductPrice": 4}


async def test_unknown_product_is_404(api: Api) -> None:
    reply = await api.get("/products/P-404")
    assert reply.status == 404
    assert reply.body == {"error": "no product with external_id 'P-404'"}
