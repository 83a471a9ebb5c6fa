"""GET /webchat/ws through a real aiohttp server: first-frame auth, replay, sends, live frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, WSServerHandshakeError, web
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY
from pytest_aiohttp.plugin import AiohttpClient

from adapters.channels.webchat import WebchatConfig, WebchatSender, drop_connections, identity_hash
from adapters.channels.webchat.tokens import TOKEN_TTL, SessionClaims, issue_token
from crm.db import Database
from crm.models import Channel, DeliveryStatus, MessageAuthor, WebchatSite
from dialogue.local_bus import InProcessBus, LocalSubscription
from dialogue.messages import Button, DeliveryUpdate, Inbound, Outgoing
from dialogue.ports import Accepted
from tests.channels.sink import RecordingSink
from tests.channels.webchat_harness import (
    Clock,
    StoringSink,
    add_history,
    eventually,
    new_site,
    on_both_backends,
    said_by_visitor,
    said_to_visitor,
    webchat_app,
)

SHOP = "https://shop.example"
WAIT = 5.0  # seconds before a frame that should come is declared missing
Client = TestClient[web.Request, web.Application]
Frame = dict[str, Any]


@dataclass
class Chat:
    """A hub with the web chat on loopback, and ways to open widgets on it."""

    client: Client
    site: WebchatSite
    bus: InProcessBus
    sink: RecordingSink
    clock: Clock
    sockets: list[ClientWebSocketResponse] = field(default_factory=list)

    @property
    def sender(self) -> WebchatSender:
        return WebchatSender(self.bus)

    async def session(self, **body: Any) -> tuple[str, str]:
        response = await self.client.post(
            "/webchat/session",
            json={"site_key": self.site.site_key, **body},
            headers={"Origin": SHOP},
        )
        assert response.status == 200, await response.text()
        answer = await response.json()
        return answer["token"], answer["visitor_id"]

    async def connect(
        self, *, origin: str | None = SHOP, site_key: str | None = None, **headers: str
    ) -> ClientWebSocketResponse:
        ws = await self.client.ws_connect(
            "/webchat/ws",
            params={"site_key": site_key or self.site.site_key},
            origin=origin,
            headers=headers,
        )
        self.sockets.append(ws)
        return ws

    async def open(
        self, token: str, last_seen_id: int = 0, **hello: Any
    ) -> tuple[ClientWebSocketResponse, list[Frame]]:
        """A widget past its hello: the socket and the replayed frames before "ready"."""
        ws = await self.connect()
        await ws.send_json({"type": "hello", "token": token, "last_seen_id": last_seen_id, **hello})
        replayed = []
        while (frame := await ws.receive_json(timeout=WAIT))["type"] != "ready":
            replayed.append(frame)
        return ws, replayed


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the database is incidental here; history tests run on both


@pytest.fixture
async def chat(aiohttp_client: AiohttpClient, db: Database) -> Chat:
    clock, bus, sink = Clock(), InProcessBus(), RecordingSink()
    config = WebchatConfig(clock=clock, hello_timeout=0.5, replay_batch=2)
    client = await aiohttp_client(webchat_app(db, sink, bus, config))
    site = await new_site(db, SHOP)
    return Chat(client, site, bus, sink, clock)


async def closed_with(ws: ClientWebSocketResponse) -> int | None:
    msg = await ws.receive(timeout=WAIT)
    assert msg.type is WSMsgType.CLOSE, msg
    return ws.close_code


# -- the upgrade and the first frame ---------------------------------------------------


@pytest.mark.parametrize("origin", [None, "https://evil.example", "http://shop.example"])
async def test_the_upgrade_is_refused_for_other_origins(chat: Chat, origin: str | None) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await chat.connect(origin=origin)
    assert refused.value.status == 403


async def test_an_unknown_site_or_a_plain_get_is_no_socket(chat: Chat) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await chat.connect(site_key="wcs_unknown")
    assert refused.value.status == 404
    plain = await chat.client.get(
        "/webchat/ws", params={"site_key": chat.site.site_key}, headers={"Origin": SHOP}
    )
    assert plain.status == 400


@pytest.mark.parametrize(
    "first",
    [
        "hello",
        json.dumps({"type": "message", "client_msg_id": "m1", "text": "hi"}),
        json.dumps({"type": "hello", "last_seen_id": 0}),
        json.dumps({"type": "hello", "token": "forged.token.here", "last_seen_id": 0}),
        json.dumps({"type": "hello", "token": "TOKEN", "last_seen_id": "7"}),
        json.dumps({"type": "hello", "token": "TOKEN", "last_seen_id": -1}),
        json.dumps(["hello", "TOKEN"]),
        '{"type": "hello", "token": "\\ud800", "last_seen_id": 0}',
        '{"type": "hello", "token": "TOKEN", "x": ' + "[" * 30_000 + "]" * 30_000 + "}",
    ],
)
async def test_anything_but_a_valid_hello_first_is_closed_with_4401(chat: Chat, first: str) -> None:
    token, _ = await chat.session()
    ws = await chat.connect()
    await ws.send_str(first.replace("TOKEN", token))
    assert await closed_with(ws) == 4401


async def test_a_binary_first_frame_is_closed_with_4401(chat: Chat) -> None:
    ws = await chat.connect()
    await ws.send_bytes(b"\x00hello")
    assert await closed_with(ws) == 4401


async def test_silence_is_closed_with_4401(chat: Chat) -> None:
    ws = await chat.connect()  # the hub was configured to wait 0.5 s, not 10
    assert await closed_with(ws) == 4401


async def test_an_expired_or_foreign_token_is_closed_with_4401(chat: Chat, db: Database) -> None:
    token, _ = await chat.session()
    chat.clock.advance(TOKEN_TTL.total_seconds() + 1)
    ws = await chat.connect()
    await ws.send_json({"type": "hello", "token": token, "last_seen_id": 0})
    assert await closed_with(ws) == 4401

    other = await new_site(db, SHOP, name="Another shop")
    foreign = issue_token(
        other.token_secret, SessionClaims(other.site_key, "v_x"), clock=chat.clock
    )
    ws = await chat.connect()
    await ws.send_json({"type": "hello", "token": foreign, "last_seen_id": 0})
    assert await closed_with(ws) == 4401


# -- replay ----------------------------------------------------------------------------


@on_both_backends
async def test_the_visitors_history_is_replayed_after_the_last_seen_id(
    chat: Chat, db: Database
) -> None:
    token, visitor = await chat.session()
    ids = await add_history(
        db,
        visitor,
        [
            said_by_visitor("¿Tenéis la zapatilla en 42?", client_msg_id="c-1"),
            said_to_visitor(
                "¿En qué tienda?", buttons=[("Madrid", "store:MAD"), ("Lisboa", "store:LIS")]
            ),
            said_to_visitor("VIP customer, be nice", author=MessageAuthor.AGENT, private=True),
            said_to_visitor("Sí, quedan 3 pares.", author=MessageAuthor.AGENT),
            said_by_visitor("¡Genial!", client_msg_id="c-2"),
            # Too many for quick replies: the outbox numbered them in the text instead.
            said_to_visitor("1. A\n2. B\n…", buttons=[(str(n), str(n)) for n in range(11)]),
        ],
    )
    await add_history(db, "v_someone_else", [said_by_visitor("not yours")])

    _, replayed = await chat.open(token)
    assert [f["id"] for f in replayed] == [ids[0], ids[1], ids[3], ids[4], ids[5]]  # no note
    first, question = replayed[0], replayed[1]
    assert first == {
        "type": "message",
        "id": ids[0],
        "direction": "inbound",
        "author": "customer",
        "text": "¿Tenéis la zapatilla en 42?",
        "buttons": [],
        "created_at": first["created_at"],
        "client_msg_id": "c-1",
    }
    assert first["created_at"].endswith("+00:00")
    assert question["direction"] == "outbound"
    assert question["author"] == "bot"
    assert question["buttons"] == [
        {"title": "Madrid", "payload": "store:MAD"},
        {"title": "Lisboa", "payload": "store:LIS"},
    ]
    assert replayed[2]["author"] == "agent"
    assert replayed[4]["buttons"] == []

    _, resumed = await chat.open(token, last_seen_id=ids[1])
    assert [f["id"] for f in resumed] == [ids[3], ids[4], ids[5]]
    _, up_to_date = await chat.open(token, last_seen_id=ids[5])
    assert up_to_date == []


@on_both_backends
async def test_a_long_history_is_replayed_in_order_in_batches(chat: Chat, db: Database) -> None:
    token, visitor = await chat.session()
    ids = await add_history(db, visitor, [said_to_visitor(f"line {n}") for n in range(7)])
    _, replayed = await chat.open(token)  # batches of 2
    assert [f["id"] for f in replayed] == ids
    assert [f["text"] for f in replayed] == [f"line {n}" for n in range(7)]


# -- the visitor writes ----------------------------------------------------------------


async def test_a_message_reaches_the_router_and_is_acked(chat: Chat) -> None:
    token, visitor = await chat.session()
    ws, _ = await chat.open(token)
    await ws.send_json(
        {"type": "message", "client_msg_id": "m-1", "text": "Hola, ¿dónde está mi pedido?"}
    )
    assert await ws.receive_json(timeout=WAIT) == {"type": "ack", "client_msg_id": "m-1", "id": 1}
    assert chat.sink.inbound == [
        Inbound(
            channel=Channel.WEBCHAT,
            provider_id=f"{visitor}:m-1",
            address=visitor,
            text="Hola, ¿dónde está mi pedido?",
        )
    ]
    echo = await ws.receive_json(timeout=WAIT)  # for the visitor's other tabs
    assert echo["type"] == "message"
    assert (echo["id"], echo["direction"], echo["client_msg_id"]) == (1, "inbound", "m-1")


@on_both_backends
async def test_a_resent_message_is_acked_with_the_same_id_and_accepted_once(chat: Chat) -> None:
    token, _ = await chat.session()
    ws, _ = await chat.open(token)
    frame = {"type": "message", "client_msg_id": "m-1", "text": "hola"}
    await ws.send_json(frame)
    first = await ws.receive_json(timeout=WAIT)
    await ws.close()
    # The ack was lost with the connection: the widget sends it again on the next one.
    again, _ = await chat.open(token, last_seen_id=0)
    await again.send_json(frame)
    frames = [await again.receive_json(timeout=WAIT) for _ in range(2)]
    acks = [f for f in frames if f["type"] == "ack"]
    assert acks == [first]
    assert len(chat.sink.inbound) == 1


async def test_a_chosen_quick_reply_carries_its_payload(chat: Chat) -> None:
    token, visitor = await chat.session()
    ws, _ = await chat.open(token)
    await ws.send_json(
        {"type": "choice", "client_msg_id": "m-2", "payload": "store:MAD", "text": "Madrid"}
    )
    assert (await ws.receive_json(timeout=WAIT))["type"] == "ack"
    (choice,) = chat.sink.inbound
    assert (choice.address, choice.text, choice.payload) == (visitor, "Madrid", "store:MAD")


async def test_a_verified_shop_user_reaches_the_router(chat: Chat) -> None:
    user_hash = identity_hash(chat.site.identity_secret, "C-1001")
    token, _ = await chat.session(user_id="C-1001", user_hash=user_hash)
    ws, _ = await chat.open(token)
    await ws.send_json({"type": "message", "client_msg_id": "m-1", "text": "mi pedido"})
    assert (await ws.receive_json(timeout=WAIT))["type"] == "ack"
    assert chat.sink.inbound[0].shop_customer_id == "C-1001"


BAD_FRAMES = [
    ("{not json", "not_json", None),
    ('"just a string"', "not_json", None),
    (json.dumps({"type": "shout", "client_msg_id": "m-1"}), "unknown_type", None),
    (json.dumps({"type": "hello", "token": "t"}), "unknown_type", None),
    (json.dumps({"type": "message", "text": "no id"}), "missing_client_msg_id", None),
    (
        json.dumps({"type": "message", "client_msg_id": "", "text": "x"}),
        "missing_client_msg_id",
        None,
    ),
    (
        json.dumps({"type": "message", "client_msg_id": "a b", "text": "x"}),
        "bad_client_msg_id",
        None,
    ),
    # Read as a second message beside "abc" before; now refused, as any id that is not
    # letters, digits, - and _ alone.
    *(
        (
            json.dumps({"type": "message", "client_msg_id": bad, "text": "x"}),
            "bad_client_msg_id",
            None,
        )
        for bad in ("abc\n", " abc", "abc\t", "abc\r\n", "abc\u0000", "\u00e1bc")
    ),
    # A lone surrogate is no text: nothing could store it.
    ('{"type": "message", "client_msg_id": "m-1", "text": "\\ud800"}', "bad_text", "m-1"),
    ('{"type": "message", "client_msg_id": "m-1", "text": "a\\udfff b"}', "bad_text", "m-1"),
    (
        '{"type": "choice", "client_msg_id": "m-1", "payload": "\\ud800", "text": "x"}',
        "bad_choice",
        "m-1",
    ),
    # Nor is NUL: PostgreSQL refuses it in text (the router's insert failed: a 1011).
    ('{"type": "message", "client_msg_id": "m-1", "text": "a\\u0000b"}', "bad_text", "m-1"),
    (
        '{"type": "choice", "client_msg_id": "m-1", "payload": "a\\u0000", "text": "x"}',
        "bad_choice",
        "m-1",
    ),
    (
        '{"type": "choice", "client_msg_id": "m-1", "payload": "p", "text": "\\u0000"}',
        "bad_text",
        "m-1",
    ),
    ("[" * 30_000 + "]" * 30_000, "not_json", None),
    ('{"type": "message", "x": ' + "[" * 30_000 + "]" * 30_000 + "}", "not_json", None),
    (
        json.dumps({"type": "message", "client_msg_id": "m-1", "text": "x" * 4001}),
        "too_long",
        "m-1",
    ),
    (json.dumps({"type": "message", "client_msg_id": "m-1", "text": "   "}), "empty", "m-1"),
    (json.dumps({"type": "message", "client_msg_id": "m-1", "text": 5}), "empty", "m-1"),
    (json.dumps({"type": "choice", "client_msg_id": "m-1", "text": "Madrid"}), "bad_choice", "m-1"),
]


@pytest.mark.parametrize(("raw", "code", "client_msg_id"), BAD_FRAMES)
async def test_a_bad_frame_gets_an_error_and_changes_nothing(
    chat: Chat, raw: str, code: str, client_msg_id: str | None
) -> None:
    token, _ = await chat.session()
    ws, _ = await chat.open(token)
    await ws.send_str(raw)
    error = await ws.receive_json(timeout=WAIT)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error.get("client_msg_id") == client_msg_id
    assert error["reason"]
    assert chat.sink.inbound == []
    # The socket stays usable.
    await ws.send_json({"type": "message", "client_msg_id": "ok-1", "text": "4,000 is fine"})
    assert (await ws.receive_json(timeout=WAIT))["type"] == "ack"


@on_both_backends
async def test_a_client_msg_id_with_a_trailing_newline_is_no_second_copy(chat: Chat) -> None:
    token, visitor = await chat.session()
    ws, _ = await chat.open(token)
    await ws.send_json({"type": "message", "client_msg_id": "abc", "text": "hola"})
    assert (await ws.receive_json(timeout=WAIT))["type"] == "ack"
    assert (await ws.receive_json(timeout=WAIT))["type"] == "message"  # the echo
    await ws.send_json({"type": "message", "client_msg_id": "abc\n", "text": "hola"})
    error = await ws.receive_json(timeout=WAIT)
    assert (error["type"], error["code"]) == ("error", "bad_client_msg_id")
    assert [i.provider_id for i in chat.sink.inbound] == [f"{visitor}:abc"]


async def test_errors_speak_the_visitors_language(chat: Chat) -> None:
    token, _ = await chat.session()
    long_text = {"type": "message", "client_msg_id": "m-1", "text": "x" * 4001}
    reasons = {}
    for label, hello, headers in [
        ("es", {"lang": "es"}, {}),
        ("pt", {}, {"Accept-Language": "pt-PT,pt;q=0.9,en;q=0.8"}),
        ("en", {"lang": "fr"}, {"Accept-Language": "de-DE"}),
    ]:
        ws = await chat.connect(**headers)
        await ws.send_json({"type": "hello", "token": token, "last_seen_id": 0, **hello})
        assert (await ws.receive_json(timeout=WAIT))["type"] == "ready"
        await ws.send_json(long_text)
        reasons[label] = (await ws.receive_json(timeout=WAIT))["reason"]
    assert reasons == {
        "es": "Los mensajes pueden tener como máximo 4.000 caracteres.",
        "pt": "As mensagens podem ter no máximo 4.000 caracteres.",
        "en": "Messages can be at most 4,000 characters long.",
    }


async def test_a_text_of_exactly_4000_characters_is_taken(chat: Chat) -> None:
    token, _ = await chat.session()
    ws, _ = await chat.open(token)
    await ws.send_json({"type": "message", "client_msg_id": "m-1", "text": "ñ" * 4000})
    assert (await ws.receive_json(timeout=WAIT))["type"] == "ack"


class FailingSink(RecordingSink):
    async def accept_new(self, inbound: Inbound) -> Accepted:
        raise ConnectionError("database is down")

    async def delivery(self, update: DeliveryUpdate) -> None:
        raise AssertionError


async def test_a_router_failure_closes_the_socket_without_an_ack(
    aiohttp_client: AiohttpClient, db: Database
) -> None:
    site = await new_site(db, SHOP)
    client = await aiohttp_client(webchat_app(db, FailingSink(), InProcessBus()))
    chat = Chat(client, site, InProcessBus(), RecordingSink(), Clock())
    token, _ = await chat.session()
    ws, _ = await chat.open(token)
    await ws.send_json({"type": "message", "client_msg_id": "m-1", "text": "hola"})
    assert await closed_with(ws) == 1011  # the widget reconnects and sends it again


# -- tokens ended by signing in and out ------------------------------------------------


def signed(chat: Chat, user_id: str) -> dict[str, str]:
    return {"user_id": user_id, "user_hash": identity_hash(chat.site.identity_secret, user_id)}


async def refused_at_hello(chat: Chat, token: str) -> bool:
    ws = await chat.connect()
    await ws.send_json({"type": "hello", "token": token, "last_seen_id": 0})
    return await closed_with(ws) == 4401


@on_both_backends
async def test_a_token_ended_by_signing_in_reads_and_writes_nothing(
    aiohttp_client: AiohttpClient, db: Database
) -> None:
    """The finding: an anonymous token copied from a shared browser, the customer signs
    in and later out; the copy must not read their chat nor write as them."""
    sink = StoringSink(db)
    bus, clock = InProcessBus(), Clock()
    client = await aiohttp_client(webchat_app(db, sink, bus, WebchatConfig(clock=clock)))
    chat = Chat(client, await new_site(db, SHOP), bus, RecordingSink(), clock)

    t1, visitor = await chat.session()
    copied, _ = await chat.open(t1)  # the copy, open before the customer signs in
    await copied.send_json({"type": "message", "client_msg_id": "m-0", "text": "hola"})
    assert (await copied.receive_json(timeout=WAIT))["type"] == "ack"
    assert (await copied.receive_json(timeout=WAIT))["type"] == "message"

    t2, same_visitor = await chat.session(token=t1, **signed(chat, "C-1001"))
    assert same_visitor == visitor  # the customer's chat goes on
    assert await closed_with(copied) == 4401  # and the open copy is shut at once
    customer, replayed = await chat.open(t2)
    assert [f["text"] for f in replayed] == ["hola"]
    await customer.send_json(
        {"type": "message", "client_msg_id": "m-1", "text": "¿Dónde está mi pedido 1001?"}
    )
    assert (await customer.receive_json(timeout=WAIT))["type"] == "ack"
    assert (await customer.receive_json(timeout=WAIT))["type"] == "message"  # the echo
    await add_history(
        db, visitor, [said_to_visitor("Tu pedido 1001 llega mañana a Calle Mayor 5.")]
    )

    # The copy cannot read the history, send, or get a session, with or without a hello.
    assert await refused_at_hello(chat, t1)
    response = await client.post(
        "/webchat/session",
        json={"site_key": chat.site.site_key, "token": t1},
        headers={"Origin": SHOP},
    )
    assert response.status == 401
    assert [i.text for i in sink.inbound] == ["hola", "¿Dónde está mi pedido 1001?"]
    assert all(i.shop_customer_id in (None, "C-1001") for i in sink.inbound)

    # The customer signs out: the page gives no identity.
    t3, next_visitor = await chat.session(token=t2)
    assert next_visitor != visitor
    assert await closed_with(customer) == 4401
    assert await refused_at_hello(chat, t2)
    _, nothing = await chat.open(t3)
    assert nothing == []  # none of C-1001's chat


async def test_sockets_of_the_new_token_stay_open_when_the_old_one_ends(chat: Chat) -> None:
    t1, visitor = await chat.session()
    old, _ = await chat.open(t1)
    t2, _ = await chat.session(token=t1, **signed(chat, "C-1001"))
    assert await closed_with(old) == 4401
    new, _ = await chat.open(t2)
    await chat.session(token=t2, **signed(chat, "C-1001"))  # a refresh ends nothing
    await chat.sender.send(Outgoing(9, Channel.WEBCHAT, visitor, "hola"))
    assert (await new.receive_json(timeout=WAIT))["text"] == "hola"


async def test_a_hello_that_raced_the_end_of_its_token_is_closed(chat: Chat) -> None:
    t1, _ = await chat.session()
    original = chat.bus.subscribe

    def subscribe(topic: str) -> Any:
        # Ended after the hello's token was read and before its subscription is live:
        # announced when nobody listened, so only the database can tell.
        chat.bus.subscribe = original  # type: ignore[method-assign]
        subscription = original(topic)
        go_live = subscription.__aenter__

        async def enter() -> LocalSubscription:
            await chat.session(token=t1, **signed(chat, "C-1001"))
            return await go_live()

        subscription.__aenter__ = enter  # type: ignore[method-assign]
        return subscription

    chat.bus.subscribe = subscribe  # type: ignore[method-assign]
    assert await refused_at_hello(chat, t1)


# -- how fast a visitor may write ------------------------------------------------------


@pytest.fixture
async def slow_chat(aiohttp_client: AiohttpClient, db: Database) -> Chat:
    """A hub taking 3 messages per visitor in 10 s and 5 in 10 minutes."""
    clock, bus, sink = Clock(), InProcessBus(), RecordingSink()
    config = WebchatConfig(clock=clock, messages_burst=3, messages_sustained=5)
    client = await aiohttp_client(webchat_app(db, sink, bus, config))
    return Chat(client, await new_site(db, SHOP), bus, sink, clock)


async def send(ws: ClientWebSocketResponse, client_msg_id: str, text: str = "hola") -> Frame:
    """Sends a message; the hub's answer to it (an ack or an error), skipping echoes."""
    await ws.send_json({"type": "message", "client_msg_id": client_msg_id, "text": text})
    while (frame := await ws.receive_json(timeout=WAIT))["type"] == "message":
        pass
    return frame


async def test_past_the_burst_a_message_is_refused_with_when_and_not_stored(
    slow_chat: Chat,
) -> None:
    token, _ = await slow_chat.session()
    ws, _ = await slow_chat.open(token, lang="es")
    assert [(await send(ws, f"m-{n}"))["type"] for n in range(3)] == ["ack"] * 3
    refused_before = REGISTRY.get_sample_value("omnihub_webchat_messages_refused_total") or 0
    refused = await send(ws, "m-3")
    # Counted on /metrics.
    assert REGISTRY.get_sample_value("omnihub_webchat_messages_refused_total") == (
        refused_before + 1
    )
    assert refused == {
        "type": "error",
        "code": "rate_limited",
        "reason": "Estás enviando mensajes demasiado rápido. "
        "Espera un momento y vuelve a enviarlo.",
        "client_msg_id": "m-3",
        "retry_after": 10,
    }
    # Another tab of the same visitor is the same visitor.
    other_tab, _ = await slow_chat.open(token)
    assert (await send(other_tab, "m-4"))["code"] == "rate_limited"
    assert [i.provider_id.split(":")[1] for i in slow_chat.sink.inbound] == ["m-0", "m-1", "m-2"]
    # Someone else is not held up, and the socket stays usable once the window is over.
    someone_else, _ = await slow_chat.open((await slow_chat.session())[0])
    assert (await send(someone_else, "x-1"))["type"] == "ack"
    slow_chat.clock.advance(10)
    assert (await send(ws, "m-3"))["type"] == "ack"


async def test_past_the_sustained_rate_a_visitor_waits_for_the_long_window(
    slow_chat: Chat,
) -> None:
    token, _ = await slow_chat.session()
    ws, _ = await slow_chat.open(token)
    for n in range(3):
        assert (await send(ws, f"m-{n}"))["type"] == "ack"
    refused = await send(ws, "m-3")  # refused by the burst: not counted in the long window
    assert refused["retry_after"] == 10
    slow_chat.clock.advance(10)
    assert (await send(ws, "m-3"))["type"] == "ack"
    assert (await send(ws, "m-4"))["type"] == "ack"
    slow_chat.clock.advance(10)
    refused = await send(ws, "m-5")
    assert (refused["code"], refused["retry_after"]) == ("rate_limited", 600 - 20)
    assert len(slow_chat.sink.inbound) == 5


async def test_limits_of_zero_are_no_limit(aiohttp_client: AiohttpClient, db: Database) -> None:
    config = WebchatConfig(messages_burst=0, messages_sustained=0)
    sink = RecordingSink()
    client = await aiohttp_client(webchat_app(db, sink, InProcessBus(), config))
    chat = Chat(client, await new_site(db, SHOP), InProcessBus(), sink, Clock())
    ws, _ = await chat.open((await chat.session())[0])
    for n in range(WebchatConfig().messages_burst + 1):
        assert (await send(ws, f"m-{n}"))["type"] == "ack"


# -- live frames from the hub ----------------------------------------------------------


async def test_a_reply_sent_through_the_sender_reaches_the_open_widget(chat: Chat) -> None:
    token, visitor = await chat.session()
    ws, _ = await chat.open(token)
    receipt = await chat.sender.send(
        Outgoing(
            message_id=41,
            channel=Channel.WEBCHAT,
            address=visitor,
            text="¿Para qué tienda?",
            buttons=(Button("Madrid", "store:MAD"), Button("Lisboa", "store:LIS")),
        )
    )
    assert (receipt.provider_id, receipt.status) == ("webchat-41", DeliveryStatus.SENT)
    frame = await ws.receive_json(timeout=WAIT)
    assert frame == {
        "type": "message",
        "id": 41,
        "direction": "outbound",
        "author": None,
        "text": "¿Para qué tienda?",
        "buttons": [
            {"title": "Madrid", "payload": "store:MAD"},
            {"title": "Lisboa", "payload": "store:LIS"},
        ],
        "created_at": frame["created_at"],
    }


async def test_typing_is_forwarded_and_other_visitors_hear_nothing(chat: Chat) -> None:
    token, visitor = await chat.session()
    other_token, other = await chat.session()
    ws, _ = await chat.open(token)
    other_ws, _ = await chat.open(other_token)
    await chat.sender.typing(other)
    await chat.sender.send(Outgoing(7, Channel.WEBCHAT, visitor, "Hola"))
    assert (await ws.receive_json(timeout=WAIT))["id"] == 7  # the typing was not for us
    assert await other_ws.receive_json(timeout=WAIT) == {"type": "typing"}


@on_both_backends
async def test_a_live_copy_of_a_replayed_message_is_not_sent_twice(
    chat: Chat, db: Database
) -> None:
    token, visitor = await chat.session()
    (stored,) = await add_history(db, visitor, [said_to_visitor("Ya está en camino.")])
    ws, replayed = await chat.open(token)
    assert [f["id"] for f in replayed] == [stored]
    # The outbox publishes the same message just after the replay read it.
    await chat.sender.send(Outgoing(stored, Channel.WEBCHAT, visitor, "Ya está en camino."))
    await chat.sender.send(Outgoing(stored + 1, Channel.WEBCHAT, visitor, "¿Algo más?"))
    assert (await ws.receive_json(timeout=WAIT))["id"] == stored + 1


@on_both_backends
async def test_the_hub_subscribes_before_it_replays(chat: Chat, db: Database) -> None:
    token, visitor = await chat.session()
    subscribed_before_replay = []
    original = chat.bus.subscribe

    def subscribe(topic: str) -> Any:
        subscription = original(topic)
        subscribed_before_replay.append(chat.bus.subscribers(topic))
        return subscription

    chat.bus.subscribe = subscribe  # type: ignore[method-assign]
    await add_history(db, visitor, [said_to_visitor("hola")])
    await chat.open(token)
    assert subscribed_before_replay == [1]


async def test_the_socket_closes_when_its_subscription_ends(chat: Chat) -> None:
    token, visitor = await chat.session()
    ws, _ = await chat.open(token)
    chat.bus.end(f"webchat.visitor.{visitor}")
    assert await closed_with(ws) == 1013  # try again: the widget reconnects and replays


async def test_dropped_connections_close_as_a_restart(chat: Chat) -> None:
    token, visitor = await chat.session()
    ws, _ = await chat.open(token)
    await drop_connections(chat.client.app)
    assert await closed_with(ws) == 1012
    # The hub lets go of the visitor's topic too.
    await eventually(lambda: chat.bus.subscribers(f"webchat.visitor.{visitor}") == 0)


class StuckBus(InProcessBus):
    """A bus whose subscriptions never go live (Redis unreachable, say)."""

    def subscribe(self, topic: str) -> Any:
        subscription = super().subscribe(topic)
        never = asyncio.Event()

        async def enter() -> LocalSubscription:
            await never.wait()
            return subscription

        subscription.__aenter__ = enter  # type: ignore[method-assign]
        return subscription


class GeneratorBus(InProcessBus):
    """A bus whose subscription is a bare async iterator, with no live point to enter."""

    def subscribe(self, topic: str) -> Any:
        async def frames() -> AsyncIterator[bytes]:
            async with super(GeneratorBus, self).subscribe(topic) as subscription:
                async for data in subscription:
                    yield data

        return frames()


async def test_a_bus_that_cannot_subscribe_closes_the_socket_to_try_again(
    aiohttp_client: AiohttpClient, db: Database
) -> None:
    bus = StuckBus()
    config = WebchatConfig(bus_timeout=0.2)
    client = await aiohttp_client(webchat_app(db, RecordingSink(), bus, config))
    chat = Chat(client, await new_site(db, SHOP), bus, RecordingSink(), Clock())
    token, _ = await chat.session()
    ws = await chat.connect()
    await ws.send_json({"type": "hello", "token": token, "last_seen_id": 0})
    assert await closed_with(ws) == 1013


async def test_a_bus_without_a_live_point_still_relays(
    aiohttp_client: AiohttpClient, db: Database
) -> None:
    bus = GeneratorBus()
    client = await aiohttp_client(webchat_app(db, RecordingSink(), bus))
    chat = Chat(client, await new_site(db, SHOP), bus, RecordingSink(), Clock())
    token, visitor = await chat.session()
    ws, _ = await chat.open(token)
    await chat.sender.send(Outgoing(3, Channel.WEBCHAT, visitor, "hola"))
    assert (await ws.receive_json(timeout=WAIT))["text"] == "hola"
