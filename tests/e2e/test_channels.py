"""End to end in one process: provider webhook in, router, reply out at the fake provider.

The hub is the real app (create_app), with the real Twilio and Telegram adapters and
libraries talking to the fake providers on 127.0.0.1; only the responder is the test
one, standing in for the chatbot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient
from sqlalchemy import func, select

from adapters.settings import Settings
from adapters.web.app import create_app
from crm.db import Database
from crm.models import (
    Channel,
    Consent,
    Conversation,
    Customer,
    DeliveryStatus,
    Message,
    MessageDirection,
)
from crm.services.webchat import create_webchat_site
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.twilio_api import OPTED_OUT, FakeTwilioApi, inbound_form, signed_webhook
from tests.polling import eventually
from tests.router.doubles import EchoResponder

PUBLIC = "https://hub.example.com"
SMS_FROM = "+14155550100"
WHATSAPP_FROM = "+14155550111"
ANA = "+34612345678"
SECRET = "telegram-webhook-secret"

Client = TestClient[web.Request, web.Application]


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@dataclass
class Providers:
    twilio: FakeTwilioApi
    telegram: FakeTelegramApi
    hub: Client
    db: Database

    async def sms(self, body: str, *, sid: str, phone: str = ANA, whatsapp: bool = False) -> int:
        prefix = "whatsapp:" if whatsapp else ""
        form = inbound_form(
            from_=prefix + phone,
            to=prefix + (WHATSAPP_FROM if whatsapp else SMS_FROM),
            body=body,
            sid=sid,
        )
        request = signed_webhook(PUBLIC + "/webhooks/twilio", form)
        response = await self.hub.post(
            "/webhooks/twilio", data=request.form, headers=request.headers
        )
        await response.read()
        return response.status


@pytest.fixture
async def providers(
    aiohttp_client: AiohttpClient, database_url: str, db: Database
) -> AsyncIterator[Providers]:
    async with (
        FakeTwilioApi(numbers=[SMS_FROM, WHATSAPP_FROM]) as twilio_api,
        FakeTelegramApi() as telegram_api,
    ):
        settings = Settings(
            **twilio_api.environment(),
            TWILIO_SMS_FROM=SMS_FROM,
            TWILIO_WHATSAPP_FROM=WHATSAPP_FROM,
            TELEGRAM_BOT_TOKEN=telegram_api.token,
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            OMNIHUB_TELEGRAM_API_URL=telegram_api.base_url,
            OMNIHUB_PUBLIC_URL=PUBLIC,
            OMNIHUB_DATABASE_URL=database_url,
        )
        client = await aiohttp_client(create_app(settings, responder=EchoResponder()))
        twilio_api.forward(PUBLIC, str(client.make_url("")))
        yield Providers(twilio_api, telegram_api, client, db)


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_an_sms_is_answered_by_sms_and_its_delivery_recorded(providers: Providers) -> None:
    assert await providers.sms("hola", sid="SM" + "1" * 32) == 200

    await eventually(lambda: len(providers.twilio.messages) == 1)
    (reply,) = providers.twilio.messages
    assert (reply.to, reply.from_, reply.body) == (ANA, SMS_FROM, "echo: hola")
    assert reply.status_callback == PUBLIC + "/webhooks/twilio/status"

    assert await providers.twilio.deliver(reply.sid) == 200
    async with providers.db.transaction() as s:
        stored = await s.scalar(select(Message).where(Message.provider_message_id == reply.sid))
    assert stored is not None
    assert stored.delivery_status is DeliveryStatus.DELIVERED


async def test_whatsapp_from_the_same_phone_continues_the_same_conversation(
    providers: Providers,
) -> None:
    await providers.sms("hola", sid="SM" + "1" * 32)
    await eventually(lambda: len(providers.twilio.messages) == 1)
    await providers.sms("sigo por whatsapp", sid="SM" + "2" * 32, whatsapp=True)

    await eventually(lambda: len(providers.twilio.messages) == 2)
    reply = providers.twilio.messages[1]
    assert (reply.to, reply.body) == (f"whatsapp:{ANA}", "echo: sigo por whatsapp")
    assert await _count(providers.db, Customer) == 1
    assert await _count(providers.db, Conversation) == 1


async def test_a_provider_retry_is_answered_once(providers: Providers) -> None:
    for _ in range(3):
        assert await providers.sms("hola", sid="SM" + "3" * 32) == 200
    await eventually(lambda: len(providers.twilio.messages) >= 1)
    await providers.sms("ya", sid="SM" + "4" * 32)
    await eventually(lambda: len(providers.twilio.messages) >= 2)

    assert [m.body for m in providers.twilio.messages] == ["echo: hola", "echo: ya"]


async def test_a_forged_webhook_is_refused_and_stores_nothing(providers: Providers) -> None:
    form = inbound_form(from_=ANA, to=SMS_FROM, body="hola")
    request = signed_webhook(PUBLIC + "/webhooks/twilio", form, auth_token="not-the-token")
    response = await providers.hub.post(
        "/webhooks/twilio", data=request.form, headers=request.headers
    )

    assert response.status == 403
    assert "error" in await response.json()
    assert await _count(providers.db, Message) == 0
    assert await _count(providers.db, Customer) == 0


async def test_telegram_text_and_inline_choices(providers: Providers) -> None:
    telegram_api = providers.telegram
    ana = telegram_api.add_user("Ana", "García")
    webhook = providers.hub.make_url("/webhooks/telegram")

    assert (
        await telegram_api.deliver(webhook, telegram_api.text_update(ana, "menu"), secret=SECRET)
        == 200
    )
    (offer,) = await telegram_api.wait_for("sendMessage")
    keyboard = offer.params["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["order_status", "store_info"]

    press = telegram_api.callback_update(ana, "store_info")
    assert await telegram_api.deliver(webhook, press, secret=SECRET) == 200
    _, answer = await telegram_api.wait_for("sendMessage", 2)
    assert answer.params["text"] == "chose: store_info"
    assert await telegram_api.wait_for("answerCallbackQuery")


async def test_telegram_with_a_wrong_secret_is_refused(providers: Providers) -> None:
    telegram_api = providers.telegram
    ana = telegram_api.add_user("Ana")
    status = await telegram_api.deliver(
        providers.hub.make_url("/webhooks/telegram"),
        telegram_api.text_update(ana, "hola"),
        secret="wrong",
    )
    assert status == 403
    assert await _count(providers.db, Message) == 0


async def test_telegram_text_the_database_cannot_hold_is_skipped_and_stores_nothing(
    providers: Providers,
) -> None:
    # PostgreSQL refuses a lone surrogate and NUL in text: storing them was a 500,
    # which Telegram redelivers. They are acknowledged and skipped.
    telegram_api = providers.telegram
    ana = telegram_api.add_user("Ana", "García")
    webhook = providers.hub.make_url("/webhooks/telegram")
    for text in ("hola \ud800", "hola \x00", "\udfff"):
        update = telegram_api.text_update(ana, text)
        assert await telegram_api.deliver(webhook, update, secret=SECRET) == 200
    odd_name = telegram_api.text_update(ana, "hola")
    odd_name["message"]["from"]["first_name"] = 123
    assert await telegram_api.deliver(webhook, odd_name, secret=SECRET) == 200
    assert await _count(providers.db, Message) == 0
    assert await _count(providers.db, Customer) == 0

    hello = telegram_api.text_update(ana, "hola")
    assert await telegram_api.deliver(webhook, hello, secret=SECRET) == 200
    (reply,) = await telegram_api.wait_for("sendMessage")
    assert reply.params["text"] == "echo: hola"


async def test_an_sms_with_a_nul_is_refused_and_stores_nothing(providers: Providers) -> None:
    assert await providers.sms("hola \x00", sid="SM" + "6" * 32) == 400
    assert await _count(providers.db, Message) == 0
    assert await _count(providers.db, Customer) == 0


async def test_an_sms_reply_to_someone_who_sent_stop_records_the_opt_out(
    providers: Providers,
) -> None:
    providers.twilio.fail_next(OPTED_OUT)
    await providers.sms("hola", sid="SM" + "5" * 32)

    async def failed() -> bool:
        async with providers.db.transaction() as s:
            status = await s.scalar(
                select(Message.delivery_status).where(
                    Message.direction == MessageDirection.OUTBOUND
                )
            )
        return status is DeliveryStatus.FAILED

    await eventually(failed)
    async with providers.db.transaction() as s:
        consent = await s.scalar(select(Consent))
    assert consent is not None
    assert (consent.channel, consent.granted) == (Channel.SMS, False)


async def test_a_web_chat_message_is_answered_on_the_widgets_socket(providers: Providers) -> None:
    shop = "https://shop.example"
    async with providers.db.transaction() as s:
        site = await create_webchat_site(s, "Shop", [shop])
    started = await providers.hub.post(
        "/webchat/session", json={"site_key": site.site_key}, headers={"Origin": shop}
    )
    assert started.status == 200
    token = (await started.json())["token"]

    ws = await providers.hub.ws_connect(
        f"/webchat/ws?site_key={site.site_key}", headers={"Origin": shop}
    )
    await ws.send_json({"type": "hello", "token": token, "last_seen_id": 0})
    await ws.send_json({"type": "message", "client_msg_id": "c1", "text": "menu"})
    frames: list[dict[str, object]] = []
    async with asyncio.timeout(10):
        while not any(f.get("direction") == "outbound" for f in frames):
            frames.append(await ws.receive_json())
    await ws.close()

    reply = next(f for f in frames if f.get("direction") == "outbound")
    assert reply["text"] == "What can I do for you?"
    assert [b["payload"] for b in reply["buttons"]] == ["order_status", "store_info"]  # type: ignore[index, union-attr]
    assert any(f.get("type") == "ack" and f.get("client_msg_id") == "c1" for f in frames)
