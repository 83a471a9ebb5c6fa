"""GET /inbox/ws: what is published on the bus topic "inbox" reaches agents' pages."""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest
from pytest_aiohttp.plugin import AiohttpClient

from adapters.web.inbox import InboxConfig
from adapters.web.inbox.live import FEED
from adapters.web.keys import BUS
from crm.models import AgentRole
from dialogue.local_bus import InProcessBus
from tests.inbox.conftest import Hub, MakeHub, login_form_token, sign_in
from tests.loopback import fresh_address, from_address


def _event(kind: str, conversation_id: int) -> bytes:
    return json.dumps(
        {
            "kind": kind,
            "conversation_id": conversation_id,
            "status": "queued",
            "assigned_agent_id": None,
            "team": None,
            "at": "2026-03-02T10:00:00+00:00",
        }
    ).encode()


def _origin(hub: Hub) -> str:
    return f"http://{hub.server.host}:{hub.server.port}"


async def test_every_agents_socket_gets_the_events(hub: Hub) -> None:
    sara = await hub.agent()
    boss = await hub.agent(AgentRole.SUPERVISOR)
    await hub.app[FEED].live()
    sockets = [
        await agent.client.ws_connect("/inbox/ws", headers={"Origin": _origin(hub)})
        for agent in (sara, boss)
    ]
    await hub.app[BUS].publish("inbox", b"not json")  # skipped, not forwarded
    await hub.app[BUS].publish("inbox", _event("queued", 7))
    await hub.app[BUS].publish("inbox", _event("claimed", 7))
    for ws in sockets:
        first = await ws.receive_json(timeout=5)
        second = await ws.receive_json(timeout=5)
        assert (first["kind"], first["conversation_id"]) == ("queued", 7)
        assert second["kind"] == "claimed"
        await ws.close()


async def test_a_socket_from_another_site_or_without_a_session_is_refused(hub: Hub) -> None:
    sara = await hub.agent()
    with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
        await sara.client.ws_connect("/inbox/ws", headers={"Origin": "https://evil.example"})
    assert foreign.value.status == 403
    stranger = await hub.new_client()
    with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
        await stranger.ws_connect("/inbox/ws", headers={"Origin": _origin(hub)})
    assert anonymous.value.status == 401


async def test_the_socket_closes_when_the_session_ends(make_hub: MakeHub) -> None:
    hub = await make_hub(InboxConfig(session_recheck=0.05))
    sara = await hub.agent()
    ws = await sara.client.ws_connect("/inbox/ws", headers={"Origin": _origin(hub)})
    out = await sara.client.post(
        "/inbox/logout", headers={"X-CSRF-Token": sara.csrf}, allow_redirects=False
    )
    assert out.status == 303
    message = await ws.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 4401


async def test_a_busy_socket_still_closes_when_the_session_ends(make_hub: MakeHub) -> None:
    hub = await make_hub(InboxConfig(session_recheck=0.05))
    sara = await hub.agent()
    await hub.app[FEED].live()
    ws = await sara.client.ws_connect("/inbox/ws", headers={"Origin": _origin(hub)})
    await sara.client.post(
        "/inbox/logout", headers={"X-CSRF-Token": sara.csrf}, allow_redirects=False
    )
    # Events keep coming faster than the recheck interval: the session is checked anyway.
    for n in range(2000):
        await hub.app[BUS].publish("inbox", _event("message", n))
        message = await ws.receive(timeout=5)
        if message.type is not aiohttp.WSMsgType.TEXT:
            break
    assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 4401)


async def test_one_bus_subscription_serves_every_socket(hub: Hub) -> None:
    bus = hub.app[BUS]
    assert isinstance(bus, InProcessBus)
    await hub.app[FEED].live()
    agents = [await hub.agent() for _ in range(3)]
    sockets = [
        await a.client.ws_connect("/inbox/ws", headers={"Origin": _origin(hub)}) for a in agents
    ]
    assert bus.subscribers("inbox") == 1
    for ws in sockets:
        await ws.close()


async def test_over_redis_events_and_sign_in_limits_are_shared(
    make_hub: MakeHub, aiohttp_client: AiohttpClient, redis_url: str
) -> None:
    hub = await make_hub(OMNIHUB_REDIS_URL=redis_url)
    sara = await hub.agent()
    await hub.app[FEED].live()
    ws = await sara.client.ws_connect("/inbox/ws", headers={"Origin": _origin(hub)})
    await hub.app[BUS].publish("inbox", _event("queued", 41))
    assert (await ws.receive_json(timeout=5))["conversation_id"] == 41
    await ws.close()

    email = f"{uuid.uuid4().hex}@shop.test"  # Redis outlives the test: a fresh key
    # and a fresh address, whose failures would otherwise add up over the runs.
    client = await aiohttp_client(hub.server, connector=from_address(fresh_address()))
    for _ in range(5):
        assert await sign_in(client, email, "guess") is None
    token = await login_form_token(client)
    blocked = await client.post(
        "/inbox/login",
        data={"email": email, "password": "guess", "csrf": token},
        allow_redirects=False,
    )
    assert blocked.status == 429
