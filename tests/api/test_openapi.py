"""The OpenAPI document is valid and describes every route the API serves."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate
from pytest_aiohttp.plugin import AiohttpClient

from crm.db import Database
from tests.api import Api, start_api


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, db: Database) -> Api:
    return await start_api(aiohttp_client, db)


async def _document(api: Api) -> dict[str, object]:
    response = await api.client.get("/api/v1/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    document: dict[str, object] = await response.json()
    return document


async def test_the_document_is_valid_openapi_3_1(api: Api) -> None:
    document = await _document(api)
    assert document["openapi"] == "3.1.0"
    validate(document)


async def test_every_route_is_documented(api: Api) -> None:
    document = await _document(api)
    paths = document["paths"]
    assert isinstance(paths, dict)
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in api.client.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1")
        and route.method != "HEAD"
    }
    documented = {(method, path) for path, item in paths.items() for method in item}
    assert served == documented
    assert len(served) == 20


async def test_operations_name_their_schemas_errors_and_security(api: Api) -> None:
    document = await _document(api)
    paths = document["paths"]
    assert isinstance(paths, dict)
    components = document["components"]
    assert isinstance(components, dict)
    schemas = components["schemas"]
    assert components["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert document["security"] == [{"bearer": []}]

    refs = set(re.findall(r'"#/components/schemas/(\w+)"', str(document).replace("'", '"')))
    assert refs <= set(schemas)

    batch = paths["/api/v1/orders/batch"]["post"]
    body = batch["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/OrderBatch"}
    assert schemas["OrderBatch"]["maxItems"] == 1000
    assert set(batch["responses"]) == {"200", "400", "401", "409", "413", "415", "422"}
    invalid = batch["responses"]["422"]["content"]["application/json"]["schema"]
    assert invalid == {"$ref": "#/components/schemas/InvalidInput"}

    read = paths["/api/v1/customers/{external_id}"]["get"]
    assert read["parameters"][0]["name"] == "external_id"
    assert set(read["responses"]) == {"200", "401", "404"}
    assert paths["/api/v1/openapi.json"]["get"]["security"] == []


async def test_the_schemas_show_what_each_number_and_date_may_be(api: Api) -> None:
    document = await _document(api)
    schemas = document["components"]["schemas"]  # type: ignore[index]
    on_hand = schemas["InventoryLevel"]["properties"]["on_hand"]
    assert (on_hand["type"], on_hand["minimum"], on_hand["maximum"]) == ("integer", 0, 2**31 - 1)
    quantity = schemas["OrderLineRecord"]["properties"]["quantity"]
    assert (quantity["exclusiveMinimum"], quantity["maximum"]) == (0, 2**31 - 1)
    prices = schemas["ProductRecord"]["properties"]["prices"]["anyOf"][0]
    assert prices["patternProperties"]["^[A-Z]{3}$"]["maximum"] == 2**31 - 1
    placed_at = schemas["OrderRecord"]["properties"]["placed_at"]
    assert placed_at["format"] == "date-time"
    assert "between 1900 and 2999" in placed_at["description"]
