"""Orders: lines, receipts, status history and the references they make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_aiohttp.plugin import AiohttpClient
from sqlalchemy import select

from crm.db import Database
from crm.models import (
    Order,
    OrderItem,
    OrderStatusChange,
    Receipt,
    Return,
    ReturnItem,
    ReturnMethod,
    ReturnReason,
)
from tests.api import Api, Json, count, counts, customer, order, product, reads, start_api, store

ROWS = (Order, OrderItem, OrderStatusChange, Receipt)
SKUS = ("SKU-1", "SKU-2", "SKU-3")


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, db: Database) -> Api:
    api = await start_api(aiohttp_client, db)
    customers = [customer("C-1"), customer("C-2", phone="+351 912 345 678", country="PT")]
    assert (await api.post("/customers/batch", customers)).status == 200
    assert (await api.post("/stores/batch", [store("MAD-01"), store("LIS-01")])).status == 200
    assert (await api.post("/products", product(skus=SKUS))).status == 200
    return api


def _receipt(**fields: object) -> dict[str, object]:
    return {
        "number": "T-0001",
        "store_code": "MAD-01",
        "till": "2",
        "payment_method": "card",
        "issued_at": "2026-03-02T10:05:00Z",
        "total_minor": 5990,
        "tax_minor": 1040,
        **fields,
    }


async def test_created_then_updated_then_unchanged(api: Api, db: Database) -> None:
    first = await api.post("/orders", order(skus=SKUS[:2]))
    assert first.status == 200
    assert first.body == {"id": first.body["id"], "external_id": "O-1", "created": True}

    changed = order(
        skus=("SKU-3",),
        fulfilment="in_store",
        store_code="MAD-01",
        status="completed",
        status_changed_at="2026-03-02T10:05:00Z",
        receipt=_receipt(),
    )
    second = await api.post("/orders", changed)
    assert second.body == {"id": first.body["id"], "external_id": "O-1", "created": False}
    before = (await api.get("/orders/O-1")).body
    assert (await api.post("/orders", changed)).body["created"] is False
    after = (await api.get("/orders/O-1")).body

    assert after == before
    assert after["customer_external_id"] == "C-1"
    assert after["store_code"] == "MAD-01"
    assert after["items"] == [
        {"line_no": 1, "sku": "SKU-3", "quantity": 1, "unit_price_minor": 5990}
    ]
    assert after["receipt"] == {**_receipt(), "issued_at": "2026-03-02T10:05:00Z"}
    assert [h["status"] for h in after["history"]] == ["confirmed", "completed"]
    assert after["received_at"] == "2026-03-02T10:05:00Z"
    assert await counts(db, *ROWS) == {
        "Order": 1,
        "OrderItem": 1,
        "OrderStatusChange": 2,
        "Receipt": 1,
    }


async def test_status_history(api: Api) -> None:
    await api.post("/orders", order(status="pending"))
    body = (await api.get("/orders/O-1")).body
    assert body["history"] == [{"status": "pending", "changed_at": "2026-03-02T10:00:00Z"}]
    assert body["received_at"] is None

    shipped = "2026-03-03T09:00:00+01:00"
    await api.post("/orders", order(status="shipped", status_changed_at=shipped, carrier="SEUR"))
    await api.post("/orders", order(status="shipped", carrier="SEUR"))  # the same status again
    before_delivery = datetime.now(UTC)
    await api.post("/orders", order(status="delivered"))

    body = (await api.get("/orders/O-1")).body
    statuses = [(h["status"], h["changed_at"]) for h in body["history"]]
    assert statuses[:2] == [
        ("pending", "2026-03-02T10:00:00Z"),
        ("shipped", "2026-03-03T08:00:00Z"),
    ]
    assert [status for status, _ in statuses[2:]] == ["delivered"]
    delivered_at = datetime.fromisoformat(statuses[2][1])
    assert before_delivery - timedelta(seconds=1) <= delivered_at <= datetime.now(UTC)
    assert body["received_at"] == statuses[2][1]
    assert body["carrier"] == "SEUR"


async def test_a_received_at_sent_by_the_shop_wins(api: Api) -> None:
    await api.post("/orders", order(status="delivered", received_at="2026-03-04T18:30:00Z"))
    body = (await api.get("/orders/O-1")).body
    assert body["received_at"] == "2026-03-04T18:30:00Z"


async def test_a_new_order_already_delivered_dates_from_its_placing(api: Api) -> None:
    await api.post("/orders", order(status="delivered"))
    body = (await api.get("/orders/O-1")).body
    assert body["history"] == [{"status": "delivered", "changed_at": "2026-03-02T10:00:00Z"}]
    assert body["received_at"] == "2026-03-02T10:00:00Z"


async def test_lines_are_matched_by_number(api: Api, db: Database) -> None:
    await api.post("/orders", order(skus=SKUS))
    async with db.transaction() as session:
        first_ids = dict((await session.execute(select(OrderItem.line_no, OrderItem.id))).all())
    lines = order(skus=SKUS)["items"]
    lines[1]["quantity"] = 3
    await api.post("/orders", order(items=lines[:2]))
    async with db.transaction() as session:
        ids = dict((await session.execute(select(OrderItem.line_no, OrderItem.id))).all())
    assert ids == {1: first_ids[1], 2: first_ids[2]}
    items = (await api.get("/orders/O-1")).body["items"]
    assert [(i["line_no"], i["quantity"]) for i in items] == [(1, 1), (2, 3)]


async def test_a_line_being_returned_cannot_be_dropped(api: Api, db: Database) -> None:
    await api.post("/orders", order(skus=SKUS[:2], status="delivered"))
    async with db.transaction() as session:
        found = await session.scalar(select(Order))
        assert found is not None
        line_two = await session.scalar(select(OrderItem).where(OrderItem.line_no == 2))
        assert line_two is not None
        session.add(
            Return(
                rma_code="RMA-1",
                order_id=found.id,
                customer_id=found.customer_id,
                reason=ReturnReason.WRONG_SIZE,
                method=ReturnMethod.IN_STORE,
                currency="EUR",
                items=[ReturnItem(order_item_id=line_two.id, quantity=1)],
            )
        )
    reply = await api.post("/orders", order(skus=SKUS[:1], status="delivered"))
    assert reply.status == 422
    [error] = reply.body["errors"]
    assert (error["loc"], error["type"]) == (["body", "items"], "conflict")
    assert await count(db, OrderItem) == 2


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"customer_external_id": "C-404"}, ["body", "customer_external_id"]),
        ({"store_code": "BCN-01"}, ["body", "store_code"]),
        ({"fulfilment": "pickup", "pickup_store_code": "BCN-01"}, ["body", "pickup_store_code"]),
        ({"receipt": {**_receipt(store_code="BCN-01")}}, ["body", "receipt", "store_code"]),
        (
            {"items": [{"line_no": 1, "sku": "SKU-404", "quantity": 1, "unit_price_minor": 1}]},
            ["body", "items", 0, "sku"],
        ),
    ],
)
async def test_unknown_references_are_refused(
    api: Api, db: Database, fields: dict[str, Json], loc: list[object]
) -> None:
    reply = await api.post("/orders", order(**fields))
    assert reply.status == 422
    assert reply.body["error"] == "invalid input"
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [(loc, "unknown_reference")]
    assert await count(db, Order) == 0


@pytest.mark.parametrize(
    ("fields", "loc", "kind"),
    [
        ({"placed_at": "2026-03-02T10:00:00"}, ["body", "placed_at"], "timezone_aware"),
        ({"status": "lost"}, ["body", "status"], "enum"),
        ({"total_minor": -5}, ["body", "total_minor"], "greater_than_equal"),
        ({"items": []}, ["body", "items"], "too_short"),
        ({"fulfilment": "pickup"}, ["body", "pickup_store_code"], "value_error"),
        ({"fulfilment": "in_store"}, ["body", "store_code"], "value_error"),
        ({"tracking_url": "not a url"}, ["body", "tracking_url"], "url_parsing"),
        (
            {"items": [{"line_no": 1, "sku": "SKU-1", "quantity": 0, "unit_price_minor": 1}]},
            ["body", "items", 0, "quantity"],
            "greater_than",
        ),
    ],
)
async def test_invalid_fields_are_refused(
    api: Api, db: Database, fields: dict[str, Json], loc: list[object], kind: str
) -> None:
    reply = await api.post("/orders", order(**fields))
    assert reply.status == 422
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [(loc, kind)]
    assert await count(db, Order) == 0


async def test_a_number_of_another_order_is_refused(api: Api, db: Database) -> None:
    await api.post("/orders", order("O-1", receipt=_receipt()))
    reply = await api.post("/orders", order("O-2", number="ES-O-1", receipt=_receipt()))
    assert reply.status == 422
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [
        (["body", "number"], "conflict"),
        (["body", "receipt", "number"], "conflict"),
    ]
    assert await count(db, Order) == 1


async def test_batch_with_an_unknown_sku_writes_nothing(api: Api, db: Database) -> None:
    batch = [order(f"O-{n}", customer_external_id=f"C-{n % 2 + 1}") for n in range(5)]
    batch[3]["items"][0]["sku"] = "SKU-404"
    reply = await api.post("/orders/batch", batch)
    assert reply.status == 422
    assert [e["loc"] for e in reply.body["errors"]] == [["body", 3, "items", 0, "sku"]]
    assert await counts(db, *ROWS) == dict.fromkeys(
        ("Order", "OrderItem", "OrderStatusChange", "Receipt"), 0
    )

    batch[3]["items"][0]["sku"] = "SKU-1"
    assert (await api.post("/orders/batch", batch)).body == {"created": 5, "updated": 0}
    assert (await api.post("/orders/batch", batch)).body == {"created": 0, "updated": 5}
    assert await counts(db, Order, OrderStatusChange) == {"Order": 5, "OrderStatusChange": 5}


async def test_batch_loads_what_it_needs_in_a_fixed_number_of_queries(
    api: Api, backend: str
) -> None:
    async def statements(n: int) -> list[str]:
        batch = [
            order(
                f"O-{n}-{i}",
                skus=SKUS,
                fulfilment="pickup",
                pickup_store_code="LIS-01",
                receipt=_receipt(number=f"T-{n}-{i}"),
            )
            for i in range(n)
        ]
        with api.statements() as seen:
            assert (await api.post("/orders/batch", batch)).status == 200
            for line in batch:
                line["status"] = "ready_for_pickup"
            assert (await api.post("/orders/batch", batch)).status == 200
        return seen

    few, many = await statements(3), await statements(30)
    assert reads(few) == reads(many)
    if backend == "postgresql":  # SQLite cannot batch INSERT ... RETURNING in order
        assert len(few) == len(many)


async def test_unknown_order_is_404(api: Api) -> None:
    reply = await api.get("/orders/O-404")
    assert reply.status == 404
    assert reply.body == {"error": "no order with external_id 'O-404'"}


async def test_a_batch_with_too_many_lines_is_refused(api: Api, db: Database) -> None:
    lines = [
        {"line_no": n, "sku": "SKU-1", "quantity": 1, "unit_price_minor": 1} for n in range(1, 501)
    ]
    batch = [order(f"O-{n}", number=f"N-{n}", items=lines) for n in range(21)]
    reply = await api.post("/orders/batch", batch)
    assert reply.status == 422
    [error] = reply.body["errors"]
    assert error["loc"] == ["body"]
    assert "at most 10000 order lines in one batch, not 10500" in error["msg"]
    assert await count(db, Order) == 0


async def test_order_numbers_are_stored_as_customers_type_them(api: Api, db: Database) -> None:
    await api.post("/orders", order(number=" es-100234 "))
    assert (await api.get("/orders/O-1")).body["number"] == "ES-100234"
    reply = await api.post("/orders", order("O-2", number="ES-100234"))
    assert reply.status == 422
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [
        (["body", "number"], "conflict")
    ]
