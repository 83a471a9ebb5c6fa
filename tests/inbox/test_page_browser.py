"""The inbox page in a real headless Chromium, against the real hub, its chatbot and fake Twilio.

Chromium comes from tests/chromium.py (Debian's, driven by Playwright); the hub and the
customers' webhooks from tests/inbox/page_harness.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Error, Page, expect

from bots.catalogue import say
from crm.models import Channel, Language, utcnow
from crm.services.reservations import reserve_item
from tests.builders import (
    add_customer,
    add_identity,
    add_inventory,
    add_order,
    add_product,
    add_store,
)
from tests.inbox.page_harness import InboxHub, running_hub, sign_in
from tests.polling import eventually

ANA = "ana@shop.example"
BRUNO = "bruno@shop.example"
CARMEN = "+34612345678"
DANIELA = "+34622345678"
WAIT_MS = 15_000  # the chatbot answers and the outbox sends in well under this


@pytest.fixture
def backend() -> str:
    return "sqlite"  # what the page shows does not depend on the database


@dataclass
class Pages:
    """Browser profiles, each with a page; uncaught script errors fail the test."""

    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    errors: list[Error] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    async def open(self, locale: str = "en-GB") -> Page:
        context = await self.browser.new_context(
            locale=locale, viewport={"width": 1400, "height": 900}
        )
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(error))

        def on_console(message: ConsoleMessage) -> None:
            # An answer with an error status is reported by the browser itself; the
            # page shows those (a lost claim is a 409), so they are not the page's errors.
            if message.type == "error" and "Failed to load resource" not in message.text:
                self.console.append(message.text)

        page.on("console", on_console)
        return page


@pytest.fixture
async def live_hub(database_url: str) -> AsyncIterator[InboxHub]:
    async with running_hub(database_url) as running:
        await running.add_agent(ANA, "Ana Agent")
        await running.add_agent(BRUNO, "Bruno Agent")
        yield running


# Tests take `live_hub` before `pages`: pytest tears fixtures down in reverse, so the pages
# (whose sockets reconnect at once) are gone before the server stops.
@pytest.fixture
async def pages(live_hub: InboxHub, browser: Browser) -> AsyncIterator[Pages]:
    opened = Pages(browser)
    yield opened
    for context in opened.contexts:
        await context.close()
    assert opened.errors == [], f"uncaught errors in the page: {opened.errors}"
    assert opened.console == [], f"errors in the page's console: {opened.console}"


async def test_an_agent_takes_a_customer_from_the_bot_across_channels(
    live_hub: InboxHub, pages: Pages, tmp_path: Path
) -> None:
    ana = await pages.open()
    await sign_in(ana, live_hub, ANA)
    await expect(ana.locator("#views [aria-pressed=true]")).to_have_text("Queued")
    await expect(ana.locator("#conversations li")).to_have_count(0)

    # The customer asks the bot for a person: the conversation appears, without reloading.
    await live_hub.customer_writes(CARMEN, "hola, mi pedido ES-200001 no llega")
    await live_hub.customer_writes(CARMEN, "quiero hablar con una persona")
    queued = ana.locator("#conversations li", has_text=CARMEN)
    await expect(queued).to_have_count(1, timeout=WAIT_MS)
    await expect(queued).to_have_attribute("data-status", "queued")
    await expect(queued.locator(".badge")).to_have_text("SMS")
    await expect(queued.locator(".wait")).to_contain_text("waiting")
    await eventually(lambda: say("handoff.waiting", Language.ES) in live_hub.sent_to(CARMEN))

    # A second agent looks at it too, but their live events are held up on the way.
    bruno = await pages.open()
    await bruno.route_web_socket("**/inbox/ws", lambda ws: None)
    await sign_in(bruno, live_hub, BRUNO)
    await bruno.locator("#conversations li", has_text=CARMEN).get_by_role("button").click()
    await expect(bruno.get_by_role("button", name="Claim")).to_be_visible()

    # Ana reads the summary the bot left, and claims the conversation.
    await queued.get_by_role("button").click()
    summary = ana.locator("#summary")
    await expect(summary).to_be_visible()
    await expect(summary.locator('dd[data-field="intent"]')).to_have_text("human_handoff")
    await expect(summary.locator(".summary-last")).to_contain_text("quiero hablar con una persona")
    await expect(ana.locator("#messages .msg.from-bot").first).to_be_visible()
    await expect(ana.locator("#composer-why")).to_contain_text("Claim the conversation")
    await ana.get_by_role("button", name="Claim").click()
    await expect(ana.locator("#conv-alert")).to_have_text("You have this conversation.")
    await expect(ana.locator("#conv-status")).to_have_text("With an agent")
    await expect(ana.get_by_role("button", name="Claim")).to_be_hidden()

    # Bruno's claim, a moment too late, fails cleanly and says who has it.
    await bruno.get_by_role("button", name="Claim").click()
    await expect(bruno.locator("#conv-alert")).to_have_text(
        "Ana Agent has already taken this conversation."
    )
    await expect(bruno.locator("#conv-owner")).to_have_text("Assigned to Ana Agent")
    await expect(bruno.get_by_role("button", name="Claim")).to_be_hidden()
    await expect(bruno.get_by_label("Message")).to_be_disabled()

    # A private note is shown apart and never sent.
    await ana.get_by_label("Private note").check()
    await ana.get_by_label("Message").fill("Comprobar el envío con el almacén")
    await ana.get_by_role("button", name="Add note").click()
    note = ana.locator("#messages .msg.private")
    await expect(note.locator(".text")).to_have_text("Comprobar el envío con el almacén")
    await expect(note).to_contain_text("Private note, not sent to the customer")

    # Ana replies; the customer gets it by SMS, and the page follows its delivery.
    await ana.get_by_label("Reply", exact=True).check()
    reply = "Hola, soy Ana. Ya miro tu pedido."
    await ana.get_by_label("Message").fill(reply)
    await ana.get_by_label("Message").press("Enter")
    await eventually(lambda: reply in live_hub.sent_to(CARMEN))
    sent = ana.locator("#messages .msg.from-agent", has_text=reply)
    await expect(sent.locator(".badge")).to_have_text("SMS")
    await expect(ana.get_by_label("Message")).to_have_value("")
    (provider_message,) = [m for m in live_hub.twilio.messages if m.body == reply]
    assert await live_hub.twilio.deliver(provider_message.sid) == 200
    await expect(sent).to_have_attribute("data-status", "delivered")
    await expect(sent.locator(".delivery")).to_have_text("Delivered")
    assert "Comprobar el envío con el almacén" not in live_hub.sent_to(CARMEN)

    # The customer goes on from WhatsApp: the same conversation, and the bot stays quiet.
    await live_hub.customer_writes(CARMEN, "te escribo ahora por WhatsApp", whatsapp=True)
    from_whatsapp = ana.locator("#messages .msg.from-customer", has_text="por WhatsApp")
    await expect(from_whatsapp.locator(".badge")).to_have_text("WhatsApp")
    await expect(ana.locator("#window")).to_contain_text("24-hour window is open")
    await expect(from_whatsapp).to_be_in_viewport()
    identities = ana.get_by_role("complementary", name="Customer").locator(".identity")
    await expect(identities.filter(has_text="WhatsApp")).to_contain_text("verified")
    await expect(ana.locator("#conversations li", has_text=CARMEN)).to_have_count(0)  # not queued
    await ana.get_by_role("button", name="Mine").click()
    await expect(ana.locator("#conversations li", has_text=CARMEN)).to_have_count(1)
    answer = "Perfecto, sigo por aquí."
    await ana.get_by_label("Message").fill(answer)
    await ana.get_by_role("button", name="Send").click()
    await eventually(lambda: live_hub.sent_to(CARMEN, whatsapp=True) == [answer])

    screenshot = tmp_path / "inbox.png"
    await ana.screenshot(path=str(screenshot))
    print(f"screenshot: {screenshot}")

    # Resolved: the customer is asked for a score, on the channel they use now.
    await ana.get_by_role("button", name="Resolve").click()
    await expect(ana.locator("#conv-status")).to_have_text("Resolved")
    await expect(ana.get_by_label("Message")).to_be_disabled()
    await eventually(lambda: len(live_hub.sent_to(CARMEN, whatsapp=True)) == 2)
    assert say("csat.ask", Language.ES) in live_hub.sent_to(CARMEN, whatsapp=True)[1]


async def test_what_a_customer_writes_shows_as_text_and_runs_nothing(
    live_hub: InboxHub, pages: Pages
) -> None:
    ana = await pages.open()
    await sign_in(ana, live_hub, ANA)

    attack = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'
    await live_hub.customer_writes(CARMEN, attack, whatsapp=True, profile_name="<i>Eve</i>")
    await live_hub.customer_writes(CARMEN, "quiero hablar con una persona", whatsapp=True)

    item = ana.locator("#conversations li", has_text="<i>Eve</i>")
    await expect(item).to_have_count(1, timeout=WAIT_MS)
    await item.get_by_role("button").click()
    await expect(ana.locator("#conv-title")).to_have_text("<i>Eve</i>")
    shown = ana.locator("#messages .msg.from-customer .text").first
    await expect(shown).to_have_text(attack)
    assert await ana.locator("main img, main script, main b, main i").count() == 0
    assert await ana.evaluate("window.pwned") is None


async def test_the_page_speaks_the_agents_language(live_hub: InboxHub, pages: Pages) -> None:
    agent = await pages.open(locale="pt-BR")
    await sign_in(agent, live_hub, ANA)
    await expect(agent.locator("html")).to_have_attribute("lang", "pt")
    await expect(agent.get_by_role("button", name="Na fila")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(agent.get_by_role("search").get_by_role("searchbox")).to_have_attribute(
        "placeholder", "Nome, telefone ou número da encomenda"
    )


async def test_the_agent_acts_from_the_customer_panel(live_hub: InboxHub, pages: Pages) -> None:
    async with live_hub.db.transaction() as session:
        store = await add_store(session, "MAD-1", name="Madrid Centro")
        product = await add_product(session, "P-RUN", names={"es": "Zapatilla", "en": "Shoe"})
        (variant,) = product.variants
        await add_inventory(session, store, variant, 5)
        daniela = await add_customer(session, name="Daniela", phone=DANIELA)
        await add_identity(session, daniela, Channel.SMS, DANIELA, verified=True)
        order = await add_order(
            session, daniela, [(variant, 1, 5999)], placed_at=utcnow() - timedelta(days=5)
        )
        held = await reserve_item(session, daniela.id, "MAD-1", variant.sku, 1)
        number, code = order.number, held.pickup_code
    await live_hub.customer_writes(DANIELA, "quiero hablar con una persona")

    agent = await pages.open()
    await sign_in(agent, live_hub, ANA)
    await agent.locator("#conversations li", has_text="Daniela").get_by_role("button").click()
    panel = agent.get_by_role("complementary", name="Customer")
    await expect(panel.locator(".identity")).to_contain_text(f"SMS {DANIELA} verified")
    await expect(panel.locator(".order", has_text=number)).to_contain_text("delivered")
    reservation = panel.locator(".reservation", has_text=code)
    await expect(reservation).to_contain_text("held")

    await panel.get_by_role("button", name=f"Cancel reservation {code}").click()
    await expect(reservation).to_contain_text("cancelled")
    await expect(panel.get_by_role("button", name=f"Cancel reservation {code}")).to_have_count(0)
    await expect(panel.get_by_role("alert")).to_have_text(f"Reservation {code} cancelled.")

    await panel.get_by_role("button", name=f"Start a return of order {number}").click()
    form = panel.get_by_role("form", name=f"Start a return of order {number}")
    await form.get_by_label("Reason").select_option("wrong_size")
    await form.get_by_label("How").select_option("courier")
    await form.get_by_role("button", name="Start a return").click()
    started = panel.locator(".return", has_text=number)
    await expect(started).to_contain_text("requested")
    await expect(started).to_contain_text("Wrong size")
    await expect(panel.get_by_role("alert")).to_contain_text("Return RMA-")


async def test_the_inbox_is_usable_from_the_keyboard(live_hub: InboxHub, pages: Pages) -> None:
    for phone in (CARMEN, DANIELA):
        await live_hub.customer_writes(phone, "quiero hablar con una persona")
    agent = await pages.open()
    await sign_in(agent, live_hub, ANA)
    items = agent.locator("#conversations .conv-button")
    await expect(items).to_have_count(2, timeout=WAIT_MS)

    await items.first.focus()
    await agent.keyboard.press("ArrowDown")
    await expect(items.nth(1)).to_be_focused()
    await agent.keyboard.press("Enter")
    await expect(agent.locator("#conv-title")).to_be_focused()
    await expect(items.nth(1)).to_have_attribute("aria-current", "true")
    await agent.keyboard.press("Tab")
    await expect(agent.get_by_role("button", name="Claim")).to_be_focused()
    await agent.keyboard.press("Enter")
    await expect(agent.locator("#conv-status")).to_have_text("With an agent")
    await agent.get_by_label("Message").focus()
    await agent.keyboard.type("Hola, te atiendo yo.")
    await agent.keyboard.press("Enter")
    await expect(agent.locator("#messages .msg.from-agent .text")).to_have_text(
        "Hola, te atiendo yo."
    )


async def test_search_filters_and_giving_a_conversation_back(
    live_hub: InboxHub, pages: Pages
) -> None:
    await live_hub.customer_writes(CARMEN, "quiero hablar con una persona")
    await live_hub.customer_writes(DANIELA, "quiero hablar con una persona", whatsapp=True)
    agent = await pages.open()
    await sign_in(agent, live_hub, ANA)
    items = agent.locator("#conversations li")
    await expect(items).to_have_count(2, timeout=WAIT_MS)

    await agent.get_by_role("searchbox").fill("622 345")
    await expect(items).to_have_count(1)
    await expect(items).to_contain_text(DANIELA)
    await agent.get_by_role("searchbox").fill("")
    await expect(items).to_have_count(2)
    await agent.get_by_label("Channel").select_option("whatsapp")
    await expect(items).to_have_count(1)
    await expect(items.locator(".badge")).to_have_text("WhatsApp")
    await agent.get_by_label("Channel").select_option("")

    # Claimed, let go to the queue, claimed again, and given back to the bot.
    await items.filter(has_text=CARMEN).get_by_role("button").click()
    await agent.get_by_role("button", name="Claim").click()
    await expect(agent.locator("#conv-status")).to_have_text("With an agent")
    await agent.get_by_role("button", name="Unassign").click()
    await expect(agent.locator("#conv-status")).to_have_text("Queued")
    await agent.get_by_role("button", name="Claim").click()
    await agent.get_by_role("button", name="Hand back to the bot").click()
    await expect(agent.locator("#conv-status")).to_have_text("With the bot")
    await expect(agent.locator("#conv-alert")).to_have_text("The bot has the conversation again.")
    await expect(items.filter(has_text=CARMEN)).to_have_count(0)  # no longer queued
    await eventually(lambda: say("handback.notice", Language.ES) in live_hub.sent_to(CARMEN))


# Every Content-Security-Policy violation in the page, kept where the test can read it.
RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.violations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""


async def test_the_pages_keep_to_a_content_security_policy_that_runs_nothing_inline(
    live_hub: InboxHub, pages: Pages
) -> None:
    ana = await pages.open()
    await ana.add_init_script(RECORD_VIOLATIONS)
    login = await ana.goto(live_hub.url("/inbox/login"))
    assert login is not None
    policy = {
        directive.strip() for directive in login.headers["content-security-policy"].split(";")
    }
    assert {
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    } <= policy
    # The sign-in page is styled from its own stylesheet, not from inline styles.
    card = ana.locator("main")
    assert await card.evaluate("node => getComputedStyle(node).backgroundColor") == (
        "rgb(255, 255, 255)"
    )
    assert await ana.evaluate("window.violations") == []

    await live_hub.customer_writes(CARMEN, "hola, mi pedido ES-200001 no llega")
    await live_hub.customer_writes(CARMEN, "quiero hablar con una persona")
    await sign_in(ana, live_hub, ANA)  # the live socket is up: connect-src allows it
    inbox = await ana.reload()
    assert inbox is not None
    assert inbox.headers["content-security-policy"] == login.headers["content-security-policy"]
    await expect(ana.locator("#live")).to_have_attribute("data-state", "live")
    queued = ana.locator("#conversations li", has_text=CARMEN)
    await queued.get_by_role("button").click()
    await expect(ana.locator("#summary")).to_be_visible()
    await expect(ana.locator("#customer")).to_be_visible()
    assert await ana.evaluate("window.violations") == []

    # Markup that slipped into the page runs nothing: its inline handler is refused.
    await ana.evaluate(
        """document.body.insertAdjacentHTML(
            "beforeend", '<img src="/inbox/static/none.png" onerror="window.ran = true">')"""
    )
    await eventually(lambda: _refused_inline(ana))
    assert await ana.evaluate("window.ran") is None
    # The browser reports the refusal in the console: expected here, not the page's error.
    assert any("inline event handler" in line for line in pages.console)
    pages.console.clear()


async def _refused_inline(page: Page) -> bool:
    violations = await page.evaluate("window.violations")
    return any(line.startswith("script-src") for line in violations)
