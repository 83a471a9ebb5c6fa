"""The JSON API under /api/v1 through which the shop's systems sync the CRM."""

from __future__ import annotations

import json

from aiohttp import web

from adapters.web.api.auth import require_token
from adapters.web.api.endpoints import ENDPOINTS
from adapters.web.api.openapi import PATH, build_document
from adapters.web.api.segments import SEGMENT_ENDPOINTS

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    endpoints = (*ENDPOINTS, *SEGMENT_ENDPOINTS)
    for endpoint in endpoints:
        app.router.add_route(
            endpoint.method, endpoint.path, require_token(endpoint.handler), name=endpoint.name
        )
    document = json.dumps(build_document(endpoints))

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(text=document, content_type="application/json")

    app.router.add_get(PATH, openapi, name="getOpenApi", allow_head=False)
