"""The simulated provider APIs answer as the real ones do, and hand the hub demo credentials."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, InvalidToken
from twilio.rest import Client  # type: ignore[import-untyped]

from adapters.channels.twilio._http import TwilioAiohttpClient
from adapters.settings import Settings
from adapters.simulator import SimulatedProviders, start_simulated_providers
from adapters.simulator.providers import SMS_FROM, WHATSAPP_FROM
from crm.models import Channel

PUBLIC = "https://hub.solymar.example"
# Nothing listens here: these tests never get as far as posting to the hub.
HUB = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def providers() -> AsyncIterator[SimulatedProviders]:
    providers = await start_simulated_providers(PUBLIC, HUB)
    yield providers
    await providers.close()


def test_the_overrides_are_valid_settings_with_every_provider_channel_on(
    providers: SimulatedProviders,
) -> None:
    overrides = providers.settings_overrides()
    assert set(overrides) == {
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_SMS_FROM",
        "TWILIO_WHATSAPP_FROM",
        "OMNIHUB_TWILIO_API_URL",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_SECRET",
        "OMNIHUB_TELEGRAM_API_URL",
    }
    settings = Settings.model_validate(overrides)
    assert settings.channel_status() == {
        "sms": True,
        "whatsapp": True,
        "telegram": True,
        "webchat": True,
    }
    assert overrides["OMNIHUB_TWILIO_API_URL"] == providers.base_url
    assert providers.base_url.startswith("http://127.0.0.1:")


async def test_each_run_has_its_own_credentials(providers: SimulatedProviders) -> None:
    other = SimulatedProviders(PUBLIC, HUB)
    mine, theirs = providers.twilio.credentials, other.twilio.credentials
    assert (mine.account_sid, mine.auth_token) != (theirs.account_sid, theirs.auth_token)
    assert providers.telegram.credentials != other.telegram.credentials


def test_real_credentials_are_never_replaced(providers: SimulatedProviders) -> None:
    real = Settings(
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_AUTH_TOKEN="real-token",
        TWILIO_SMS_FROM="+14155550100",
        OMNIHUB_PUBLIC_URL=PUBLIC,
    )
    filled, simulated = providers.fill_in(real)
    assert simulated == {Channel.TELEGRAM}
    assert (filled.twilio_account_sid, filled.twilio_auth_token) == ("AC" + "1" * 32, "real-token")
    assert (filled.twilio_sms_from, filled.twilio_whatsapp_from) == ("+14155550100", None)
    assert str(filled.twilio_api_url) == "https://api.twilio.com/"
    assert filled.telegram_bot_token == providers.telegram.credentials.token
    assert filled.public_base == PUBLIC
    assert providers.simulated_channels(filled) == {Channel.TELEGRAM}

    everything, all_simulated = providers.fill_in(Settings())
    assert all_simulated == {Channel.SMS, Channel.WHATSAPP, Channel.TELEGRAM}
    assert providers.simulated_channels(everything) == all_simulated

    both_real = filled.model_copy(update={"telegram_bot_token": "1:real"})
    assert providers.fill_in(both_real) == (both_real, frozenset())


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def _post(url: str, form: dict[str, str], auth: str) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=form, headers={"Authorization": auth}) as answer,
    ):
        return answer.status, await answer.json()


async def test_twilio_checks_credentials_and_fields_as_twilio_does(
    providers: SimulatedProviders,
) -> None:
    creds = providers.twilio.credentials
    url = f"{providers.base_url}/2010-04-01/Accounts/{creds.account_sid}/Messages.json"
    good = _basic(creds.account_sid, creds.auth_token)
    cases = [
        (_basic(creds.account_sid, "wrong"), {"To": "+34612489327"}, 401, 20003),
        (good, {"From": SMS_FROM, "Body": "x"}, 400, 21604),
        (good, {"To": "+34612489327", "From": "+34600000000", "Body": "x"}, 400, 21606),
        (good, {"To": "whatsapp:+34612489327", "From": SMS_FROM, "Body": "x"}, 400, 21910),
        (good, {"To": "+34612489327", "From": SMS_FROM}, 400, 21602),
        (good, {"To": "+34612489327", "From": SMS_FROM, "Body": "x" * 1601}, 400, 21617),
    ]
    for auth, form, status, code in cases:
        answer = await _post(url, form, auth)
        assert (answer[0], answer[1]["code"]) == (status, code), form
    assert providers.twilio.messages == []


async def test_the_twilio_library_sends_through_it(providers: SimulatedProviders) -> None:
    creds = providers.twilio.credentials
    http = TwilioAiohttpClient(providers.base_url, timeout=5)
    client = Client(
        creds.account_sid, creds.auth_token, http_client=http, environment={"TWILIO_EDGE": ""}
    )
    try:
        created = await client.messages.create_async(
            to="whatsapp:+5521981546032", from_=f"whatsapp:{WHATSAPP_FROM}", body="Olá!"
        )
    finally:
        await http.aclose()
    assert created.status == "queued"
    (message,) = providers.twilio.messages
    assert (message.sid, message.channel, message.customer) == (
        created.sid,
        Channel.WHATSAPP,
        "+5521981546032",
    )
    assert message.status_callback is None  # so no callback goes anywhere


async def test_the_telegram_library_talks_to_it(providers: SimulatedProviders) -> None:
    token = providers.telegram.credentials.token
    api = providers.base_url
    async with Bot(token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot") as bot:
        assert bot.username == "omnihub_demo_bot"
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Ver pedido", callback_data="o")]])
        sent = await bot.send_message(
            chat_id=5812347906, text="¿Qué necesitas?", reply_markup=markup
        )
        assert sent.text == "¿Qué necesitas?"
        assert sent.reply_markup == markup
        assert await bot.send_chat_action(chat_id=5812347906, action="typing")
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(chat_id=-100123, text="a group")
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query("42")
        with pytest.raises(BadRequest, match=r"(?i)https url"):
            await bot.set_webhook("http://hub.solymar.example/webhooks/telegram")
    assert providers.telegram.bot_message(5812347906, sent.message_id) is not None


async def test_a_wrong_bot_token_is_refused(providers: SimulatedProviders) -> None:
    api = providers.base_url
    with pytest.raises(InvalidToken):
        async with Bot("123:wrong", base_url=f"{api}/bot", base_file_url=f"{api}/file/bot"):
            pass


async def test_an_unreachable_hub_is_reported_not_raised(providers: SimulatedProviders) -> None:
    status = await providers.twilio.send_from_customer(Channel.SMS, "+34612489327", "hola")
    assert status is None
    statuses = [getattr(e.happening, "status", None) for e in providers.events.since()]
    assert [s.value for s in statuses if s is not None] == ["sending", "unreachable"]
