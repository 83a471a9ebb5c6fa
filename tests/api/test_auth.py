"""Every /api/v1 route but the OpenAPI document wants a live bearer token."""

from __future__ import annotations

import re

import pytest
from pytest_aiohttp.plugin import AiohttpClient
from sqlalchemy import select

from adapters.web.api.endpoints import ENDPOINTS, Endpoint
from crm.db import Database
from crm.models import ApiToken, Customer
from crm.services.staff import revoke_api_token
from tests.api import Api, count, customer, start_api


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, db: Database) -> Api:
    return await start_api(aiohttp_client, db)


async def _post_customer(api: Api, headers: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    response = await api.client.post("/api/v1/customers", json=customer(), headers=headers)
    return response.status, response.headers.get("WWW-Authenticate", ""), await response.json()


async def test_no_header_is_challenged(api: Api, db: Database) -> None:
    status, challenge, body = await _post_customer(api, {})
    assert status == 401
    assert challenge == 'Bearer realm="omnihub"'
    assert "Bearer" in body["error"]
    assert await count(db, Customer) == 0


@pytest.mark.parametrize(
    "header", ["Token abc", "Bearer", "Bearer ", "Bearer two words", "Basic dXNlcjpwYXNz"]
)
async def test_malformed_header_is_refused(api: Api, db: Database, header: str) -> None:
    status, challenge, body = await _post_customer(api, {"Authorization": header})
    assert status == 401
    assert challenge == 'Bearer realm="omnihub", error="invalid_request"'
    assert body["error"].startswith("malformed Authorization header")
    assert await count(db, Customer) == 0


async def test_unknown_token_is_refused(api: Api, db: Database) -> None:
    status, challenge, body = await _post_customer(api, {"Authorization": "Bearer ohk_nope"})
    assert status == 401
    assert challenge == 'Bearer realm="omnihub", error="invalid_token"'
    assert body == {"error": "unknown or revoked token"}
    assert await count(db, Customer) == 0


async def test_revoked_token_is_refused(api: Api, db: Database) -> None:
    assert (await api.post("/customers", customer())).status == 200
    async with db.transaction() as session:
        token_id = await session.scalar(select(ApiToken.id))
        assert token_id is not None
        assert await revoke_api_token(session, token_id)
    status, _, body = await _post_customer(api, api.auth)
    assert status == 401
    assert body == {"error": "unknown or revoked token"}


async def test_a_live_token_is_accepted_and_its_use_recorded(api: Api, db: Database) -> None:
    reply = await api.post("/customers", customer())
    assert reply.status == 200
    async with db.transaction() as session:
        token = await session.scalar(select(ApiToken))
        assert token is not None
        assert token.last_used_at is not None


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
async def test_every_route_is_guarded(api: Api, endpoint: Endpoint) -> None:
    url = re.sub(r"\{\w+\}", "X-1", endpoint.path)
    response = await api.client.request(endpoint.method, url, json=[])
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_openapi_document_needs_no_token(api: Api) -> None:
    response = await api.client.get("/api/v1/openapi.json")
    assert response.status == 200
