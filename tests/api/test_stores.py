"""Stores: upserted by code, opening hours replaced as a whole."""

from __future__ import annotations

import pytest
from pytest_aiohttp.plugin import AiohttpClient

from crm.db import Database
from crm.models import Store, StoreHours
from tests.api import Api, Json, count, counts, start_api, store


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, db: Database) -> Api:
    return await start_api(aiohttp_client, db)


SPLIT_SHIFT = [
    {"weekday": 0, "opens": "09:30", "closes": "14:00"},
    {"weekday": 0, "opens": "17:00", "closes": "20:30"},
    {"weekday": 5, "opens": "10:00", "closes": "14:00"},
]


async def test_created_then_updated_then_unchanged(api: Api, db: Database) -> None:
    first = await api.post("/stores", store())
    assert first.status == 200
    assert first.body == {"id": first.body["id"], "code": "MAD-01", "created": True}
    assert await count(db, StoreHours) == 6

    changed = store(name="Madrid Centro", phone="912 345 678", hours=SPLIT_SHIFT)
    second = await api.post("/stores", changed)
    assert second.body == {"id": first.body["id"], "code": "MAD-01", "created": False}
    before = (await api.get("/stores/MAD-01")).body
    assert (await api.post("/stores", changed)).body["created"] is False
    after = (await api.get("/stores/MAD-01")).body

    assert after == before
    assert after["name"] == "Madrid Centro"
    assert after["phone"] == "+34912345678"
    assert after["hours"] == [
        {"weekday": 0, "opens": "09:30:00", "closes": "14:00:00"},
        {"weekday": 0, "opens": "17:00:00", "closes": "20:30:00"},
        {"weekday": 5, "opens": "10:00:00", "closes": "14:00:00"},
    ]
    assert await counts(db, Store, StoreHours) == {"Store": 1, "StoreHours": 3}


async def test_hours_not_sent_are_kept(api: Api) -> None:
    await api.post("/stores", store(hours=SPLIT_SHIFT))
    without_hours = store(latitude=40.42, longitude=-3.70)
    del without_hours["hours"]
    await api.post("/stores", without_hours)
    body = (await api.get("/stores/MAD-01")).body
    assert len(body["hours"]) == 3
    assert (body["latitude"], body["longitude"]) == (40.42, -3.70)


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        (
            {"hours": [{"weekday": 1, "opens": "20:00", "closes": "10:00"}]},
            ["body", "hours", 0],
            "value_error",
        ),
        (
            {"hours": [{"weekday": 7, "opens": "10:00", "closes": "20:00"}]},
            ["body", "hours", 0, "weekday"],
            "less_than_equal",
        ),
        (
            {
                "hours": [
                    {"weekday": 1, "opens": "10:00", "closes": "14:00"},
                    {"weekday": 1, "opens": "13:00", "closes": "20:00"},
                ]
            },
            ["body", "hours"],
            "value_error",
        ),
        ({"timezone": "Europe/Atlantis"}, ["body", "timezone"], "value_error"),
        ({"currency": "euro"}, ["body", "currency"], "string_pattern_mismatch"),
        ({"latitude": 91}, ["body", "latitude"], "less_than_equal"),
        ({"phone": "000"}, ["body", "phone"], "value_error"),
    ],
)
async def test_invalid_fields_are_refused(
    api: Api, db: Database, fields: dict[str, Json], loc: list[object], kind: str
) -> None:
    reply = await api.post("/stores", store(**fields))
    assert reply.status == 422
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [(loc, kind)]
    assert await count(db, Store) == 0


async def test_batch_is_all_or_nothing(api: Api, db: Database) -> None:
    batch = [store(f"ST-{n}") for n in range(3)]
    bad = [*batch, store("ST-9", country="Spain")]
    reply = await api.post("/stores/batch", bad)
    assert reply.status == 422
    assert [e["loc"] for e in reply.body["errors"]] == [["body", 3, "country"]]
    assert await count(db, Store) == 0
    assert (await api.post("/stores/batch", batch)).body == {"created": 3, "updated": 0}
    assert (await api.post("/stores/batch", batch)).body == {"created": 0, "updated": 3}
    assert await counts(db, Store, StoreHours) == {"Store": 3, "StoreHours": 18}


async def test_unknown_store_is_404(api: Api) -> None:
    reply = await api.get("/stores/NOPE")
    assert reply.status == 404
    assert reply.body == {"error": "no store with code 'NOPE'"}
