"""Stock levels: absolute on-hand counts per store and SKU; reservations are the hub's."""

from __future__ import annotations

import pytest
from pytest_aiohttp.plugin import AiohttpClient
from sqlalchemy import select, update

from crm.db import Database
from crm.models import Inventory
from tests.api import Api, count, product, start_api, store


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, db: Database) -> Api:
    api = await start_api(aiohttp_client, db)
    assert (await api.post("/stores/batch", [store("MAD-01"), store("LIS-01")])).status == 200
    assert (await api.post("/products", product(skus=("SKU-1", "SKU-2")))).status == 200
    return api


def _level(store_code: str, sku: str, on_hand: int) -> dict[str, object]:
    return {"store_code": store_code, "sku": sku, "on_hand": on_hand}


async def _levels(db: Database) -> set[tuple[int, int]]:
    async with db.transaction() as session:
        rows = await session.execute(select(Inventory.on_hand, Inventory.reserved))
        return {(on_hand, reserved) for on_hand, reserved in rows}


async def test_created_then_updated_then_unchanged(api: Api, db: Database) -> None:
    levels = [_level("MAD-01", "SKU-1", 5), _level("LIS-01", "SKU-1", 2)]
    reply = await api.post("/inventory", levels)
    assert reply.status == 200
    assert reply.body == {"created": 2, "updated": 0, "over_reserved": []}

    levels = [_level("MAD-01", "SKU-1", 3), _level("MAD-01", "SKU-2", 0)]
    reply = await api.post("/inventory", levels)
    assert reply.body == {"created": 1, "updated": 1, "over_reserved": []}
    assert (await api.post("/inventory", levels)).body == {
        "created": 0,
        "updated": 2,
        "over_reserved": [],
    }
    assert await _levels(db) == {(3, 0), (2, 0), (0, 0)}


async def test_reserved_is_kept_and_over_reservations_reported(api: Api, db: Database) -> None:
    await api.post("/inventory", [_level("MAD-01", "SKU-1", 5), _level("MAD-01", "SKU-2", 5)])
    async with db.transaction() as session:
        await session.execute(update(Inventory).values(reserved=2))

    reply = await api.post(
        "/inventory", [_level("MAD-01", "SKU-1", 1), _level("MAD-01", "SKU-2", 2)]
    )
    assert reply.status == 200
    assert reply.body == {
        "created": 0,
        "updated": 2,
        "over_reserved": [{"store_code": "MAD-01", "sku": "SKU-1", "on_hand": 1, "reserved": 2}],
    }
    assert await _levels(db) == {(1, 2), (2, 2)}


async def test_unknown_store_or_sku_writes_nothing(api: Api, db: Database) -> None:
    levels = [
        _level("MAD-01", "SKU-1", 5),
        _level("BCN-01", "SKU-1", 5),
        _level("MAD-01", "SKU-404", 5),
    ]
    reply = await api.post("/inventory", levels)
    assert reply.status == 422
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [
        (["body", 1, "store_code"], "unknown_reference"),
        (["body", 2, "sku"], "unknown_reference"),
    ]
    assert await count(db, Inventory) == 0


async def test_the_same_level_twice_is_refused(api: Api, db: Database) -> None:
    reply = await api.post(
        "/inventory", [_level("MAD-01", "SKU-1", 5), _level("MAD-01", "SKU-1", 4)]
    )
    assert reply.status == 422
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [(["body", 1], "duplicate")]
    assert await count(db, Inventory) == 0


async def test_negative_stock_is_refused(api: Api, db: Database) -> None:
    reply = await api.post("/inventory", [_level("MAD-01", "SKU-1", -1)])
    assert reply.status == 422
    assert reply.body["errors"][0]["loc"] == ["body", 0, "on_hand"]
    assert await count(db, Inventory) == 0
