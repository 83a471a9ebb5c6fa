"""The web chat across hub processes: two hubs sharing one Redis, as two processes would."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientWebSocketResponse, WSMsgType, web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient
from redis.asyncio import Redis

from adapters.channels.webchat import WebchatConfig, WebchatSender, identity_hash
from adapters.channels.webchat.session import TOO_MANY_SESSIONS
from adapters.redis_backends import RedisBus
from crm.db import Database
from crm.models import Channel, WebchatSite
from dialogue.local_bus import InProcessBus
from dialogue.messages import Outgoing
from tests.channels.sink import RecordingSink
from tests.channels.webchat_harness import new_site, webchat_app
from tests.loopback import from_address

SHOP = "https://shop.example"
WAIT = 5.0
Client = TestClient[web.Request, web.Application]


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
async def buses(redis_url: str) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    prefix = f"test:webchat:{uuid.uuid4().hex}:"
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    pair = (RedisBus(clients[0], prefix), RedisBus(clients[1], prefix))
    yield pair
    for bus in pair:
        await bus.aclose()
    for client in clients:
        await client.aclose()


@pytest.fixture
async def redis_clients(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    """One Redis client per hub, as two processes would have."""
    clients = (Redis.from_url(redis_url), Redis.from_url(redis_url))
    yield clients
    for client in clients:
        await client.aclose()


async def open_widget(client: Client, site: WebchatSite, token: str) -> ClientWebSocketResponse:
    ws = await client.ws_connect("/webchat/ws", params={"site_key": site.site_key}, origin=SHOP)
    await ws.send_json({"type": "hello", "token": token, "last_seen_id": 0})
    assert (await ws.receive_json(timeout=WAIT))["type"] == "ready"
    return ws


async def test_a_reply_sent_by_one_hub_reaches_a_widget_on_another(
    aiohttp_client: AiohttpClient, db: Database, buses: tuple[RedisBus, RedisBus]
) -> None:
    site = await new_site(db, SHOP)
    first = await aiohttp_client(webchat_app(db, RecordingSink(), buses[0]))
    second = await aiohttp_client(webchat_app(db, RecordingSink(), buses[1]))
    response = await first.post(
        "/webchat/session", json={"site_key": site.site_key}, headers={"Origin": SHOP}
    )
    session = await response.json()
    on_first = await open_widget(first, site, session["token"])
    on_second = await open_widget(second, site, session["token"])

    # "ready" means subscribed: a reply published at once is not lost.
    await WebchatSender(buses[0]).send(Outgoing(5, Channel.WEBCHAT, session["visitor_id"], "Olá!"))
    assert (await on_second.receive_json(timeout=WAIT))["text"] == "Olá!"
    assert (await on_first.receive_json(timeout=WAIT))["text"] == "Olá!"

    # What the visitor writes in one tab shows in their other tab, on the other hub.
    await on_second.send_json({"type": "message", "client_msg_id": "m-1", "text": "Obrigado"})
    assert (await on_second.receive_json(timeout=WAIT))["type"] == "ack"
    echo = await on_first.receive_json(timeout=WAIT)
    assert (echo["direction"], echo["text"], echo["client_msg_id"]) == (
        "inbound",
        "Obrigado",
        "m-1",
    )


async def test_new_visitors_per_address_are_counted_across_hubs(
    aiohttp_client: AiohttpClient, db: Database, redis_clients: tuple[Redis, Redis]
) -> None:
    site = await new_site(db, SHOP)
    config = WebchatConfig(sessions_per_address=2)
    hubs = [
        await aiohttp_client(webchat_app(db, RecordingSink(), InProcessBus(), config, redis=r))
        for r in redis_clients
    ]
    # Redis outlives the test: this run's visitors come from addresses of their own.
    subnet = f"127.{random.randrange(256)}.{random.randrange(256)}"
    browsers: list[TestClient[Any, Any]] = [
        await aiohttp_client(hub.server, connector=from_address(address))
        for hub, address in [
            (hubs[0], subnet + ".10"),
            (hubs[1], subnet + ".10"),
            (hubs[1], subnet + ".20"),
        ]
    ]
    here_on_first, here_on_second, elsewhere = browsers

    async def start(client: TestClient[Any, Any], token: str | None = None) -> ClientResponse:
        body = {"site_key": site.site_key} | ({"token": token} if token else {})
        return await client.post("/webchat/session", json=body, headers={"Origin": SHOP})

    first = await start(here_on_first)
    assert first.status == 200
    assert (await start(here_on_second)).status == 200
    for client in (here_on_first, here_on_second):
        refused = await start(client)
        assert refused.status == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 600
        assert (await refused.json())["error"] == TOO_MANY_SESSIONS
    # A visitor coming back is let in on either hub, and another address is not limited.
    assert (await start(here_on_second, (await first.json())["token"])).status == 200
    assert (await start(elsewhere)).status == 200


async def test_a_visitors_messages_are_counted_across_hubs(
    aiohttp_client: AiohttpClient, db: Database, redis_clients: tuple[Redis, Redis]
) -> None:
    site = await new_site(db, SHOP)
    sink = RecordingSink()
    config = WebchatConfig(messages_burst=2)
    hubs = [
        await aiohttp_client(webchat_app(db, sink, InProcessBus(), config, redis=r))
        for r in redis_clients
    ]
    response = await hubs[0].post(
        "/webchat/session", json={"site_key": site.site_key}, headers={"Origin": SHOP}
    )
    token = (await response.json())["token"]
    tabs = [await open_widget(hub, site, token) for hub in hubs]

    async def send(ws: ClientWebSocketResponse, client_msg_id: str) -> dict[str, Any]:
        await ws.send_json({"type": "message", "client_msg_id": client_msg_id, "text": "hi"})
        while True:  # past the echoes of earlier messages
            answer: dict[str, Any] = await ws.receive_json(timeout=WAIT)
            if answer["type"] != "message":
                return answer

    assert (await send(tabs[0], "m-1"))["type"] == "ack"
    assert (await send(tabs[1], "m-2"))["type"] == "ack"
    refused = await send(tabs[0], "m-3")
    assert (refused["code"], refused["client_msg_id"]) == ("rate_limited", "m-3")
    assert 0 < refused["retry_after"] <= 10
    assert (await send(tabs[1], "m-4"))["code"] == "rate_limited"
    assert len(sink.inbound) == 2


async def test_signing_in_on_one_hub_closes_the_old_tokens_socket_on_another(
    aiohttp_client: AiohttpClient, db: Database, buses: tuple[RedisBus, RedisBus]
) -> None:
    site = await new_site(db, SHOP)
    first = await aiohttp_client(webchat_app(db, RecordingSink(), buses[0]))
    second = await aiohttp_client(webchat_app(db, RecordingSink(), buses[1]))
    response = await first.post(
        "/webchat/session", json={"site_key": site.site_key}, headers={"Origin": SHOP}
    )
    anonymous = (await response.json())["token"]
    copied = await open_widget(second, site, anonymous)

    user = {"user_id": "C-1001", "user_hash": identity_hash(site.identity_secret, "C-1001")}
    response = await first.post(
        "/webchat/session",
        json={"site_key": site.site_key, "token": anonymous, **user},
        headers={"Origin": SHOP},
    )
    assert response.status == 200
    msg = await copied.receive(timeout=WAIT)
    assert (msg.type, copied.close_code) == (WSMsgType.CLOSE, 4401)
