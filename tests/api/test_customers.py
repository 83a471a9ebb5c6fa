"""Customers: upserts by external_id, field rules, consent history, batches."""

from __future__ import annotations

import asyncio

import pytest
from pytest_aiohttp.plugin import AiohttpClient
from sqlalchemy import select, text

from crm.db import Database
from crm.models import Consent, Customer
from tests.api import T0, Api, Json, count, counts, customer, reads, start_api


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, db: Database) -> Api:
    return await start_api(aiohttp_client, db)


def _consent(granted: bool, recorded_at: str = T0, channel: str = "whatsapp") -> dict[str, object]:
    return {
        "channel": channel,
        "granted": granted,
        "source": "web-form",
        "recorded_at": recorded_at,
    }


async def test_created_then_updated_then_unchanged(api: Api, db: Database) -> None:
    first = await api.post("/customers", customer(consents=[_consent(True)]))
    assert first.status == 200
    assert first.body == {"id": first.body["id"], "external_id": "C-1", "created": True}

    changed = customer(name="Lucía P. García", loyalty_points=120, tags=["vip"])
    second = await api.post("/customers", changed)
    assert second.body == {"id": first.body["id"], "external_id": "C-1", "created": False}
    before = (await api.get("/customers/C-1")).body

    again = await api.post("/customers", changed)
    assert again.body["created"] is False
    after = (await api.get("/customers/C-1")).body
    assert after == before
    assert after["name"] == "Lucía P. García"
    assert after["loyalty_points"] == 120
    assert after["tags"] == ["vip"]
    assert await counts(db, Customer, Consent) == {"Customer": 1, "Consent": 1}


async def test_the_stored_customer_reads_back_normalised(api: Api) -> None:
    payload = customer(
        phone="612 345 678",
        email="Lucia@Example.COM",
        timezone="Europe/Madrid",
        attributes={"size": {"shoe": 38}, "newsletter": None},
    )
    assert (await api.post("/customers", payload)).status == 200
    reply = await api.get("/customers/C-1")
    assert reply.status == 200
    body = reply.body
    assert body["phone"] == "+34612345678"  # national form read in the customer's country
    assert body["email"] == "Lucia@example.com"
    assert body["attributes"] == {"size": {"shoe": 38}, "newsletter": None}
    assert body["funnel_stage"] == "lead"
    assert body["consents"] == []


async def test_omitted_fields_are_kept_and_null_clears(api: Api) -> None:
    await api.post("/customers", customer(city="Madrid", loyalty_points=50))
    await api.post("/customers", {"external_id": "C-1", "city": None, "funnel_stage": "customer"})
    body = (await api.get("/customers/C-1")).body
    assert body["city"] is None
    assert body["funnel_stage"] == "customer"
    assert body["loyalty_points"] == 50
    assert body["email"] == "lucia@example.com"


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        ({"phone": "12"}, ["body", "phone"], "value_error"),
        ({"email": "not-an-email"}, ["body", "email"], "value_error"),
        ({"language": "fr"}, ["body", "language"], "enum"),
        ({"loyalty_points": -1}, ["body", "loyalty_points"], "greater_than_equal"),
        ({"timezone": "Mars/Olympus"}, ["body", "timezone"], "value_error"),
        ({"country": "spain"}, ["body", "country"], "string_pattern_mismatch"),
        ({"external_id": "  "}, ["body", "external_id"], "string_too_short"),
        ({"favourite_colour": "red"}, ["body", "favourite_colour"], "extra_forbidden"),
        (
            {"consents": [_consent(True, "2026-03-02T10:00:00")]},
            ["body", "consents", 0, "recorded_at"],
            "timezone_aware",
        ),
        (
            {"consents": [_consent(True, "2099-01-01T00:00:00Z")]},
            ["body", "consents", 0, "recorded_at"],
            "future_datetime",
        ),
    ],
)
async def test_invalid_fields_are_refused(
    api: Api, db: Database, fields: dict[str, Json], loc: list[object], kind: str
) -> None:
    reply = await api.post("/customers", customer(**fields))
    assert reply.status == 422
    assert reply.body["error"] == "invalid input"
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [(loc, kind)]
    assert reply.body["errors"][0]["msg"]
    assert await counts(db, Customer, Consent) == {"Customer": 0, "Consent": 0}


async def test_consents_are_appended_only_when_they_change(api: Api, db: Database) -> None:
    async def history() -> list[tuple[str, bool]]:
        async with db.transaction() as session:
            rows = await session.execute(
                select(Consent.channel, Consent.granted).order_by(Consent.recorded_at)
            )
            return [(channel.value, granted) for channel, granted in rows]

    await api.post("/customers", customer(consents=[_consent(True)]))
    await api.post("/customers", customer(consents=[_consent(True, "2026-03-03T10:00:00Z")]))
    assert await history() == [("whatsapp", True)]

    opt_out = _consent(False, "2026-03-04T10:00:00+01:00")
    await api.post("/customers", customer(consents=[opt_out, _consent(True, channel="sms")]))
    assert await history() == [("whatsapp", True), ("sms", True), ("whatsapp", False)]

    # The shop's stale copy of the grant does not undo the newer opt-out.
    await api.post("/customers", customer(consents=[_consent(True, "2026-03-04T08:00:00Z")]))
    assert await history() == [("whatsapp", True), ("sms", True), ("whatsapp", False)]

    current = (await api.get("/customers/C-1")).body["consents"]
    assert {(c["channel"], c["granted"]) for c in current} == {("whatsapp", False), ("sms", True)}


async def test_unknown_customer_is_404(api: Api) -> None:
    reply = await api.get("/customers/C-404")
    assert reply.status == 404
    assert reply.body == {"error": "no customer with external_id 'C-404'"}


async def test_batch_creates_and_updates(api: Api, db: Database) -> None:
    await api.post("/customers", customer("C-2"))
    batch = [customer(f"C-{n}") for n in range(1, 5)]
    reply = await api.post("/customers/batch", batch)
    assert reply.status == 200
    assert reply.body == {"created": 3, "updated": 1}
    assert (await api.post("/customers/batch", batch)).body == {"created": 0, "updated": 4}
    assert await count(db, Customer) == 4


async def test_batch_with_one_bad_record_writes_nothing(api: Api, db: Database) -> None:
    batch = [customer(f"C-{n}", consents=[_consent(True)]) for n in range(5)]
    batch[3]["email"] = "nope"
    reply = await api.post("/customers/batch", batch)
    assert reply.status == 422
    assert [e["loc"] for e in reply.body["errors"]] == [["body", 3, "email"]]
    assert await counts(db, Customer, Consent) == {"Customer": 0, "Consent": 0}


async def test_batch_with_a_repeated_external_id_writes_nothing(api: Api, db: Database) -> None:
    reply = await api.post("/customers/batch", [customer("C-1"), customer("C-2"), customer("C-1")])
    assert reply.status == 422
    [error] = reply.body["errors"]
    assert error["loc"] == ["body", 2, "external_id"]
    assert error["type"] == "duplicate"
    assert await count(db, Customer) == 0


async def test_a_batch_of_a_thousand_loads(api: Api, db: Database) -> None:
    batch = [
        customer(
            f"C-{n:04}",
            email=f"c{n}@example.com",
            phone=f"+34 6{n:08}",
            consents=[_consent(n % 2 == 0)],
        )
        for n in range(1000)
    ]
    reply = await api.post("/customers/batch", batch)
    assert reply.status == 200, reply.body
    assert reply.body == {"created": 1000, "updated": 0}
    assert await counts(db, Customer, Consent) == {"Customer": 1000, "Consent": 1000}
    again = await api.post("/customers/batch", batch)
    assert again.body == {"created": 0, "updated": 1000}
    assert await counts(db, Customer, Consent) == {"Customer": 1000, "Consent": 1000}


async def test_a_batch_over_the_limit_is_refused(api: Api, db: Database) -> None:
    reply = await api.post("/customers/batch", [customer(f"C-{n}") for n in range(1001)])
    assert reply.status == 422
    [error] = reply.body["errors"]
    assert error["loc"] == ["body"]
    assert error["type"] == "too_long"
    assert "1000" in error["msg"]
    assert await count(db, Customer) == 0


async def test_batch_loads_existing_rows_in_one_query(api: Api, backend: str) -> None:
    async def statements(n: int) -> list[str]:
        batch = [customer(f"C-{n}-{i}", consents=[_consent(True)]) for i in range(n)]
        with api.statements() as seen:
            assert (await api.post("/customers/batch", batch)).status == 200
            assert (await api.post("/customers/batch", batch)).status == 200
        # The token's last-use time is written at most once a minute, whatever the batch.
        return [s for s in seen if not s.startswith("UPDATE api_tokens")]

    few, many = await statements(3), await statements(30)
    assert reads(few) == reads(many)
    if backend == "postgresql":  # SQLite cannot batch INSERT ... RETURNING in order
        assert len(few) == len(many)


async def _wait_for_a_lock_wait(db: Database) -> None:
    """Poll, with a deadline, until some session of this database waits on a lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(10):
        while True:
            async with db.engine.connect() as conn:
                if await conn.scalar(query):
                    return
            await asyncio.sleep(0.01)


async def test_a_racing_insert_of_the_same_customer_is_409(
    api: Api, db: Database, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers at BEGIN, so inserts cannot race")
    async with db.transaction() as session:
        session.add(Customer(external_id="C-1"))
        await session.flush()
        request = asyncio.create_task(api.post("/customers", customer()))
        await _wait_for_a_lock_wait(db)  # the hub's INSERT waits for this transaction
    reply = await request
    assert reply.status == 409
    assert reply.body == {"error": "a concurrent change to the same records; retry"}
    assert (await api.post("/customers", customer())).body["created"] is False
    assert await count(db, Customer) == 1
