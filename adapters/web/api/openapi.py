"""The OpenAPI 3.1 document of /api/v1, built from the endpoints and their pydantic models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, JsonSchemaValue, models_json_schema

from adapters.web.api.endpoints import PREFIX, Endpoint
from adapters.web.api.schemas import ErrorBody, InvalidInput

PATH = PREFIX + "/openapi.json"
REF_TEMPLATE = "#/components/schemas/{model}"
SECURITY = "bearer"

_ERRORS = {
    400: "Malformed JSON: not UTF-8, a lone surrogate, nested deeper than 200 levels... "
    "Nothing was written.",
    401: "Missing, malformed, unknown or revoked bearer token.",
    404: "Not known to the hub.",
    409: "Another request changed the same records at the same time; retry.",
    413: "The body is larger than the hub accepts; send smaller batches.",
    415: "The body is not application/json.",
    422: "Invalid input: `errors` says where. Nothing was written.",
}

# The document is JSON built here and served as is: nothing else reads its structure.
Document = dict[str, Any]
# Keyed by (model, mode); Any because pydantic's key type names a private class.
Refs = Mapping[tuple[Any, JsonSchemaMode], JsonSchemaValue]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(endpoint: Endpoint, refs: Refs) -> Document:
    operation: Document = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
    }
    if endpoint.body is not None:
        operation["description"] = endpoint.body.__doc__ or ""
        operation["requestBody"] = {
            "required": True,
            "content": _json(refs[(endpoint.body, "validation")]),
        }
    keys = [part[1:-1] for part in endpoint.path.split("/") if part.startswith("{")]
    if keys:
        operation["parameters"] = [
            {"name": key, "in": "path", "required": True, "schema": {"type": "string"}}
            for key in keys
        ]
    ok = str(endpoint.status)
    responses: Document = {ok: {"description": HTTPStatus(endpoint.status).phrase}}
    if endpoint.answers is not None:
        responses[ok]["content"] = _json(refs[(endpoint.answers, "serialization")])
    for status in endpoint.errors:
        body = InvalidInput if status == 422 else ErrorBody
        responses[str(status)] = {
            "description": _ERRORS[status],
            "content": _json(refs[(body, "serialization")]),
        }
    operation["responses"] = responses
    return operation


def build_document(endpoints: Sequence[Endpoint]) -> Document:
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
        (ErrorBody, "serialization"): None,
        (InvalidInput, "serialization"): None,
    }
    for endpoint in endpoints:
        if endpoint.body is not None:
            models[(endpoint.body, "validation")] = None
        if endpoint.answers is not None:
            models[(endpoint.answers, "serialization")] = None
    refs, definitions = models_json_schema(list(models), ref_template=REF_TEMPLATE)

    paths: Document = {
        PATH: {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "tags": ["meta"],
                "security": [],
                "responses": {"200": {"description": "OK", "content": _json({"type": "object"})}},
            }
        }
    }
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "omnihub sync API",
            "version": "1",
            "description": "How the shop's systems (ERP, e-commerce, POS) load and update "
            "the hub's customers, catalogue, stores, stock and orders. Upserts are "
            "idempotent by external id (stores by code); on update, omitted fields keep "
            "their value and null clears one.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {SECURITY: {"type": "http", "scheme": "bearer"}},
        },
        "security": [{SECURITY: []}],
    }
