"""POST /webhooks/telegram: recorded updates in, Inbound messages (or nothing) out.

A real aiohttp server runs the webhook with a RecordingSink as the router, and the
real python-telegram-bot Bot talks to the fake Bot API on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient

from adapters.channels.telegram import (
    BOT,
    SECRET_HEADER,
    WEBHOOK_PATH,
    TelegramSender,
    add_routes,
    telegram_ctx,
)
from adapters.settings import Settings
from adapters.web.errors import json_errors
from adapters.web.keys import INBOUND, SETTINGS
from crm.models import Channel
from dialogue.messages import Button, Inbound, Outgoing
from tests.channels.sink import RecordingSink
from tests.fakes.telegram_api import FakeTelegramApi

FIXTURES = Path(__file__).parent.parent / "fixtures" / "telegram"
SECRET = "s3cret_Token-1"
ANA = "5123456789"

Client = TestClient[web.Request, web.Application]


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # An inherited proxy variable would send the Bot's calls to 127.0.0.1 elsewhere.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


@pytest.fixture
def settings(api: FakeTelegramApi) -> Settings:
    return Settings(
        TELEGRAM_BOT_TOKEN=api.token,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        OMNIHUB_TELEGRAM_API_URL=api.base_url,
    )


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def _app(settings: Settings, sink: RecordingSink) -> web.Application:
    app = web.Application(middlewares=[json_errors])
    app[SETTINGS] = settings
    app[INBOUND] = sink
    app.cleanup_ctx.append(telegram_ctx)
    add_routes(app)
    return app


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, settings: Settings, sink: RecordingSink) -> Client:
    return await aiohttp_client(_app(settings, sink))


async def _post(client: Client, update: Any, *, secret: str | None = SECRET) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    response = await client.post(WEBHOOK_PATH, json=update, headers=headers)
    await response.read()
    return response.status


# --- what the hub handles -----------------------------------------------------------


async def test_a_text_message_reaches_the_router(client: Client, sink: RecordingSink) -> None:
    assert await _post(client, _fixture("text_message.json")) == 200
    assert sink.inbound == [
        Inbound(
            channel=Channel.TELEGRAM,
            provider_id="731204511",
            address=ANA,
            text="Hola, ¿dónde está mi pedido 100234?",
            display_name="Ana García",
            sent_at=datetime(2025, 11, 22, 8, 47, 14, tzinfo=UTC),
        )
    ]


async def test_a_photo_caption_is_read_as_text(client: Client, sink: RecordingSink) -> None:
    assert await _post(client, _fixture("photo_with_caption.json")) == 200
    [inbound] = sink.inbound
    assert inbound.text == "O ténis chegou com defeito"
    assert (inbound.address, inbound.display_name) == ("6987654321", "João")


async def test_a_user_without_a_name_is_shown_by_username(
    client: Client, sink: RecordingSink
) -> None:
    assert await _post(client, _fixture("username_only.json")) == 200
    [inbound] = sink.inbound
    assert (inbound.text, inbound.display_name) == ("/start", "runner_88")


async def test_a_button_press_carries_its_payload_and_title_and_is_answered(
    client: Client, sink: RecordingSink, api: FakeTelegramApi
) -> None:
    assert await _post(client, _fixture("callback_query.json")) == 200
    [inbound] = sink.inbound
    assert inbound.payload == "intent:order_status"
    assert inbound.text == "Estado de mi pedido"
    assert (inbound.provider_id, inbound.address) == ("731204512", ANA)
    assert [c.params for c in api.calls_to("answerCallbackQuery")] == [
        {"callback_query_id": "2200394571837462213"}
    ]


async def test_a_press_on_an_old_message_falls_back_to_the_payload(
    client: Client, sink: RecordingSink, api: FakeTelegramApi
) -> None:
    assert await _post(client, _fixture("callback_query_inaccessible_message.json")) == 200
    [inbound] = sink.inbound
    assert inbound.text == inbound.payload == "store:madrid-gran-via"
    assert api.answered_callbacks == ["2200394571837462299"]


async def test_the_users_own_contact_vouches_for_the_phone_in_e164(
    client: Client, sink: RecordingSink
) -> None:
    update = _fixture("contact_own.json")
    assert update["message"]["contact"]["phone_number"] == "34612345678"  # no "+"
    assert await _post(client, update) == 200
    [inbound] = sink.inbound
    assert inbound.vouched_phone == "+34612345678"
    assert inbound.address == ANA


@pytest.mark.parametrize("name", ["contact_someone_else.json", "contact_without_user.json"])
async def test_someone_elses_contact_vouches_for_nothing(
    client: Client, sink: RecordingSink, name: str
) -> None:
    update = _fixture(name)
    phone = update["message"]["contact"]["phone_number"]
    assert await _post(client, update) == 200
    [inbound] = sink.inbound
    assert inbound.vouched_phone is None
    assert inbound.address == ANA  # still the sender, never the card's owner
    assert inbound.text == phone


@pytest.mark.parametrize(
    "name",
    [
        "edited_message.json",
        "group_message.json",
        "channel_post.json",
        "sticker.json",
        "bot_blocked.json",
    ],
)
async def test_updates_the_hub_does_not_handle_get_200_and_are_dropped(
    client: Client, sink: RecordingSink, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    update = _fixture(name)
    with caplog.at_level(logging.DEBUG, logger="adapters.channels.telegram"):
        assert await _post(client, update) == 200
    assert sink.inbound == []
    assert any(str(update["update_id"]) in r.getMessage() for r in caplog.records)


async def test_a_redelivered_update_reaches_the_router_once(
    client: Client, sink: RecordingSink
) -> None:
    update = _fixture("text_message.json")
    assert await _post(client, update) == 200
    assert await _post(client, update) == 200
    assert [i.provider_id for i in sink.inbound] == ["731204511"]


async def test_a_redelivered_press_still_gets_200_when_telegram_refuses_a_second_answer(
    client: Client, sink: RecordingSink, api: FakeTelegramApi, caplog: pytest.LogCaptureFixture
) -> None:
    update = _fixture("callback_query.json")
    assert await _post(client, update) == 200
    with caplog.at_level(logging.WARNING, logger="adapters.channels.telegram"):
        assert await _post(client, update) == 200
    assert len(sink.inbound) == 1
    assert len(api.calls_to("answerCallbackQuery")) == 2
    assert "Query is too old" in caplog.text


# --- what gets refused ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "status"),
    [(None, 403), ("wrong", 403), (SECRET + "x", 403), (SECRET[:-1], 403), ("", 403)],
)
async def test_a_missing_or_wrong_secret_is_refused(
    client: Client, sink: RecordingSink, api: FakeTelegramApi, secret: str | None, status: int
) -> None:
    assert await _post(client, _fixture("callback_query.json"), secret=secret) == status
    assert sink.inbound == []
    assert api.calls_to("answerCallbackQuery") == []


async def test_a_body_that_is_not_json_is_refused(client: Client, sink: RecordingSink) -> None:
    body = (FIXTURES / "malformed" / "form_encoded.txt").read_bytes()
    form = await client.post(
        WEBHOOK_PATH,
        data=body,
        headers={SECRET_HEADER: SECRET, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status == 415
    assert "application/json" in (await form.json())["error"]
    broken = await client.post(
        WEBHOOK_PATH,
        data=(FIXTURES / "malformed" / "truncated.json").read_bytes(),
        headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
    )
    assert broken.status == 400
    assert (await broken.json())["error"] == "the body is not JSON"
    assert sink.inbound == []


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in (FIXTURES / "malformed").glob("*.json") if p.name != "truncated.json"),
)
async def test_json_that_is_not_an_update_is_refused(
    client: Client, sink: RecordingSink, api: FakeTelegramApi, name: str
) -> None:
    response = await client.post(
        WEBHOOK_PATH,
        data=(FIXTURES / "malformed" / name).read_bytes(),
        headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
    )
    assert response.status == 400
    assert (await response.json())["error"].startswith("not a Telegram update")
    assert sink.inbound == []
    assert api.calls_to("answerCallbackQuery") == []


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "unreadable").glob("*.json")))
async def test_an_update_the_hub_cannot_read_is_acknowledged_skipped_and_logged_without_content(
    client: Client,
    sink: RecordingSink,
    api: FakeTelegramApi,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    # It comes from Telegram (the secret holds), which redelivers anything but a 2xx.
    body = (FIXTURES / "unreadable" / name).read_bytes()
    with caplog.at_level(logging.WARNING, logger="adapters.channels.telegram"):
        response = await client.post(
            WEBHOOK_PATH,
            data=body,
            headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
        )
        assert response.status == 200
    assert sink.inbound == []
    assert api.calls_to("answerCallbackQuery") == []
    update_id = str(json.loads(body)["update_id"])
    [record] = [r for r in caplog.records if update_id in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert not {"Hola", "Ana", "García", "intent:", "123"} & set(record.getMessage().split())
    assert "Hola" not in caplog.text


def _nested(depth: int) -> bytes:
    return b'{"update_id": 731204550, "message": {"x": ' + b"[" * depth + b"]" * depth + b"}}"


def _replies(depth: int) -> bytes:
    """A message replying to a message replying to... `depth` times."""
    message = _fixture("text_message.json")["message"]
    text = json.dumps(message)
    chain = (text[:-1] + ', "reply_to_message": ') * depth + text + "}" * depth
    return b'{"update_id": 731204551, "message": ' + chain.encode() + b"}"


@pytest.mark.parametrize("body", [_nested(100_000), _replies(800)], ids=["arrays", "replies"])
async def test_an_update_nested_too_deep_is_acknowledged_and_skipped(
    client: Client, sink: RecordingSink, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.channels.telegram"):
        response = await client.post(
            WEBHOOK_PATH,
            data=body,
            headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
        )
        assert response.status == 200
    assert sink.inbound == []
    assert "skipped" in caplog.text


async def test_the_webhook_is_off_without_telegram_credentials(
    aiohttp_client: AiohttpClient, sink: RecordingSink, api: FakeTelegramApi
) -> None:
    client = await aiohttp_client(_app(Settings(OMNIHUB_TELEGRAM_API_URL=api.base_url), sink))
    assert BOT not in client.app
    response = await client.post(
        WEBHOOK_PATH, json=_fixture("text_message.json"), headers={SECRET_HEADER: SECRET}
    )
    assert response.status == 404
    assert (await response.json())["error"] == "the Telegram channel is off"
    assert sink.inbound == []
    assert api.calls == []  # the Bot was never even built


async def test_a_router_failure_is_a_500_so_telegram_redelivers(
    aiohttp_client: AiohttpClient, settings: Settings, api: FakeTelegramApi
) -> None:
    class BrokenSink(RecordingSink):
        async def receive(self, inbound: Inbound) -> None:
            raise RuntimeError("database is down")

    client = await aiohttp_client(_app(settings, BrokenSink()))
    assert await _post(client, _fixture("callback_query.json")) == 500
    # Not stored, so the button is not answered either: the redelivery will be.
    assert api.calls_to("answerCallbackQuery") == []


# --- the whole round, as Telegram plays it ------------------------------------------------


async def test_a_customer_presses_a_button_the_hub_sent(
    client: Client, sink: RecordingSink, api: FakeTelegramApi
) -> None:
    """Telegram (the fake) pushes updates; the hub's reply keyboard comes back as a press."""
    url = client.make_url(WEBHOOK_PATH)
    ana = api.add_user("Ana", "García", username="anagarcia")
    assert await api.deliver(url, api.text_update(ana, "hola"), secret=SECRET) == 200

    sender = TelegramSender(client.app[BOT])
    buttons = (Button("Recoger en tienda", "reserve:pickup"), Button("Envío", "reserve:ship"))
    await sender.send(Outgoing(1, Channel.TELEGRAM, str(ana.id), "¿Cómo lo quieres?", buttons))

    assert await api.deliver(url, api.callback_update(ana, "reserve:ship"), secret=SECRET) == 200
    assert (
        await api.deliver(
            url, api.contact_update(ana, "34612345678", contact_user_id=ana.id), secret=SECRET
        )
        == 200
    )

    hello, press, contact = sink.inbound
    assert (hello.text, hello.address, hello.display_name) == ("hola", str(ana.id), "Ana García")
    assert (press.text, press.payload) == ("Envío", "reserve:ship")
    assert contact.vouched_phone == "+34612345678"
    assert len(api.answered_callbacks) == 1
    assert len({int(i.provider_id) for i in sink.inbound}) == 3
