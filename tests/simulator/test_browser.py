"""The simulator page in a real headless Chromium, against the real hub and simulated providers.

Chromium comes from tests/chromium.py (Debian's, driven by Playwright).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, expect

from adapters.simulator import PAGE_PATH, customers
from bots.catalogue import say
from crm.models import Language
from tests.simulator.conftest import Simulation

REPLY_WAIT_MS = 15_000


@pytest.fixture
def backend() -> str:
    return "sqlite"  # what the page shows does not depend on the database


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page; an uncaught script error or a console error on it fails the test."""
    context = await browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[Error] = []
    console: list[ConsoleMessage] = []
    page.on("pageerror", lambda error: errors.append(error))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console.append(message)

    page.on("console", on_console)
    yield page
    await context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"
    assert [m.text for m in console] == [], "errors in the page's console"


async def test_a_customer_writes_by_sms_and_sees_the_hub_answer(
    simulation: Simulation, page: Page, tmp_path: Path
) -> None:
    await page.goto(str(simulation.hub.make_url(PAGE_PATH).with_query(lang="en")))
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")
    sms = page.locator('section[data-channel="sms"]')
    await expect(sms.locator(".who strong")).to_have_text(customers.SMS_CUSTOMER.phone)

    # Written like markup on purpose: it must show as the very characters typed.
    question = "<b>Hola</b> buenas <img src=x onerror=alert(1)>"
    await sms.get_by_placeholder("Write a message").fill(question)
    await sms.get_by_role("button", name="Send").click()

    asked = sms.locator(".msg.in")
    await expect(asked.locator(".text")).to_have_text(question)
    await expect(asked).to_have_attribute("data-status", "received")
    assert await asked.locator("b, img").count() == 0

    answer = sms.locator(".msg.out")
    await expect(answer.locator(".text")).to_contain_text(
        say("greet.hello", Language.ES, name=""), timeout=REPLY_WAIT_MS
    )
    await expect(answer).to_have_attribute("data-status", "delivered", timeout=REPLY_WAIT_MS)
    await expect(answer.locator(".meta")).to_contain_text("Delivered")
    await expect(sms.get_by_placeholder("Write a message")).to_have_value("")

    # The other phones, so the screenshot shows each channel's look.
    telegram = page.locator('section[data-channel="telegram"]')
    await telegram.get_by_placeholder("Write a message").fill("¿Qué horario tiene la tienda?")
    await telegram.get_by_role("button", name="Send").click()
    await expect(telegram.locator(".msg.out .text")).to_have_text(
        say("store.ask", Language.ES), timeout=REPLY_WAIT_MS
    )
    whatsapp = page.locator('section[data-channel="whatsapp"]')
    await whatsapp.get_by_placeholder("Write a message").fill("Oi! Minha encomenda já saiu?")
    await whatsapp.get_by_role("button", name="Send").click()
    await expect(whatsapp.locator(".msg.out")).to_have_attribute(
        "data-status", "delivered", timeout=REPLY_WAIT_MS
    )

    screenshot = tmp_path / "simulator.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")
