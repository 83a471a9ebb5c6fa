"""Segments over /api/v1: count and preview a rule, save it, read, change and archive it."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp.plugin import AiohttpClient

from crm.db import Database
from crm.models import Segment
from tests.api import Api, Reply, count, customer, start_api

ES = {"field": "country", "op": "eq", "value": "ES"}
BOUGHT = {"field": "orders.count", "op": "gte", "value": 1, "within_days": 90}
VIP = {"field": "tags", "op": "contains", "value": "vip"}


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, db: Database) -> Api:
    return await start_api(aiohttp_client, db)


async def _send(api: Api, method: str, path: str, payload: Any = None) -> Reply:
    response = await api.client.request(method, f"/api/v1{path}", json=payload, headers=api.auth)
    body = None if response.status == 204 else await response.json()
    return Reply(response.status, body)


async def _customers(api: Api, n: int) -> None:
    """C-01..C-n: the odd ones are in Spain, every third one is a vip."""
    batch = [
        customer(
            f"C-{i:02}",
            country="ES" if i % 2 else "PT",
            tags=["vip"] if i % 3 == 0 else [],
        )
        for i in range(1, n + 1)
    ]
    assert (await api.post("/customers/batch", batch)).status == 200


async def test_count_answers_the_number_and_ten_external_ids_in_order(api: Api) -> None:
    await _customers(api, 30)
    reply = await api.post("/segments/count", {"rule": ES})
    assert reply.status == 200
    odd = [f"C-{i:02}" for i in range(1, 31, 2)]
    assert reply.body == {"count": 15, "sample": odd[:10]}

    both = await api.post("/segments/count", {"rule": {"all": [ES, VIP]}})
    assert both.body == {"count": 5, "sample": ["C-03", "C-09", "C-15", "C-21", "C-27"]}
    neither = await api.post("/segments/count", {"rule": {"not": {"any": [ES, VIP]}}})
    assert neither.body["count"] == 10


async def test_a_segment_is_saved_read_listed_changed_and_archived(api: Api, db: Database) -> None:
    await _customers(api, 6)
    created = await api.post("/segments", {"name": " Spain ", "rule": ES})
    assert created.status == 201
    assert created.body == {"id": created.body["id"], "count": 3}
    path = f"/segments/{created.body['id']}"

    read = await api.get(path)
    assert read.status == 200
    assert read.body["name"] == "Spain"
    assert read.body["rule"] == ES
    assert (read.body["count"], read.body["sample"]) == (3, ["C-01", "C-03", "C-05"])

    other = await api.post("/segments", {"name": "VIP", "rule": VIP})
    listed = await api.get("/segments")
    assert [s["name"] for s in listed.body["segments"]] == ["VIP", "Spain"]

    changed = await _send(api, "PATCH", path, {"rule": {"all": [ES, VIP]}})
    assert changed.status == 200
    assert (changed.body["name"], changed.body["count"], changed.body["sample"]) == (
        "Spain",
        1,
        ["C-03"],
    )
    renamed = await _send(api, "PATCH", path, {"name": "Spanish VIPs"})
    assert (renamed.body["name"], renamed.body["count"]) == ("Spanish VIPs", 1)

    assert (await _send(api, "DELETE", path)).status == 204
    assert (await api.get(path)).status == 404
    assert (await _send(api, "DELETE", path)).status == 404
    listed = await api.get("/segments")
    assert [s["id"] for s in listed.body["segments"]] == [other.body["id"]]
    assert await count(db, Segment) == 2  # archived, not deleted: campaigns may name it


async def test_unknown_segments_are_404(api: Api) -> None:
    assert (await api.get("/segments/999")).status == 404
    assert (await api.get("/segments/abc")).status == 404
    assert (await _send(api, "PATCH", "/segments/999", {"name": "x"})).status == 404


@pytest.mark.parametrize(
    ("rule", "path", "words"),
    [
        ({"field": "colour", "op": "eq", "value": "red"}, "rule.field", "unknown field"),
        (
            {"all": [ES, BOUGHT, {"field": "loyalty_points", "op": "gte", "value": "many"}]},
            "rule.all[2].value",
            "whole number",
        ),
        (
            {"any": [ES, {"not": {"field": "city", "op": "gte", "value": "M"}}]},
            "rule.any[1].not.op",
            "operators",
        ),
        (
            {"all": [{"field": "country", "op": "eq", "value": "ES", "within_days": 3}]},
            "rule.all[0].within_days",
            "orders",
        ),
        ({"all": [ES, {"feild": "city"}]}, "rule.all[1]", "expected"),
        ({"field": "orders.total_minor", "op": "gte", "value": 100}, "rule", "currency"),
        ({"field": "consent.fax", "op": "eq", "value": True}, "rule.field", "consent.whatsapp"),
        ({"field": "consent.sms", "op": "eq", "value": "yes"}, "rule.value", "true"),
        (
            {"field": "orders.last_placed_at", "op": "gte", "value": "last week"},
            "rule.value",
            "ISO",
        ),
        ({"all": []}, "rule.all", "at least 1"),
        ({"field": "language", "op": "in", "value": ["es", "fr"]}, "rule.value", "es, pt, en"),
        ({"any": [ES] * 51}, "rule.any", "at most 50"),
        # A value left out is checked too (it reached the query compiler: a 500).
        ({"field": "language", "op": "in"}, "rule.value", "non-empty list"),
        ({"all": [ES, {"field": "orders.count", "op": "gte"}]}, "rule.all[1].value", "whole"),
        ({"field": "attributes.size", "op": "eq"}, "rule.value", "a string, a number"),
        # Numbers the database cannot compare with (PostgreSQL's int4/int8: a 500).
        ({"field": "loyalty_points", "op": "gte", "value": 2**31}, "rule.value", "2147483647"),
        ({"field": "loyalty_points", "op": "lt", "value": -(2**31)}, "rule.value", "2147483647"),
        ({"field": "orders.count", "op": "eq", "value": 2**31}, "rule.value", "2147483647"),
        (
            {"field": "orders.total_minor", "op": "gte", "value": 2**31, "currency": "EUR"},
            "rule.value",
            "2147483647",
        ),
        (
            {"field": "orders.last_placed_at", "op": "lte", "value": "9999-12-31T23:00:00-05:00"},
            "rule.value",
            "1900",
        ),
        (
            {"field": "orders.last_placed_at", "op": "gte", "value": "0001-01-01T00:00:00+05:00"},
            "rule.value",
            "1900",
        ),
        (
            {"field": "attributes.size", "op": "in", "value": [1, -(2**63) - 1]},
            "rule.value",
            "9223372036854775807",
        ),
        ({"all": [{"any": [ES] * 50}, {"any": [ES] * 50}, VIP]}, "rule", "at most 100"),
    ],
)
async def test_a_bad_rule_is_422_with_the_path_of_the_bad_part(
    api: Api, db: Database, rule: Any, path: str, words: str
) -> None:
    for endpoint, body in [
        ("/segments/count", {"rule": rule}),
        ("/segments", {"name": "x", "rule": rule}),
    ]:
        reply = await api.post(endpoint, body)
        assert reply.status == 422
        assert reply.body["error"] == "invalid input"
        [error] = reply.body["errors"]
        assert error["path"] == path
        assert error["loc"] == ["body", *_loc(path)]
        assert words in error["msg"]
    assert await count(db, Segment) == 0


def _loc(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in path.replace("[", ".[").split("."):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return parts


async def test_segments_need_a_bearer_token(api: Api) -> None:
    for method, path in [
        ("POST", "/segments/count"),
        ("POST", "/segments"),
        ("GET", "/segments"),
        ("GET", "/segments/1"),
        ("PATCH", "/segments/1"),
        ("DELETE", "/segments/1"),
    ]:
        response = await api.client.request(method, f"/api/v1{path}", json={"rule": ES})
        assert response.status == 401, (method, path)
