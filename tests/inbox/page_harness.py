"""The real hub for the inbox page in a browser: the app, the fake Twilio API, agents.

The hub is create_app served on a loopback port, with the real Twilio adapter and
library talking to tests/fakes/twilio_api.py; customers write through webhooks signed
as Twilio signs them. Used by the page's browser tests and by benchmarks/inbox.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer, unused_port
from playwright.async_api import Page, expect

from adapters.settings import Settings
from adapters.web.app import create_app
from crm.db import Database
from crm.models import AgentRole
from crm.services.staff import create_agent
from dialogue.ports import Responder
from tests.fakes.twilio_api import FakeMessage, FakeTwilioApi, inbound_form, signed_webhook

# Webhooks are signed for this URL and posted to the hub's own port, as behind a proxy.
PUBLIC = "https://hub.example.com"
SMS_FROM = "+14155550100"
WHATSAPP_FROM = "+14155550111"
PASSWORD = "a long enough passphrase"
WHATSAPP = "whatsapp:"


@dataclass
class InboxHub:
    server: TestServer
    twilio: FakeTwilioApi
    db: Database
    http: ClientSession

    def url(self, path: str = "/inbox") -> str:
        return str(self.server.make_url(path))

    async def customer_writes(
        self,
        phone: str,
        body: str,
        *,
        whatsapp: bool = False,
        sid: str | None = None,
        profile_name: str | None = None,
    ) -> None:
        """A customer's SMS (or WhatsApp message) reaches the hub, as Twilio posts it."""
        prefix = WHATSAPP if whatsapp else ""
        form = inbound_form(
            from_=prefix + phone,
            to=prefix + (WHATSAPP_FROM if whatsapp else SMS_FROM),
            body=body,
            sid=sid,
            profile_name=profile_name,
        )
        request = signed_webhook(PUBLIC + "/webhooks/twilio", form, self.twilio.auth_token)
        async with self.http.post(
            self.url("/webhooks/twilio"), data=request.form, headers=request.headers
        ) as response:
            assert response.status == 200, await response.text()

    def sent_to(self, phone: str, *, whatsapp: bool = False) -> list[str]:
        """The texts the fake provider accepted for `phone`, oldest first."""
        to = (WHATSAPP if whatsapp else "") + phone
        return [m.body or "" for m in self.messages_to(to)]

    def messages_to(self, to: str) -> list[FakeMessage]:
        return [m for m in self.twilio.messages if m.to == to]

    async def add_agent(
        self, email: str, name: str, role: AgentRole = AgentRole.AGENT, *, available: bool = False
    ) -> int:
        async with self.db.transaction() as session:
            agent = await create_agent(session, email, name, role, PASSWORD)
            agent.available = available
            return agent.id


@contextlib.asynccontextmanager
async def running_hub(
    database_url: str, *, responder: Responder | None = None
) -> AsyncIterator[InboxHub]:
    """The hub with SMS and WhatsApp through the fake Twilio API; the product's chatbot
    answers unless `responder` is given."""
    async with FakeTwilioApi(numbers=[SMS_FROM, WHATSAPP_FROM]) as twilio_api:
        # model_validate reads no environment variables: only these settings apply.
        settings = Settings.model_validate(
            {
                **twilio_api.environment(),
                "TWILIO_SMS_FROM": SMS_FROM,
                "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
                "OMNIHUB_PUBLIC_URL": PUBLIC,
                "OMNIHUB_DATABASE_URL": database_url,
            }
        )
        app: web.Application = create_app(settings, responder=responder)
        port = unused_port()
        server = TestServer(app, port=port)
        db = Database(database_url)
        try:
            async with server, ClientSession() as http:
                # Status callbacks go to the public URL; the fake posts them to the hub.
                twilio_api.forward(PUBLIC, str(server.make_url("")))
                yield InboxHub(server, twilio_api, db, http)
        finally:
            await db.dispose()


async def sign_in(page: Page, hub: InboxHub, email: str, password: str = PASSWORD) -> None:
    """Sign in through the sign-in page, as an agent does, and wait for the inbox."""
    await page.goto(hub.url("/inbox"))
    # By the fields' ids: the sign-in page speaks the browser's language.
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(password)
    await page.locator("form button[type=submit]").click()
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")
