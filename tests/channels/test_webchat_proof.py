"""A web-chat visitor proving who they are by a one-time code: their old token ends.

Someone copied the anonymous token (a shared browser) and holds a socket open with it.
The visitor asks for their order, gets a code by SMS (at the fake Twilio API) and types
it: the copy's socket closes with 4401 before the answer shows the customer's orders,
the copy is refused at the hello and at POST /webchat/session, and the visitor's own
socket, alone, gets a token that goes on with the chat. The real hub (create_app, its
chatbot, router and outbox); with Redis, across two hubs and a worker that answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestServer, unused_port
from redis.asyncio import Redis
from sqlalchemy import select

from adapters.hub import open_hub
from adapters.settings import Settings
from adapters.web.app import create_app
from adapters.workers import run_workers
from crm.db import Database
from crm.models import ChannelIdentity, WebchatSite
from tests.bots.test_orders import ANA
from tests.bots.test_verification import _ana_with_orders
from tests.channels.webchat_harness import new_site
from tests.fakes.twilio_api import FakeTwilioApi
from tests.polling import eventually

SHOP = "https://shop.example"
SMS_FROM = "+14155550100"
WAIT = 20.0  # the first answer trains nothing, but the chatbot's start may be slow


@dataclass
class Hubs:
    """One or more hub processes' apps on loopback, sharing a database (and Redis)."""

    servers: list[TestServer]
    twilio: FakeTwilioApi
    site: WebchatSite
    http: ClientSession

    def url(self, path: str, hub: int = 0) -> str:
        return str(self.servers[hub].make_url(path))

    async def session(self, token: str | None = None, hub: int = 0) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"site_key": self.site.site_key}
        if token is not None:
            body["token"] = token
        async with self.http.post(
            self.url("/webchat/session", hub), json=body, headers={"Origin": SHOP}
        ) as response:
            return response.status, await response.json()

    async def socket(self, token: str, hub: int = 0) -> Widget:
        ws = await self.http.ws_connect(
            self.url(f"/webchat/ws?site_key={self.site.site_key}", hub), origin=SHOP
        )
        await ws.send_json({"type": "hello", "token": token, "last_seen_id": 0})
        return Widget(ws)

    def code(self) -> str:
        texts = [m.body or "" for m in self.twilio.messages if m.to == ANA]
        found = re.search(r"\b(\d{6})\b", texts[-1]) if texts else None
        assert found is not None, texts
        return found.group(1)


@dataclass
class Widget:
    """One socket, keeping every frame it got."""

    ws: ClientWebSocketResponse
    frames: list[dict[str, Any]] = field(default_factory=list)
    closed: int | None = None

    async def until(self, wanted: Any) -> dict[str, Any]:
        """Reads frames until one that `wanted(frame)` accepts; fails if the socket closes."""
        async with asyncio.timeout(WAIT):
            while True:
                frame = await self._next()
                assert frame is not None, f"closed with {self.closed}; got {self.frames}"
                if wanted(frame):
                    return frame

    async def close_code(self) -> int | None:
        """Reads to the end; the close code."""
        async with asyncio.timeout(WAIT):
            while await self._next() is not None:
                pass
        return self.closed

    async def _next(self) -> dict[str, Any] | None:
        msg = await self.ws.receive()
        if msg.type is WSMsgType.TEXT:
            frame: dict[str, Any] = msg.json()
            self.frames.append(frame)
            return frame
        # The code is the CLOSE frame's; close_code is set once the client has answered it.
        self.closed = int(msg.data) if msg.type is WSMsgType.CLOSE else self.ws.close_code
        return None

    async def say(self, text: str) -> None:
        await self.ws.send_json(
            {"type": "message", "client_msg_id": uuid.uuid4().hex, "text": text}
        )

    def texts(self) -> str:
        return "\n".join(str(f.get("text", "")) for f in self.frames if f["type"] == "message")


def _is_ready(frame: dict[str, Any]) -> bool:
    return bool(frame["type"] == "ready")


def _reply_with(text: str) -> Any:
    return lambda f: f["type"] == "message" and f["direction"] == "outbound" and text in f["text"]


@contextlib.asynccontextmanager
async def running(
    database_url: str, db: Database, *, hubs: int = 1, redis_url: str | None = None
) -> AsyncIterator[Hubs]:
    """`hubs` apps; with Redis, they only store, and a worker answers (OMNIHUB_ANSWERING)."""
    async with FakeTwilioApi(numbers=[SMS_FROM]) as twilio_api:
        values: dict[str, Any] = {
            **twilio_api.environment(),
            "TWILIO_SMS_FROM": SMS_FROM,
            "OMNIHUB_PUBLIC_URL": "https://hub.example.com",
            "OMNIHUB_DATABASE_URL": database_url,
            # Redis outlives the test: earlier runs' new visitors must not count.
            "OMNIHUB_WEBCHAT_SESSIONS_PER_ADDRESS": 0,
        }
        if redis_url is not None:
            values |= {"OMNIHUB_REDIS_URL": redis_url, "OMNIHUB_ANSWERING": "worker"}
        settings = Settings.model_validate(values)
        site = await new_site(db, SHOP)
        servers = [TestServer(create_app(settings), port=unused_port()) for _ in range(hubs)]
        async with contextlib.AsyncExitStack() as stack:
            for server in servers:
                await stack.enter_async_context(server)
            if redis_url is not None:
                redis = Redis.from_url(redis_url)
                stack.push_async_callback(redis.aclose)
                hub = await stack.enter_async_context(open_hub(settings, db, redis, worker=True))
                stop = asyncio.Event()
                worker = asyncio.create_task(run_workers(db, hub.router, stop, hub.answer_queue))

                async def stop_worker() -> None:
                    stop.set()
                    await worker

                stack.push_async_callback(stop_worker)
            http = await stack.enter_async_context(ClientSession())
            yield Hubs(servers, twilio_api, site, http)


async def _the_copy_ends_when_the_visitor_proves_a_code(hubs: Hubs, db: Database) -> None:
    await _ana_with_orders(db)
    status, anonymous = await hubs.session()
    assert status == 200
    copied_token = anonymous["token"]
    visitor = await hubs.socket(copied_token, hub=0)
    await visitor.until(_is_ready)
    # Whoever copied the token from the shared browser has it open (on the other hub).
    copy = await hubs.socket(copied_token, hub=len(hubs.servers) - 1)
    await copy.until(_is_ready)

    await visitor.say("donde esta mi pedido ES-100235")
    await visitor.until(_reply_with("código"))
    await eventually(lambda: any(m.to == ANA for m in hubs.twilio.messages), within=WAIT)
    await visitor.say(hubs.code())

    renewed = await visitor.until(lambda f: f["type"] == "token")
    await visitor.until(_reply_with("SEUR"))  # the order, to the visitor who proved it
    # The copy's socket was closed before the answer reached it; it never had a token.
    assert await copy.close_code() == 4401
    assert "SEUR" not in copy.texts()
    assert [f for f in copy.frames if f["type"] == "token"] == []

    # The copy is refused from now on, at the session and at the hello.
    status, _ = await hubs.session(copied_token)
    assert status == 401
    again = await hubs.socket(copied_token)
    assert await again.close_code() == 4401

    # The new token holds: the same visitor, their history, and they are Ana now.
    status, session = await hubs.session(renewed["token"])
    assert (status, session["visitor_id"]) == (200, anonymous["visitor_id"])
    await visitor.ws.close()
    back = await hubs.socket(session["token"], hub=len(hubs.servers) - 1)
    await back.until(_is_ready)
    assert "SEUR" in back.texts()  # replayed
    await back.say("quiero ver mis pedidos")
    orders = await back.until(_reply_with("ES-100234"))
    assert "comprobar" not in orders["text"]
    await back.ws.close()


async def test_a_copied_token_ends_when_the_visitor_proves_a_code(
    database_url: str, db: Database
) -> None:
    async with running(database_url, db) as hubs:
        await _the_copy_ends_when_the_visitor_proves_a_code(hubs, db)


async def test_across_hubs_the_copy_ends_and_only_the_typing_socket_gets_the_token(
    database_url: str, db: Database, redis_url: str
) -> None:
    async with running(database_url, db, hubs=2, redis_url=redis_url) as hubs:
        await _the_copy_ends_when_the_visitor_proves_a_code(hubs, db)


async def test_a_copy_repeating_the_codes_message_id_gets_no_token(
    database_url: str, db: Database
) -> None:
    """The copy sees the visitor's message echoed, with its client_msg_id, and sends the
    same id: the hub acks it as the same message, but it is not the copy's."""
    await _ana_with_orders(db)
    async with running(database_url, db) as hubs:
        _, anonymous = await hubs.session()
        visitor = await hubs.socket(anonymous["token"])
        await visitor.until(_is_ready)
        copy = await hubs.socket(anonymous["token"])
        await copy.until(_is_ready)
        await visitor.say("donde esta mi pedido ES-100235")
        await visitor.until(_reply_with("código"))
        await eventually(lambda: any(m.to == ANA for m in hubs.twilio.messages), within=WAIT)
        code = hubs.code()
        await visitor.ws.send_json({"type": "message", "client_msg_id": "code-1", "text": code})
        await copy.until(lambda f: f.get("client_msg_id") == "code-1")
        await copy.ws.send_json({"type": "message", "client_msg_id": "code-1", "text": code})

        await visitor.until(lambda f: f["type"] == "token")
        assert await copy.close_code() == 4401
        assert [f for f in copy.frames if f["type"] == "token"] == []
        await visitor.ws.close()


async def test_the_copy_ends_even_when_no_socket_is_open_to_hear_it(
    database_url: str, db: Database
) -> None:
    """The visitor types the code and closes the tab at once: nothing listens on the
    bus when the answer commits, and the copy is refused all the same."""
    await _ana_with_orders(db)
    async with running(database_url, db) as hubs:
        _, anonymous = await hubs.session()
        visitor = await hubs.socket(anonymous["token"])
        await visitor.until(_is_ready)
        await visitor.say("donde esta mi pedido ES-100235")
        await visitor.until(_reply_with("código"))
        await eventually(lambda: any(m.to == ANA for m in hubs.twilio.messages), within=WAIT)
        await visitor.ws.send_json(
            {"type": "message", "client_msg_id": "code-1", "text": hubs.code()}
        )
        await visitor.until(lambda f: f["type"] == "ack")
        await visitor.ws.close()

        async def proved() -> bool:
            async with db.transaction() as session:
                return bool(
                    await session.scalar(
                        select(ChannelIdentity.verified).where(
                            ChannelIdentity.address == anonymous["visitor_id"]
                        )
                    )
                )

        await eventually(proved, within=WAIT)
        status, _ = await hubs.session(anonymous["token"])
        assert status == 401
        again = await hubs.socket(anonymous["token"])
        assert await again.close_code() == 4401
