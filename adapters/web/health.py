"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

import aiohttp
from aiohttp import hdrs, web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from adapters.web.errors import error_response
from adapters.web.keys import BEFORE_SCRAPE, DATABASE, REDIS, SETTINGS

log = logging.getLogger(__name__)

READY_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when every backing service answers: the database and, if configured, Redis.

    A configured Rasa server is reported too, but a down Rasa leaves the hub ready:
    the embedded engine understands customers meanwhile (omnihub_nlu_fallbacks_total).
    """
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(request.app[DATABASE].ping(), READY_TIMEOUT)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason is reported
        checks["database"] = f"error: {type(exc).__name__}: {exc}"
    if REDIS in request.app:
        try:
            await asyncio.wait_for(request.app[REDIS].ping(), READY_TIMEOUT)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}: {exc}"
    ready = all(v == "ok" for v in checks.values())
    rasa_url = request.app[SETTINGS].rasa_url
    if rasa_url is not None:
        checks["rasa"] = await _rasa_status(str(rasa_url))
    return web.json_response(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


async def _rasa_status(url: str) -> str:
    """Whether the Rasa server answers with a model loaded (GET /status; 409 without one)."""
    timeout = aiohttp.ClientTimeout(total=READY_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{url.rstrip('/')}/status") as response,
        ):
            if response.status == 200:
                return "ok"
            problem = f"HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    return f"error: {problem} (the embedded engine answers)"


async def metrics(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if token is not None and not _bearer_matches(request, token.get_secret_value()):
        # Before the refresh: an unauthorised request costs no query.
        response = error_response(
            401, "GET /metrics needs the header Authorization: Bearer <token>", code="token"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    for refresh in request.app.get(BEFORE_SCRAPE, []):
        try:
            await asyncio.wait_for(refresh(request.app), READY_TIMEOUT)
        except (TimeoutError, SQLAlchemyError, OSError) as exc:
            # The database is slow, down or not migrated: /readyz says so; the last
            # values stay, and the scrape still answers.
            log.warning("metrics not refreshed: %s", exc)
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _bearer_matches(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    # Digests compared in constant time: neither the token nor its length shows in
    # how long a wrong guess takes.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        hashlib.sha256(given.strip().encode()).digest(), hashlib.sha256(token.encode()).digest()
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
