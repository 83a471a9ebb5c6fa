"""The sync API's endpoints: for each, its route, handler, and what it reads and answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, RootModel
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.web.api.translate import answer, read_body, run
from crm.records import (
    BATCH_LIMIT,
    BatchResult,
    CustomerBatch,
    CustomerRecord,
    CustomerView,
    InventoryBatch,
    InventoryResult,
    OrderBatch,
    OrderRecord,
    OrderView,
    ProductBatch,
    ProductRecord,
    ProductView,
    StoreBatch,
    StoreRecord,
    StoreUpsertResult,
    StoreView,
    UpsertResult,
)
from crm.services import sync

PREFIX = "/api/v1"

B = TypeVar("B", bound=BaseModel)
A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Endpoint:
    """One route, and what the OpenAPI document says of it (built from the same models)."""

    method: str
    path: str
    name: str  # the OpenAPI operationId
    summary: str
    tag: str
    handler: Handler
    body: type[BaseModel] | None
    answers: type[BaseModel] | None
    errors: tuple[int, ...]
    status: int = 200  # of a success


_POST_ERRORS = (400, 401, 409, 413, 415, 422)
_GET_ERRORS = (401, 404)


def _upsert(
    tag: str,
    path: str,
    name: str,
    summary: str,
    body: type[B],
    answers: type[A],
    service: Callable[[AsyncSession, B], Awaitable[A]],
) -> Endpoint:
    async def handler(request: web.Request) -> web.StreamResponse:
        record = await read_body(request, body)
        return answer(await run(request, lambda session: service(session, record)))

    return Endpoint("POST", PREFIX + path, name, summary, tag, handler, body, answers, _POST_ERRORS)


def _batch(
    tag: str,
    path: str,
    name: str,
    summary: str,
    body: type[RootModel[list[R]]],
    answers: type[A],
    service: Callable[[AsyncSession, Sequence[R]], Awaitable[A]],
) -> Endpoint:
    async def handler(request: web.Request) -> web.StreamResponse:
        records = (await read_body(request, body)).root
        return answer(await run(request, lambda session: service(session, records)))

    return Endpoint("POST", PREFIX + path, name, summary, tag, handler, body, answers, _POST_ERRORS)


def _read(
    tag: str,
    path: str,
    name: str,
    summary: str,
    answers: type[A],
    service: Callable[[AsyncSession, str], Awaitable[A]],
) -> Endpoint:
    [key] = [part[1:-1] for part in path.split("/") if part.startswith("{")]

    async def handler(request: web.Request) -> web.StreamResponse:
        value = request.match_info[key]
        if "\x00" in value:  # no key holds one, and PostgreSQL refuses it in a query
            raise web.HTTPNotFound(text=f"no {tag.removesuffix('s')} with {key} {value!r}")
        return answer(await run(request, lambda session: service(session, value)))

    return Endpoint("GET", PREFIX + path, name, summary, tag, handler, None, answers, _GET_ERRORS)


_ALL_OR_NOTHING = f"All or nothing, at most {BATCH_LIMIT} records."

ENDPOINTS = (
    _upsert(
        "customers",
        "/customers",
        "upsertCustomer",
        "Create or update a customer by external_id",
        CustomerRecord,
        UpsertResult,
        sync.upsert_customer,
    ),
    _batch(
        "customers",
        "/customers/batch",
        "upsertCustomers",
        f"Create or update customers by external_id. {_ALL_OR_NOTHING}",
        CustomerBatch,
        BatchResult,
        sync.upsert_customers,
    ),
    _read(
        "customers",
        "/customers/{external_id}",
        "getCustomer",
        "A customer as the hub holds it, with the current consents",
        CustomerView,
        sync.get_customer,
    ),
    _upsert(
        "products",
        "/products",
        "upsertProduct",
        "Create or update a product and its variants and prices by external_id",
        ProductRecord,
        UpsertResult,
        sync.upsert_product,
    ),
    _batch(
        "products",
        "/products/batch",
        "upsertProducts",
        f"Create or update products by external_id. {_ALL_OR_NOTHING}",
        ProductBatch,
        BatchResult,
        sync.upsert_products,
    ),
    _read(
        "products",
        "/products/{external_id}",
        "getProduct",
        "A product with its variants and prices",
        ProductView,
        sync.get_product,
    ),
    _upsert(
        "stores",
        "/stores",
        "upsertStore",
        "Create or update a store and its opening hours by code",
        StoreRecord,
        StoreUpsertResult,
        sync.upsert_store,
    ),
    _batch(
        "stores",
        "/stores/batch",
        "upsertStores",
        f"Create or update stores by code. {_ALL_OR_NOTHING}",
        StoreBatch,
        BatchResult,
        sync.upsert_stores,
    ),
    _read(
        "stores",
        "/stores/{code}",
        "getStore",
        "A store with its opening hours",
        StoreView,
        sync.get_store,
    ),
    _batch(
        "inventory",
        "/inventory",
        "setInventory",
        "Set on-hand stock per store and SKU. Reserved stock is the hub's and is kept; "
        f"levels now below it are listed as over_reserved. {_ALL_OR_NOTHING}",
        InventoryBatch,
        InventoryResult,
        sync.set_inventory,
    ),
    _upsert(
        "orders",
        "/orders",
        "upsertOrder",
        "Create or update an order, its lines and receipt by external_id",
        OrderRecord,
        UpsertResult,
        sync.upsert_order,
    ),
    _batch(
        "orders",
        "/orders/batch",
        "upsertOrders",
        f"Create or update orders by external_id. {_ALL_OR_NOTHING}",
        OrderBatch,
        BatchResult,
        sync.upsert_orders,
    ),
    _read(
        "orders",
        "/orders/{external_id}",
        "getOrder",
        "An order with its lines, receipt and status history",
        OrderView,
        sync.get_order,
    ),
)
