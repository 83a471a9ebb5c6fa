"""Requests the API cannot read get a clear 4xx in JSON and change nothing."""

from __future__ import annotations

import json

import pytest
from pytest_aiohttp.plugin import AiohttpClient

from crm.db import Database
from crm.models import Customer
from tests.api import Api, count, customer, start_api

MAX_BODY = 4096


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, db: Database) -> Api:
    return await start_api(aiohttp_client, db, OMNIHUB_MAX_BODY_BYTES=MAX_BODY)


async def _send(api: Api, path: str, body: bytes, content_type: str) -> tuple[int, object]:
    headers = {**api.auth, "Content-Type": content_type}
    response = await api.client.post(f"/api/v1{path}", data=body, headers=headers)
    assert response.content_type == "application/json"
    return response.status, await response.json()


# Also what the parser must not crash on: not UTF-8, a lone surrogate (which PostgreSQL
# refuses in text), nesting deep enough for a RecursionError in Python's json.
MALFORMED = [
    b'{"external_id": "C-1",',
    b"",
    b"\xff\xfe",
    b'{"external_id": "C-\xe9"}',
    b"NaN-ish",
    b'{"external_id": "C-1", "name": "\\ud800"}',
    b'{"external_id": "C-1", "attributes": {"a": ' + b"[" * 1500 + b"]" * 1500 + b"}}",
]


@pytest.mark.parametrize("body", MALFORMED)
async def test_malformed_json_is_400(api: Api, db: Database, body: bytes) -> None:
    status, reply = await _send(api, "/customers", body, "application/json")
    assert status == 400
    assert isinstance(reply, dict)
    assert reply["error"].startswith("malformed JSON")
    assert await count(db, Customer) == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_json_is_415(api: Api, db: Database, content_type: str) -> None:
    status, reply = await _send(api, "/customers", json.dumps(customer()).encode(), content_type)
    assert status == 415
    assert reply == {"error": f"expected a application/json body, got {content_type!r}"}
    assert await count(db, Customer) == 0


async def test_json_with_a_charset_is_accepted(api: Api) -> None:
    body = json.dumps(customer()).encode()
    status, _ = await _send(api, "/customers", body, "application/json; charset=utf-8")
    assert status == 200


async def test_an_oversized_body_is_413(api: Api, db: Database) -> None:
    batch = [customer(f"C-{n}") for n in range(100)]
    body = json.dumps(batch).encode()
    assert len(body) > MAX_BODY
    status, reply = await _send(api, "/customers/batch", body, "application/json")
    assert status == 413
    assert isinstance(reply, dict)
    assert "Maximum request body size 4096 exceeded" in reply["error"]
    assert await count(db, Customer) == 0


async def test_a_single_record_endpoint_wants_an_object(api: Api, db: Database) -> None:
    status, reply = await _send(api, "/customers", b"[]", "application/json")
    assert status == 422
    assert reply == {
        "error": "invalid input",
        "errors": [
            {
                "loc": ["body"],
                "msg": "Input should be an object",
                "type": "model_type",
                "path": "",
            }
        ],
    }
    assert await count(db, Customer) == 0


async def test_a_batch_endpoint_wants_a_list(api: Api) -> None:
    status, reply = await _send(api, "/customers/batch", b'{"items": []}', "application/json")
    assert status == 422
    assert isinstance(reply, dict)
    assert reply["errors"][0]["loc"] == ["body"]


async def test_an_empty_batch_does_nothing(api: Api) -> None:
    reply = await api.post("/orders/batch", [])
    assert (reply.status, reply.body) == (200, {"created": 0, "updated": 0})
    reply = await api.post("/inventory", [])
    assert reply.body == {"created": 0, "updated": 0, "over_reserved": []}


async def test_unknown_routes_and_methods_answer_in_json(api: Api) -> None:
    response = await api.client.delete("/api/v1/customers/C-1", headers=api.auth)
    assert response.status == 405
    assert "error" in await response.json()
