"""The web app's own routes: liveness, readiness, metrics and JSON errors."""

from __future__ import annotations

import socket

from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient

from adapters.settings import Settings
from adapters.web.app import create_app
from tests.fakes.rasa_api import FakeRasa

Client = TestClient[web.Request, web.Application]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _client(aiohttp_client: AiohttpClient, settings: Settings) -> Client:
    return await aiohttp_client(create_app(settings))


async def test_healthz_answers_without_touching_backends(aiohttp_client: AiohttpClient) -> None:
    client = await _client(
        aiohttp_client, Settings(OMNIHUB_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    )
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_checks_the_database(aiohttp_client: AiohttpClient, database_url: str) -> None:
    client = await _client(aiohttp_client, Settings(OMNIHUB_DATABASE_URL=database_url))
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"database": "ok"}


async def test_readyz_reports_an_unreachable_database(aiohttp_client: AiohttpClient) -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/test"
    client = await _client(aiohttp_client, Settings(OMNIHUB_DATABASE_URL=url))
    response = await client.get("/readyz")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("error:")


async def test_readyz_checks_redis(
    aiohttp_client: AiohttpClient, database_url: str, redis_url: str
) -> None:
    settings = Settings(OMNIHUB_DATABASE_URL=database_url, OMNIHUB_REDIS_URL=redis_url)
    response = await (await _client(aiohttp_client, settings)).get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"database": "ok", "redis": "ok"}


async def test_readyz_reports_an_unreachable_redis(
    aiohttp_client: AiohttpClient, database_url: str, redis_url: str
) -> None:
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    settings = Settings(OMNIHUB_DATABASE_URL=database_url, OMNIHUB_REDIS_URL=dead)
    response = await (await _client(aiohttp_client, settings)).get("/readyz")
    assert response.status == 503
    checks = (await response.json())["checks"]
    assert checks["database"] == "ok"
    assert checks["redis"].startswith("error:")


async def test_readyz_reports_rasa(aiohttp_client: AiohttpClient, database_url: str) -> None:
    async with FakeRasa() as rasa:
        settings = Settings(OMNIHUB_DATABASE_URL=database_url, OMNIHUB_RASA_URL=rasa.base_url)
        response = await (await _client(aiohttp_client, settings)).get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"database": "ok", "rasa": "ok"}


async def test_a_down_rasa_is_reported_but_the_hub_stays_ready(
    aiohttp_client: AiohttpClient, database_url: str
) -> None:
    settings = Settings(
        OMNIHUB_DATABASE_URL=database_url, OMNIHUB_RASA_URL=f"http://127.0.0.1:{_closed_port()}"
    )
    response = await (await _client(aiohttp_client, settings)).get("/readyz")
    # The embedded engine understands customers while Rasa is down.
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"
    assert body["checks"]["rasa"].startswith("error:")
    assert "embedded engine answers" in body["checks"]["rasa"]


async def test_metrics_are_in_prometheus_text_format(aiohttp_client: AiohttpClient) -> None:
    client = await _client(aiohttp_client, Settings())
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "python_info" in await response.text()


async def test_unknown_route_and_wrong_method_get_json_reasons(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await _client(aiohttp_client, Settings())
    missing = await client.get("/no/such/page")
    assert missing.status == 404
    assert (await missing.json()) == {"error": "Not Found"}
    wrong = await client.post("/healthz")
    assert wrong.status == 405
    assert (await wrong.json())["error"] == "Method Not Allowed"
    assert "GET" in wrong.headers["Allow"]


async def test_with_a_metrics_token_only_its_bearer_reads_the_metrics(
    aiohttp_client: AiohttpClient,
) -> None:
    token = "s3cr3t-" + "x" * 25
    client = await _client(aiohttp_client, Settings(OMNIHUB_METRICS_TOKEN=token))
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-of-some-length"},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": f"Basic {token}"},
    ):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        body = await refused.json()
        assert "Authorization: Bearer" in body["error"]
        assert "python_info" not in await refused.text()
    allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert allowed.status == 200
    assert "python_info" in await allowed.text()
    # The other probes stay open: a load balancer checks them without the token.
    assert (await client.get("/healthz")).status == 200
