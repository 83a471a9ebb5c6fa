"""Multi-turn conversations with the real chatbot, through the real adapters: the harness.

Each script in scripts/<language>.yml is a customer of the world (world.py) talking
over SMS, WhatsApp or Telegram: signed Twilio webhooks and Telegram updates go into
the real app, and what the customer reads is what arrived at the fake Twilio and
Telegram APIs, sent by the real libraries. A turn is one of:

    - sms: TEXT          (also whatsapp: TEXT, telegram: TEXT)
    - press: N           the N-th choice of the bot's last message: the number on SMS
                         and WhatsApp, the inline button on Telegram
    - share_contact: true   on Telegram, the customer shares their own contact card
    - code_by_sms: telegram  types, on that channel, the one-time code that just
                         arrived by SMS at the customer's phone

with `expect:` (fragments the answer must hold, any case and accents), `absent:`
(fragments it must not hold) or `silent: true` (no answer at all: a person has it).
The scripts are written per language, as customers write: typos, corrections,
cancellations, a change of channel in the middle of a flow, and tries to read someone
else's order.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient

from adapters.hub import HUB
from adapters.settings import Settings
from adapters.web.app import create_app
from crm.db import Database
from crm.models import utcnow
from crm.services.stock import fold
from tests.conversations import world
from tests.fakes.telegram_api import FakeTelegramApi, User
from tests.fakes.twilio_api import FakeTwilioApi, inbound_form, new_sid, signed_webhook

PUBLIC = "https://hub.example.com"
# A Spanish number: Twilio lets it send 10 SMS a second, a US long code only 1.
SMS_FROM = "+34911234567"
WHATSAPP_FROM = "+14155550111"
SECRET = "telegram-webhook-secret"
SCRIPTS = Path(__file__).parent / "scripts"

Client = TestClient[web.Request, web.Application]


def scripts() -> list[Any]:
    cases = []
    for path in sorted(SCRIPTS.glob("*.yml")):
        for script in yaml.safe_load(path.read_text("utf-8")):
            cases.append(pytest.param(script, id=f"{path.stem}: {script['name']}"))
    return cases


@dataclass
class Customer:
    """One person of the world, on every channel at once."""

    person: world.Person
    shop: Shop
    telegram_user: User
    read: dict[str, int] = field(default_factory=lambda: {"twilio": 0, "telegram": 0})
    last_channel: str = "sms"

    async def turn(self, step: dict[str, Any]) -> str:
        if "press" in step:
            return await self._press(int(step["press"]))
        if "code_by_sms" in step:
            texts = [m.body or "" for m in self.shop.twilio.messages if m.to == self.person.phone]
            codes = [found for body in texts for found in re.findall(r"\b\d{6}\b", body)]
            assert codes, f"no code arrived by SMS at {self.person.phone}"
            return await self.turn({step["code_by_sms"]: codes[-1]})
        if step.get("share_contact"):
            update = self.shop.telegram.contact_update(
                self.telegram_user, self.person.phone, contact_user_id=self.telegram_user.id
            )
            return await self._telegram(update)
        for channel in ("sms", "whatsapp", "telegram"):
            if channel in step:
                self.last_channel = channel
                text = str(step[channel])
                if channel == "telegram":
                    return await self._telegram(
                        self.shop.telegram.text_update(self.telegram_user, text)
                    )
                return await self._twilio(text, whatsapp=channel == "whatsapp")
        raise AssertionError(f"a turn needs sms, whatsapp, telegram or press: {step}")

    async def _twilio(self, text: str, *, whatsapp: bool) -> str:
        prefix = "whatsapp:" if whatsapp else ""
        form = inbound_form(
            from_=prefix + self.person.phone,
            to=prefix + (WHATSAPP_FROM if whatsapp else SMS_FROM),
            body=text,
            sid=new_sid(),
        )
        request = signed_webhook(PUBLIC + "/webhooks/twilio", form)
        response = await self.shop.hub.post(
            "/webhooks/twilio", data=request.form, headers=request.headers
        )
        assert response.status == 200, await response.text()
        return await self._answer()

    async def _telegram(self, update: dict[str, Any]) -> str:
        status = await self.shop.telegram.deliver(
            self.shop.hub.make_url("/webhooks/telegram"), update, secret=SECRET
        )
        assert status == 200
        return await self._answer()

    async def _press(self, number: int) -> str:
        if self.last_channel != "telegram":
            return await self._twilio(str(number), whatsapp=self.last_channel == "whatsapp")
        mine = [m for m in self.shop.telegram.sent if m["chat"]["id"] == self.telegram_user.id]
        keyboard = mine[-1]["reply_markup"]["inline_keyboard"]
        buttons = [button for row in keyboard for button in row]
        update = self.shop.telegram.callback_update(
            self.telegram_user, buttons[number - 1]["callback_data"], message=mine[-1]
        )
        return await self._telegram(update)

    async def _answer(self) -> str:
        await self.shop.hub.app[HUB].router.idle()
        phone = self.person.phone
        twilio = [
            m.body or "" for m in self.shop.twilio.messages if m.to in (phone, f"whatsapp:{phone}")
        ]
        telegram = [
            m["text"] for m in self.shop.telegram.sent if m["chat"]["id"] == self.telegram_user.id
        ]
        new = twilio[self.read["twilio"] :] + telegram[self.read["telegram"] :]
        self.read = {"twilio": len(twilio), "telegram": len(telegram)}
        return "\n".join(new)


@dataclass
class Shop:
    hub: Client
    twilio: FakeTwilioApi
    telegram: FakeTelegramApi

    def customer(self, key: str) -> Customer:
        person = world.PEOPLE[key]
        user = self.telegram.add_user(person.name.split()[0], user_id=person.telegram_id)
        return Customer(person, self, user)


@contextlib.asynccontextmanager
async def open_shop(
    aiohttp_client: AiohttpClient, database_url: str, db: Database, **settings: str
) -> AsyncIterator[Shop]:
    """The world in the database, the fake providers, and the product's hub in front.

    The hub builds its own chatbot, trained at start with the world's catalogue, as
    `omnihub serve` does; `settings` adds to its environment (OMNIHUB_RASA_URL...).
    """
    async with db.transaction() as session:
        await world.build(session, utcnow())
    async with (
        FakeTwilioApi(numbers=[SMS_FROM, WHATSAPP_FROM]) as twilio_api,
        FakeTelegramApi() as telegram_api,
    ):
        hub_settings = Settings(
            **twilio_api.environment(),
            TWILIO_SMS_FROM=SMS_FROM,
            TWILIO_WHATSAPP_FROM=WHATSAPP_FROM,
            TELEGRAM_BOT_TOKEN=telegram_api.token,
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            OMNIHUB_TELEGRAM_API_URL=telegram_api.base_url,
            OMNIHUB_PUBLIC_URL=PUBLIC,
            OMNIHUB_DATABASE_URL=database_url,
            **settings,
        )
        client = await aiohttp_client(create_app(hub_settings))
        twilio_api.forward(PUBLIC, str(client.make_url("")))
        yield Shop(client, twilio_api, telegram_api)


async def play(shop: Shop, script: dict[str, Any]) -> None:
    """Every turn of the script, checking each answer as the customer reads it."""
    customer = shop.customer(script["customer"])
    for number, step in enumerate(script["turns"], start=1):
        answer = await customer.turn(step)
        said = fold(answer)
        where = f"turn {number} ({step}) got:\n{answer}"
        if step.get("silent"):
            assert answer == "", f"the bot should have said nothing; {where}"
            continue
        assert answer, where
        for fragment in step.get("expect", []):
            assert fold(str(fragment)) in said, f"missing {fragment!r}; {where}"
        for fragment in step.get("absent", []):
            assert fold(str(fragment)) not in said, f"unexpected {fragment!r}; {where}"
