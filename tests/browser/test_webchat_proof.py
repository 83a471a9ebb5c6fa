"""The widget of a visitor who proves who they are with a one-time code, in Chromium.

The real hub (create_app, its chatbot, the fake Twilio API that gets the SMS with the
code) and a shop page on another origin embedding the widget. Typing the code gives
this tab a new token, which it keeps: the chat goes on after a reload, as the
customer, and the anonymous token it had is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer, unused_port
from playwright.async_api import Page, expect
from pytest_aiohttp.plugin import AiohttpServer

from adapters.settings import Settings
from adapters.web.app import create_app
from crm.db import Database
from crm.models import WebchatSite
from tests.bots.test_orders import ANA
from tests.bots.test_verification import _ana_with_orders
from tests.channels.webchat_harness import new_site
from tests.fakes.twilio_api import FakeTwilioApi
from tests.polling import eventually

WIDGET = "omnihub-webchat"
SMS_FROM = "+14155550100"
WAIT_MS = 20_000


@dataclass
class LiveShop:
    hub: TestServer
    shop: str  # the shop page's URL
    site: WebchatSite
    twilio: FakeTwilioApi


@pytest.fixture
async def live_shop(
    aiohttp_server: AiohttpServer, database_url: str, db: Database
) -> AsyncIterator[LiveShop]:
    shop_port = unused_port()
    shop_origin = f"http://127.0.0.1:{shop_port}"
    site = await new_site(db, shop_origin)
    async with FakeTwilioApi(numbers=[SMS_FROM]) as twilio_api:
        settings = Settings.model_validate(
            {
                **twilio_api.environment(),
                "TWILIO_SMS_FROM": SMS_FROM,
                "OMNIHUB_PUBLIC_URL": "https://hub.example.com",
                "OMNIHUB_DATABASE_URL": database_url,
            }
        )
        async with TestServer(create_app(settings), port=unused_port()) as hub:
            widget_src = hub.make_url("/webchat/widget.js")

            async def page(request: web.Request) -> web.Response:
                return web.Response(
                    content_type="text/html",
                    text=f"""<!doctype html><html lang="es"><head><meta charset="utf-8">
                    <title>Tienda</title></head><body><h1>Tienda</h1>
                    <script async src="{widget_src}" data-site-key="{site.site_key}"
                            data-lang="es"></script></body></html>""",
                )

            shop_app = web.Application()
            shop_app.router.add_get("/", page)
            await aiohttp_server(shop_app, port=shop_port)
            yield LiveShop(hub, shop_origin + "/", site, twilio_api)


async def stored_token(page: Page, site: WebchatSite) -> str:
    kept = json.loads(
        await page.evaluate(f"localStorage.getItem('omnihub.webchat.{site.site_key}')")
    )
    return str(kept["token"])


async def say(page: Page, text: str) -> None:
    await page.locator(f"{WIDGET} input").fill(text)
    await page.locator(f"{WIDGET} input").press("Enter")


async def session_status(live: LiveShop, token: str) -> int:
    async with (
        ClientSession() as client,
        client.post(
            live.hub.make_url("/webchat/session"),
            json={"site_key": live.site.site_key, "token": token},
            headers={"Origin": live.shop.rstrip("/")},
        ) as response,
    ):
        return response.status


async def test_the_widget_keeps_the_token_a_code_gives_and_goes_on_after_a_reload(
    live_shop: LiveShop, db: Database, page: Page, artefacts: Path
) -> None:
    await _ana_with_orders(db)
    await page.goto(live_shop.shop)
    await page.locator(f"{WIDGET} .launcher").click()
    await expect(page.locator(WIDGET)).to_have_attribute("data-state", "online")
    await say(page, "donde esta mi pedido ES-100235")
    bot = page.locator(f"{WIDGET} .msg:not(.mine)")
    await expect(bot.last).to_contain_text("código", timeout=WAIT_MS)
    anonymous = await stored_token(page, live_shop.site)

    await eventually(lambda: any(m.to == ANA for m in live_shop.twilio.messages), within=20)
    sms = [m.body or "" for m in live_shop.twilio.messages if m.to == ANA][-1]
    found = re.search(r"\b(\d{6})\b", sms)
    assert found is not None
    await say(page, found.group(1))
    await expect(bot.last).to_contain_text("SEUR", timeout=WAIT_MS)

    renewed = await stored_token(page, live_shop.site)
    assert renewed != anonymous
    assert await session_status(live_shop, anonymous) == 401
    await page.screenshot(path=str(artefacts / "proved-es.png"))

    # After a reload the chat goes on with the stored token: the history, and Ana's orders.
    await page.reload()
    await expect(page.locator(WIDGET)).to_have_attribute("data-state", "online")
    await expect(page.locator(f"{WIDGET} .msg", has_text="SEUR")).to_have_count(1)
    await say(page, "quiero ver mis pedidos")
    await expect(bot.last).to_contain_text("ES-100234", timeout=WAIT_MS)
    await expect(bot.last).not_to_contain_text("comprobar")
    assert await session_status(live_shop, renewed) == 200
