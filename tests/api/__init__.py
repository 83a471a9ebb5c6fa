"""Helpers for the sync API tests: a client with a live token, payloads, row counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection

from adapters.settings import Settings
from adapters.web.app import create_app
from adapters.web.keys import DATABASE
from crm.db import Database
from crm.models import Base
from crm.services.staff import create_api_token

Client = TestClient[web.Request, web.Application]
Json = Any  # what the API answers, as parsed JSON

T0 = "2026-03-02T10:00:00+00:00"


@dataclass
class Reply:
    status: int
    body: Json
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Api:
    """A running hub on loopback and a token it accepts."""

    client: Client
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, path: str, payload: Json) -> Reply:
        response = await self.client.post(f"/api/v1{path}", json=payload, headers=self.auth)
        return Reply(response.status, await response.json(), dict(response.headers))

    async def get(self, path: str) -> Reply:
        response = await self.client.get(f"/api/v1{path}", headers=self.auth)
        return Reply(response.status, await response.json(), dict(response.headers))

    @contextmanager
    def statements(self) -> Iterator[list[str]]:
        """The SQL statements the hub runs inside the block."""
        seen: list[str] = []

        def record(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        engine = self.client.app[DATABASE].engine.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            event.remove(engine, "before_cursor_execute", record)


def reads(statements: list[str]) -> int:
    return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT"))


async def start_api(aiohttp_client: AiohttpClient, db: Database, **settings: Any) -> Api:
    client = await aiohttp_client(create_app(Settings(OMNIHUB_DATABASE_URL=db.url, **settings)))
    async with db.transaction() as session:
        issued = await create_api_token(session, "tests")
    return Api(client, issued.token)


async def count(db: Database, model: type[Base]) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def counts(db: Database, *models: type[Base]) -> dict[str, int]:
    return {model.__name__: await count(db, model) for model in models}


def customer(external_id: str = "C-1", **fields: Json) -> Json:
    return {
        "external_id": external_id,
        "name": "Lucía Pérez",
        "email": "lucia@example.com",
        "phone": "+34 612 34 56 78",
        "language": "es",
        "country": "ES",
        **fields,
    }


def store(code: str = "MAD-01", **fields: Json) -> Json:
    return {
        "code": code,
        "name": "Madrid Gran Vía",
        "city": "Madrid",
        "country": "ES",
        "address": "Gran Vía 1",
        "timezone": "Europe/Madrid",
        "currency": "EUR",
        "hours": [{"weekday": d, "opens": "10:00", "closes": "21:00"} for d in range(6)],
        **fields,
    }


def product(external_id: str = "P-1", skus: tuple[str, ...] = ("SKU-1",), **fields: Json) -> Json:
    return {
        "external_id": external_id,
        "names": {"es": "Zapatilla urbana", "en": "City sneaker"},
        "category": "shoes",
        "brand": "Camina",
        "variants": [{"sku": sku, "size": "42", "color": "black"} for sku in skus],
        "prices": {"EUR": 5990},
        **fields,
    }


def order(
    external_id: str = "O-1",
    customer_external_id: str = "C-1",
    skus: tuple[str, ...] = ("SKU-1",),
    **fields: Json,
) -> Json:
    return {
        "external_id": external_id,
        "number": f"ES-{external_id}",
        "customer_external_id": customer_external_id,
        "sales_channel": "online",
        "fulfilment": "delivery",
        "status": "confirmed",
        "currency": "EUR",
        "total_minor": 5990 * len(skus),
        "placed_at": T0,
        "items": [
            {"line_no": n, "sku": sku, "quantity": 1, "unit_price_minor": 5990}
            for n, sku in enumerate(skus, start=1)
        ],
        **fields,
    }
