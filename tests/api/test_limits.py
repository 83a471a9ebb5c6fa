"""Values the columns cannot hold get a 422 naming the field, never a 500 that fails a batch."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp.plugin import AiohttpClient

from crm.db import Database
from crm.models import Customer, Inventory, Order, Product, ProductPrice, Store
from tests.api import Api, Json, count, counts, customer, order, product, start_api, store

BIG = 2**63  # what the shop's system sent: one more than any 64-bit integer
INT_MAX = 2**31 - 1  # the columns are INTEGER


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, db: Database) -> Api:
    api = await start_api(aiohttp_client, db)
    assert (await api.post("/stores", store("MAD-01"))).status == 200
    assert (await api.post("/products", product(skus=("SKU-1", "SKU-2")))).status == 200
    assert (await api.post("/customers", customer("C-1"))).status == 200
    return api


def _line(**fields: Json) -> Json:
    return {"line_no": 1, "sku": "SKU-1", "quantity": 1, "unit_price_minor": 5990, **fields}


def _consent(**fields: Json) -> Json:
    return {"channel": "sms", "granted": True, "recorded_at": "2026-03-01T10:00:00Z", **fields}


def _receipt(**fields: Json) -> Json:
    return {
        "number": "T-1",
        "store_code": "MAD-01",
        "payment_method": "card",
        "issued_at": "2026-03-02T10:00:00Z",
        "total_minor": 5990,
        "tax_minor": 1040,
        **fields,
    }


def _level(on_hand: Any, sku: str = "SKU-1") -> Json:
    return {"store_code": "MAD-01", "sku": sku, "on_hand": on_hand}


# Every whole-number field of the records, each with a value one past what it may hold.
INTEGERS = [
    ("/customers", customer("C-2", loyalty_points=INT_MAX + 1), ["loyalty_points"]),
    ("/products", product("P-2", skus=("SKU-3",), prices={"EUR": BIG}), ["prices", "EUR"]),
    ("/inventory", [_level(BIG)], [0, "on_hand"]),
    ("/orders", order("O-2", total_minor=BIG), ["total_minor"]),
    ("/orders", order("O-2", items=[_line(line_no=BIG)]), ["items", 0, "line_no"]),
    ("/orders", order("O-2", items=[_line(quantity=BIG)]), ["items", 0, "quantity"]),
    (
        "/orders",
        order("O-2", items=[_line(unit_price_minor=BIG)]),
        ["items", 0, "unit_price_minor"],
    ),
    ("/orders", order("O-2", receipt=_receipt(total_minor=BIG)), ["receipt", "total_minor"]),
    ("/orders", order("O-2", receipt=_receipt(tax_minor=INT_MAX + 1)), ["receipt", "tax_minor"]),
    (
        "/stores",
        store("LIS-01", hours=[{"weekday": BIG, "opens": "10:00", "closes": "11:00"}]),
        ["hours", 0, "weekday"],
    ),
]


async def _nothing_changed(db: Database) -> dict[str, int]:
    return await counts(db, Customer, Product, ProductPrice, Store, Inventory, Order)


@pytest.mark.parametrize(("path", "payload", "loc"), INTEGERS)
async def test_a_number_too_large_for_its_column_is_422_naming_the_field(
    api: Api, db: Database, path: str, payload: Json, loc: list[object]
) -> None:
    before = await _nothing_changed(db)
    reply = await api.post(path, payload)
    assert reply.status == 422
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [
        (["body", *loc], "less_than_equal")
    ]
    assert await _nothing_changed(db) == before


async def test_the_largest_value_a_column_holds_is_stored(api: Api, db: Database) -> None:
    line = _line(quantity=1, unit_price_minor=INT_MAX)
    reply = await api.post("/orders", order("O-2", total_minor=INT_MAX, items=[line]))
    assert reply.status == 200
    assert (await api.post("/inventory", [_level(INT_MAX)])).status == 200
    assert (await api.post("/customers", customer("C-2", loyalty_points=INT_MAX))).status == 200
    got = await api.get("/orders/O-2")
    assert (got.body["total_minor"], got.body["items"][0]["unit_price_minor"]) == (
        INT_MAX,
        INT_MAX,
    )


async def test_one_bad_record_in_a_batch_is_named_by_its_index_and_nothing_is_stored(
    api: Api, db: Database
) -> None:
    levels = [_level(3), _level(4, "SKU-2"), _level(BIG), _level(True, "SKU-2")]
    reply = await api.post("/inventory", levels)
    assert reply.status == 422
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [
        (["body", 2, "on_hand"], "less_than_equal"),
        (["body", 3, "on_hand"], "int_type"),
    ]
    assert await count(db, Inventory) == 0

    orders = [order("O-2"), order("O-3", placed_at="9999-12-31T23:00:00-05:00")]
    reply = await api.post("/orders/batch", orders)
    assert reply.status == 422
    assert [e["loc"] for e in reply.body["errors"]] == [["body", 1, "placed_at"]]
    assert await count(db, Order) == 0


# JSON's true is not 1, and 1.0 or "1" is not a whole number of cents: lax parsing
# took all three, and a price of true was stored as 1.
NOT_WHOLE_NUMBERS = [
    ("/products", product("P-2", skus=("SKU-3",), prices={"EUR": True}), ["prices", "EUR"]),
    ("/products", product("P-2", skus=("SKU-3",), prices={"EUR": 59.9}), ["prices", "EUR"]),
    ("/products", product("P-2", skus=("SKU-3",), prices={"EUR": 5990.0}), ["prices", "EUR"]),
    ("/products", product("P-2", skus=("SKU-3",), prices={"EUR": "5990"}), ["prices", "EUR"]),
    ("/inventory", [_level(True)], [0, "on_hand"]),
    ("/customers", customer("C-2", loyalty_points=False), ["loyalty_points"]),
    ("/orders", order("O-2", total_minor=True), ["total_minor"]),
    ("/orders", order("O-2", items=[_line(quantity=True)]), ["items", 0, "quantity"]),
    ("/orders", order("O-2", items=[_line(line_no=True)]), ["items", 0, "line_no"]),
    (
        "/stores",
        store("LIS-01", hours=[{"weekday": True, "opens": "10:00", "closes": "11:00"}]),
        ["hours", 0, "weekday"],
    ),
    ("/stores", store("LIS-01", latitude=True), ["latitude"]),
]


@pytest.mark.parametrize(("path", "payload", "loc"), NOT_WHOLE_NUMBERS)
async def test_booleans_floats_and_strings_are_not_numbers(
    api: Api, db: Database, path: str, payload: Json, loc: list[object]
) -> None:
    before = await _nothing_changed(db)
    reply = await api.post(path, payload)
    assert reply.status == 422
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [
        (["body", *loc], "float_type" if loc[-1] == "latitude" else "int_type")
    ]
    assert await _nothing_changed(db) == before


async def test_lines_adding_up_past_an_integer_are_refused(api: Api, db: Database) -> None:
    # A return refunds quantity x unit price into an INTEGER column of its own.
    line = _line(quantity=2, unit_price_minor=INT_MAX // 2 + 1)
    reply = await api.post("/orders", order("O-2", items=[line]))
    assert reply.status == 422
    [error] = reply.body["errors"]
    assert (error["loc"], error["type"]) == (["body", "items"], "value_error")
    assert await count(db, Order) == 0


# Each date-time field, with moments that leave Python's range once in UTC (the two
# first reached the database as a 500) or that leave no room for the hub's arithmetic.
DATES = [
    ("/orders", order("O-2", placed_at="9999-12-31T23:00:00-05:00"), ["placed_at"]),
    ("/orders", order("O-2", promised_at="0001-01-01T00:00:00+05:00"), ["promised_at"]),
    ("/orders", order("O-2", received_at="9999-12-31T00:00:00Z"), ["received_at"]),
    ("/orders", order("O-2", status_changed_at="1899-12-31T23:59:59Z"), ["status_changed_at"]),
    (
        "/orders",
        order("O-2", receipt=_receipt(issued_at="3000-01-01T01:30:00+01:00")),
        ["receipt", "issued_at"],
    ),
    (
        "/customers",
        customer("C-2", consents=[_consent(recorded_at="0001-01-01T00:00:00+05:00")]),
        ["consents", 0, "recorded_at"],
    ),
]


@pytest.mark.parametrize(("path", "payload", "loc"), DATES)
async def test_a_date_outside_the_years_1900_to_2999_in_utc_is_422(
    api: Api, db: Database, path: str, payload: Json, loc: list[object]
) -> None:
    before = await _nothing_changed(db)
    reply = await api.post(path, payload)
    assert reply.status == 422
    [error] = reply.body["errors"]
    assert (error["loc"], error["type"]) == (["body", *loc], "value_error")
    assert "1900 and 2999" in error["msg"]
    assert await _nothing_changed(db) == before


async def test_dates_at_the_edges_of_the_range_are_stored(api: Api) -> None:
    reply = await api.post(
        "/orders",
        order("O-2", placed_at="1900-01-01T00:00:00Z", promised_at="3000-01-01T00:30:00+01:00"),
    )
    assert reply.status == 200
    got = (await api.get("/orders/O-2")).body
    assert (got["placed_at"], got["promised_at"]) == (
        "1900-01-01T00:00:00Z",
        "2999-12-31T23:30:00Z",
    )


# PostgreSQL refuses NUL in text and in JSONB: it reached the database as a 500.
NULS = [
    ("/customers", customer("C-2", name="Lucía\x00"), ["name"]),
    ("/customers", customer("C-2", attributes={"size": "4\x002"}), ["attributes", "size"]),
    ("/customers", customer("C-2", attributes={"a\x00": 1}), ["attributes"]),
    ("/customers/batch", [customer("C-2"), customer("C-3\x00")], [1, "external_id"]),
    ("/stores", store("LIS-01", address="Rua\x00 1"), ["address"]),
]


@pytest.mark.parametrize(("path", "payload", "loc"), NULS)
async def test_text_with_a_nul_is_422_naming_the_field(
    api: Api, db: Database, path: str, payload: Json, loc: list[object]
) -> None:
    before = await _nothing_changed(db)
    reply = await api.post(path, payload)
    assert reply.status == 422
    assert [(e["loc"], e["type"]) for e in reply.body["errors"]] == [(["body", *loc], "string_nul")]
    assert await _nothing_changed(db) == before


@pytest.mark.parametrize("path", ["/customers", "/products", "/stores", "/orders"])
async def test_a_key_with_a_nul_is_not_found(api: Api, path: str) -> None:
    reply = await api.get(f"{path}/C-1%00")
    assert reply.status == 404
    assert reply.body["error"].endswith("'C-1\\x00'")


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
async def test_a_number_that_is_not_finite_in_free_form_attributes_is_422(
    api: Api, db: Database, number: bytes
) -> None:
    # Not JSON by RFC 8259, yet parsed; PostgreSQL's JSONB refused it (a 500) and
    # SQLite kept it as null.
    body = b'{"external_id": "C-2", "attributes": {"fit": [1, ' + number + b"]}}"
    headers = {**api.auth, "Content-Type": "application/json"}
    response = await api.client.post("/api/v1/customers", data=body, headers=headers)
    assert response.status == 422
    reply = await response.json()
    assert [(e["loc"], e["type"]) for e in reply["errors"]] == [
        (["body", "attributes", "fit", 1], "finite_number")
    ]
    assert await count(db, Customer) == 1
