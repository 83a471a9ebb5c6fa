"""Sending on Telegram, registering the webhook, and the Bot's life with the app.

The real python-telegram-bot Bot talks to the fake Bot API on 127.0.0.1; assertions
are on what the fake received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import nullcontext

import pytest
from aiohttp import ClientSession, web
from pytest_aiohttp.plugin import AiohttpClient
from telegram import Bot
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from adapters.channels.telegram import (
    ALLOWED_UPDATES,
    BOT,
    CAPABILITIES,
    SetWebhookError,
    TelegramSender,
    build_bot,
    sender,
    set_webhook,
    telegram_ctx,
)
from adapters.settings import Settings
from adapters.web.keys import SETTINGS
from crm.models import Channel, DeliveryStatus
from dialogue.messages import Button, Outgoing, SendReceipt
from dialogue.ports import (
    ChannelSender,
    PermanentSendError,
    RecipientUnreachable,
    SendError,
    TransientSendError,
)
from tests.fakes.telegram_api import FakeTelegramApi, User

SECRET = "s3cret_Token-1"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # An inherited proxy variable would send the Bot's calls to 127.0.0.1 elsewhere.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    # PTB 22 warns, when it builds RetryAfter for a 429, that retry_after will become a
    # timedelta unless one opts in; warnings are errors here and the sender reads both.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


def _settings(api: FakeTelegramApi, public_url: str | None = None) -> Settings:
    return Settings(
        TELEGRAM_BOT_TOKEN=api.token,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        OMNIHUB_TELEGRAM_API_URL=api.base_url,
        OMNIHUB_PUBLIC_URL=public_url,
    )


@pytest.fixture
async def bot(api: FakeTelegramApi) -> AsyncIterator[Bot]:
    async with build_bot(_settings(api)) as initialized:
        yield initialized


@pytest.fixture
def ana(api: FakeTelegramApi) -> User:
    return api.add_user("Ana", "García")


def _outgoing(user: User, text: str = "Hola", *buttons: Button) -> Outgoing:
    return Outgoing(7, Channel.TELEGRAM, str(user.id), text, tuple(buttons))


# --- sending ---------------------------------------------------------------------------


async def test_the_sender_is_a_channel_sender_for_telegram(bot: Bot) -> None:
    telegram: ChannelSender = sender(bot)
    assert telegram.channel is Channel.TELEGRAM
    assert telegram.capabilities == CAPABILITIES
    assert (CAPABILITIES.max_buttons, CAPABILITIES.max_length, CAPABILITIES.typing) == (
        8,
        4096,
        True,
    )


async def test_text_is_sent_to_the_users_chat(bot: Bot, api: FakeTelegramApi, ana: User) -> None:
    receipt = await sender(bot).send(_outgoing(ana, "Tu pedido 100234 sale hoy 📦"))
    [call] = api.calls_to("sendMessage")
    assert call.params == {"chat_id": ana.id, "text": "Tu pedido 100234 sale hoy 📦"}
    assert receipt == SendReceipt(str(api.sent[0]["message_id"]), DeliveryStatus.SENT)


async def test_buttons_become_an_inline_keyboard(bot: Bot, api: FakeTelegramApi, ana: User) -> None:
    buttons = [Button("Estado de mi pedido", "intent:order_status"), Button("Tiendas", "stores")]
    await sender(bot).send(_outgoing(ana, "¿En qué te ayudo?", *buttons))
    [call] = api.calls_to("sendMessage")
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Estado de mi pedido", "callback_data": "intent:order_status"}],
            [{"text": "Tiendas", "callback_data": "stores"}],
        ]
    }


@pytest.mark.parametrize("payload", ["ñ" * 33, "x" * 65, ""])
async def test_a_payload_telegram_cannot_carry_is_refused_before_sending(
    bot: Bot, api: FakeTelegramApi, ana: User, payload: str
) -> None:
    with pytest.raises(PermanentSendError, match="bytes"):
        await sender(bot).send(_outgoing(ana, "Elige", Button("A", "ok"), Button("B", payload)))
    assert api.calls_to("sendMessage") == []


async def test_a_payload_of_exactly_64_bytes_goes(
    bot: Bot, api: FakeTelegramApi, ana: User
) -> None:
    payload = "ñ" * 32
    await sender(bot).send(_outgoing(ana, "Elige", Button("A", payload)))
    [call] = api.calls_to("sendMessage")
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == payload


async def test_an_address_that_is_not_a_telegram_id_is_refused(
    bot: Bot, api: FakeTelegramApi
) -> None:
    message = Outgoing(7, Channel.TELEGRAM, "+34612345678", "Hola")
    with pytest.raises(PermanentSendError, match="not a Telegram user id"):
        await sender(bot).send(message)
    assert api.calls_to("sendMessage") == []


async def test_typing_is_shown_in_the_users_chat(bot: Bot, api: FakeTelegramApi, ana: User) -> None:
    await sender(bot).typing(str(ana.id))
    assert [c.params for c in api.calls_to("sendChatAction")] == [
        {"chat_id": ana.id, "action": "typing"}
    ]


def _blocked(api: FakeTelegramApi) -> None:
    api.block_next_send()


def _rate_limited(api: FakeTelegramApi) -> None:
    api.rate_limit_next_send(retry_after=7)


def _rejected(api: FakeTelegramApi) -> None:
    api.reject_next_send("message is too long")


def _server_error(api: FakeTelegramApi) -> None:
    api.fail_next("sendMessage", 502, "Bad Gateway")


@pytest.mark.parametrize(
    ("fail", "error", "cause", "code"),
    [
        (_blocked, RecipientUnreachable, Forbidden, "403"),
        (_rate_limited, TransientSendError, RetryAfter, "429"),
        (_rejected, PermanentSendError, BadRequest, "400"),
        (_server_error, TransientSendError, NetworkError, None),
    ],
    ids=["403-blocked", "429-rate-limited", "400-rejected", "502"],
)
async def test_provider_errors_become_send_errors(
    bot: Bot,
    api: FakeTelegramApi,
    ana: User,
    fail: Callable[[FakeTelegramApi], None],
    error: type[SendError],
    cause: type[Exception],
    code: str | None,
) -> None:
    fail(api)
    with pytest.raises(SendError) as raised:
        await sender(bot).send(_outgoing(ana))
    assert type(raised.value) is error
    assert isinstance(raised.value.__cause__, cause)
    assert raised.value.code == code
    # Only that one call failed: the next send goes through.
    await sender(bot).send(_outgoing(ana))
    assert len(api.sent) == 1


@pytest.mark.parametrize("timedelta_mode", ["true", "false"])
async def test_a_rate_limit_says_when_to_retry(
    bot: Bot, api: FakeTelegramApi, ana: User, monkeypatch: pytest.MonkeyPatch, timedelta_mode: str
) -> None:
    # PTB 22 gives retry_after as int seconds (warning that it will change) or, opted
    # in, as a timedelta; the sender reads both.
    monkeypatch.setenv("PTB_TIMEDELTA", timedelta_mode)
    api.rate_limit_next_send(retry_after=7)
    warns = pytest.warns(PTBDeprecationWarning) if timedelta_mode == "false" else nullcontext()
    with warns, pytest.raises(TransientSendError) as raised:
        await sender(bot).send(_outgoing(ana))
    assert raised.value.retry_after == 7.0


async def test_a_blocked_bot_is_unreachable_and_says_so(
    bot: Bot, api: FakeTelegramApi, ana: User
) -> None:
    api.block_next_send()
    with pytest.raises(RecipientUnreachable, match="blocked by the user"):
        await sender(bot).send(_outgoing(ana))


async def test_a_user_who_never_started_the_bot_is_a_permanent_error(bot: Bot) -> None:
    with pytest.raises(PermanentSendError, match="Chat not found"):
        await sender(bot).send(Outgoing(7, Channel.TELEGRAM, "999", "Hola"))


async def test_a_timeout_is_transient(api: FakeTelegramApi, ana: User) -> None:
    api.stall("sendMessage")
    slow = Bot(
        api.token,
        base_url=f"{api.base_url}/bot",
        base_file_url=f"{api.base_url}/file/bot",
        request=HTTPXRequest(read_timeout=0.2),
    )
    async with slow:
        with pytest.raises(TransientSendError) as raised:
            await TelegramSender(slow).send(_outgoing(ana))
    assert isinstance(raised.value.__cause__, TimedOut)


async def test_an_unreachable_api_is_transient(api: FakeTelegramApi, ana: User) -> None:
    async with build_bot(_settings(api)) as bot:
        await api.close()  # Telegram went away after the start
        with pytest.raises(TransientSendError) as raised:
            await sender(bot).send(_outgoing(ana))
    assert isinstance(raised.value.__cause__, NetworkError)


# --- registering the webhook -------------------------------------------------------------


async def test_set_webhook_registers_the_url_secret_and_updates(api: FakeTelegramApi) -> None:
    settings = _settings(api, "https://hub.example.com")
    url = await set_webhook(settings)
    assert url == "https://hub.example.com/webhooks/telegram"
    [call] = api.calls_to("setWebhook")
    assert call.params == {
        "url": url,
        "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"],
    }
    assert list(ALLOWED_UPDATES) == api.webhook.allowed_updates
    assert (api.webhook.url, api.webhook.secret_token) == (url, SECRET)


@pytest.mark.parametrize("port", [443, 80, 88, 8443])
async def test_set_webhook_accepts_the_ports_telegram_calls(
    api: FakeTelegramApi, port: int
) -> None:
    settings = _settings(api, f"https://hub.example.com:{port}/omnihub")
    url = await set_webhook(settings)
    assert url.endswith("/omnihub/webhooks/telegram")
    assert api.webhook.url == url


async def test_set_webhook_refuses_a_port_telegram_does_not_call(api: FakeTelegramApi) -> None:
    settings = _settings(api, "https://hub.example.com:8080")
    with pytest.raises(SetWebhookError, match="port 8080") as raised:
        await set_webhook(settings)
    assert "443, 80, 88, 8443" in str(raised.value)
    assert api.calls == []


async def test_set_webhook_refuses_the_default_local_address(api: FakeTelegramApi) -> None:
    with pytest.raises(SetWebhookError, match="port 8080"):
        await set_webhook(_settings(api))  # http://127.0.0.1:8080 when no public URL is set
    assert api.calls == []


async def test_set_webhook_refuses_plain_http(api: FakeTelegramApi) -> None:
    with pytest.raises(SetWebhookError, match="HTTPS"):
        await set_webhook(_settings(api, "http://hub.example.com"))
    assert api.calls == []


async def test_set_webhook_needs_the_channel_on(api: FakeTelegramApi) -> None:
    settings = Settings(
        TELEGRAM_BOT_TOKEN=api.token,
        OMNIHUB_TELEGRAM_API_URL=api.base_url,
        OMNIHUB_PUBLIC_URL="https://hub.example.com",
    )
    with pytest.raises(SetWebhookError, match="TELEGRAM_WEBHOOK_SECRET"):
        await set_webhook(settings)
    assert api.calls == []


async def test_set_webhook_reports_a_token_telegram_refuses(api: FakeTelegramApi) -> None:
    settings = Settings(
        TELEGRAM_BOT_TOKEN="999:not-the-token",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        OMNIHUB_TELEGRAM_API_URL=api.base_url,
        OMNIHUB_PUBLIC_URL="https://hub.example.com",
    )
    with pytest.raises(SetWebhookError, match="rejected"):
        await set_webhook(settings)
    assert api.calls == []  # the fake answered 401 before reading any method


# --- the Bot's life with the app -----------------------------------------------------------


async def test_the_bot_is_opened_and_closed_with_the_app(
    aiohttp_client: AiohttpClient, api: FakeTelegramApi
) -> None:
    app = web.Application()
    app[SETTINGS] = _settings(api)
    app.cleanup_ctx.append(telegram_ctx)
    client = await aiohttp_client(app)
    bot = client.app[BOT]
    assert [c.method for c in api.calls] == ["getMe"]
    assert bot.username == "omnihub_test_bot"
    await client.close()
    with pytest.raises(NetworkError, match="not initialized"):
        await bot.get_me()


async def test_a_wrong_token_stops_the_start(api: FakeTelegramApi) -> None:
    app = web.Application()
    app[SETTINGS] = Settings(
        TELEGRAM_BOT_TOKEN="999:not-the-token",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        OMNIHUB_TELEGRAM_API_URL=api.base_url,
    )
    app.cleanup_ctx.append(telegram_ctx)
    runner = web.AppRunner(app)
    with pytest.raises(InvalidToken, match="rejected"):
        await runner.setup()
    await runner.cleanup()


# --- the fake itself speaks the Bot API ---------------------------------------------------


async def test_the_fake_answers_like_the_bot_api(api: FakeTelegramApi) -> None:
    async with ClientSession() as http:
        unknown = await http.post(f"{api.base_url}/bot999:nope/getMe")
        assert unknown.status == 401
        assert await unknown.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
        garbled = await http.post(f"{api.base_url}/botgarbage/getMe")
        assert garbled.status == 404
        no_method = await http.post(f"{api.base_url}/bot{api.token}/sendPigeon")
        assert (no_method.status, (await no_method.json())["description"]) == (404, "Not Found")
        info = await http.get(f"{api.base_url}/bot{api.token}/getWebhookInfo")
        assert await info.json() == {
            "ok": True,
            "result": {"url": "", "has_custom_certificate": False, "pending_update_count": 0},
        }
        as_json = await http.post(
            f"{api.base_url}/bot{api.token}/setWebhook",
            json={"url": "https://hub.example.com/hook", "allowed_updates": ["message"]},
        )
        assert await as_json.json() == {"ok": True, "result": True}
        assert api.webhook.allowed_updates == ["message"]


async def test_the_fake_waits_for_calls_that_arrive_later(
    bot: Bot, api: FakeTelegramApi, ana: User
) -> None:
    sending = asyncio.create_task(sender(bot).send(_outgoing(ana, "Enseguida")))
    [call] = await api.wait_for("sendMessage")
    assert call.params["text"] == "Enseguida"
    await sending
    with pytest.raises(TimeoutError):
        await api.wait_for("sendMessage", 2, within=0.05)
