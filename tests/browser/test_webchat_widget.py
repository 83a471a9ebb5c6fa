"""The web-chat widget in a real headless Chromium, embedded in a shop page on another origin."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer, unused_port
from aiohttp.typedefs import Handler
from playwright.async_api import Browser, Page, WebSocket, expect
from pytest_aiohttp.plugin import AiohttpServer

from adapters.channels.webchat import (
    WebchatConfig,
    WebchatSender,
    add_demo_routes,
    drop_connections,
    identity_hash,
)
from adapters.channels.webchat.session import SESSION_THROTTLE
from adapters.web.throttle import address_key
from crm.db import Database
from crm.models import Channel, WebchatSite
from dialogue.local_bus import InProcessBus
from dialogue.messages import Button, Outgoing
from tests.channels.webchat_harness import (
    Clock,
    StoringSink,
    add_history,
    new_site,
    said_to_visitor,
    webchat_app,
)

WIDGET = "omnihub-webchat"
# Long enough for a reconnect's backoff (up to 4 s by the third attempt) to run out.
RECONNECT_WAIT_MS = 15_000


@dataclass
class Gate:
    """Refuses the websocket upgrade while shut, as a hub that is down would."""

    open: bool = True

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/webchat/ws" and not self.open:
            raise web.HTTPServiceUnavailable(text="restarting")
        return await handler(request)


@dataclass
class Shop:
    """A hub with the web chat, and a shop on another origin embedding its widget."""

    hub: TestServer
    shop: TestServer
    site: WebchatSite
    db: Database
    sink: StoringSink
    bus: InProcessBus
    gate: Gate

    def page(self, **query: str) -> str:
        return str(self.shop.make_url("/").with_query(query))

    def demo(self, lang: str) -> str:
        return str(self.hub.make_url("/demo/shop").with_query(lang=lang))

    async def reply(self, visitor: str, text: str, buttons: Sequence[tuple[str, str]] = ()) -> int:
        """What the outbox does: the reply is stored, then sent through the channel."""
        (message_id,) = await add_history(
            db=self.db, visitor_id=visitor, rows=[said_to_visitor(text, buttons=buttons)]
        )
        await WebchatSender(self.bus).send(
            Outgoing(
                message_id,
                Channel.WEBCHAT,
                visitor,
                text,
                tuple(Button(title, payload) for title, payload in buttons),
            )
        )
        return message_id


# Tests take `shop` before `page`: pytest tears fixtures down in reverse, so the page
# (and its widget, which reconnects at once) is gone before the server stops, instead
# of reconnecting into a shutdown that cancels its queries mid-flight.
@pytest.fixture
def hub_config(request: pytest.FixtureRequest) -> WebchatConfig:
    """The hub's web-chat settings; a test changes them with indirect parametrization."""
    config: WebchatConfig = getattr(request, "param", WebchatConfig())
    return config


@pytest.fixture
async def shop(aiohttp_server: AiohttpServer, db: Database, hub_config: WebchatConfig) -> Shop:
    hub_port, shop_port = unused_port(), unused_port()
    site = await new_site(db, f"http://127.0.0.1:{shop_port}", f"http://127.0.0.1:{hub_port}")
    sink, bus, gate = StoringSink(db), InProcessBus(), Gate()
    hub_app = webchat_app(db, sink, bus, hub_config)
    hub_app.middlewares.append(gate.middleware)
    add_demo_routes(hub_app, site.site_key)
    hub = await aiohttp_server(hub_app, port=hub_port)
    widget_src = hub.make_url("/webchat/widget.js")

    async def page(request: web.Request) -> web.Response:
        # The shop's backend vouches for its logged-in customer, as the README shows.
        user = request.query.get("user")
        login = (
            f' data-user-id="{user}" data-user-hash="{identity_hash(site.identity_secret, user)}"'
            if user
            else ""
        )
        lang = request.query.get("lang", "en")
        return web.Response(
            content_type="text/html",
            text=f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
            <title>Test shop</title></head><body><h1>Test shop</h1>
            <script async src="{widget_src}" data-site-key="{site.site_key}"
                    data-lang="{lang}"{login}></script></body></html>""",
        )

    shop_app = web.Application()
    shop_app.router.add_get("/", page)
    shop_server = await aiohttp_server(shop_app, port=shop_port)
    return Shop(hub, shop_server, site, db, sink, bus, gate)


async def open_chat(page: Page, url: str) -> None:
    await page.goto(url)
    await page.locator(f"{WIDGET} .launcher").click()
    await expect(page.locator(WIDGET)).to_have_attribute("data-state", "online")


async def visitor_id(page: Page, site: WebchatSite) -> str:
    stored = await page.evaluate(f"localStorage.getItem('omnihub.webchat.{site.site_key}')")
    return str(json.loads(stored)["visitorId"])


async def say(page: Page, text: str) -> None:
    await page.locator(f"{WIDGET} input").fill(text)
    await page.locator(f"{WIDGET} input").press("Enter")


async def test_a_customer_message_reaches_the_router(shop: Shop, page: Page) -> None:
    await open_chat(page, shop.page())
    await expect(page.locator(f"{WIDGET} input")).to_have_attribute(
        "placeholder", "Type a message…"
    )
    await say(page, "Hi, where is my order 1234?")
    # An id means the hub acknowledged it, which it does only once the router has it.
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_text(
        ["Hi, where is my order 1234?"]
    )
    (inbound,) = shop.sink.inbound
    visitor = await visitor_id(page, shop.site)
    assert inbound.channel is Channel.WEBCHAT
    assert inbound.address == visitor
    assert inbound.provider_id.startswith(f"{visitor}:")
    assert inbound.text == "Hi, where is my order 1234?"
    assert inbound.shop_customer_id is None


async def test_a_reply_shows_its_quick_replies_and_a_press_sends_a_choice(
    shop: Shop, page: Page
) -> None:
    await open_chat(page, shop.page())
    visitor = await visitor_id(page, shop.site)
    await shop.reply(visitor, "Which store?", [("Madrid", "store:MAD"), ("Lisbon", "store:LIS")])
    await expect(page.locator(f"{WIDGET} .msg.theirs")).to_have_text(["Which store?"])
    quick_replies = page.locator(f"{WIDGET} .replies button")
    await expect(quick_replies).to_have_text(["Madrid", "Lisbon"])

    await quick_replies.filter(has_text="Lisbon").click()
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_text(["Lisbon"])
    await expect(quick_replies).to_have_count(0)
    (choice,) = shop.sink.inbound
    assert (choice.text, choice.payload) == ("Lisbon", "store:LIS")


async def test_markup_in_messages_shows_as_text_and_runs_nothing(shop: Shop, page: Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await open_chat(page, shop.page())
    typed = "<script>alert(1)</script>"
    await say(page, typed)
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_text([typed])
    visitor = await visitor_id(page, shop.site)
    sneaky = '<img src="x" onerror="window.__pwned = 1"><script>alert(2)</script>'
    await shop.reply(visitor, sneaky, [("<b>bold</b>", "x")])
    await expect(page.locator(f"{WIDGET} .msg.theirs")).to_have_text([sneaky])
    await expect(page.locator(f"{WIDGET} .replies button")).to_have_text(["<b>bold</b>"])

    # And again from what the widget kept, after a reload.
    await page.reload()
    await expect(page.locator(f"{WIDGET} .msg")).to_have_text([typed, sneaky])
    injected = await page.evaluate(
        f"""() => document.querySelector("{WIDGET}").shadowRoot
                .querySelectorAll(".log script, .log img, .replies b").length"""
    )
    assert injected == 0
    assert await page.evaluate("window.__pwned") is None
    assert dialogs == []


async def test_the_widget_reconnects_by_itself_and_resumes_without_duplicates(
    shop: Shop, page: Page
) -> None:
    hellos: list[dict[str, object]] = []

    def watch(ws: WebSocket) -> None:
        def sent(payload: str | bytes) -> None:
            frame = json.loads(payload)
            if frame["type"] == "hello":
                hellos.append(frame)

        ws.on("framesent", sent)

    page.on("websocket", watch)
    await open_chat(page, shop.page())
    await say(page, "first")
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_text(["first"])
    visitor = await visitor_id(page, shop.site)
    seen = await shop.reply(visitor, "Hello! How can I help?")
    await expect(page.locator(f"{WIDGET} .msg.theirs")).to_have_text(["Hello! How can I help?"])

    # The hub goes down: the socket closes and reconnecting fails for a while.
    shop.gate.open = False
    await drop_connections(shop.hub.app)
    await expect(page.locator(WIDGET)).not_to_have_attribute("data-state", "online")
    await expect(page.locator(f"{WIDGET} .status")).to_have_text("Connection lost. Reconnecting…")
    await say(page, "second")  # kept as pending
    await expect(page.locator(f"{WIDGET} .msg.pending")).to_have_text(["second"])
    # Answered while the widget was away: stored, but nobody was listening.
    (missed,) = await add_history(shop.db, visitor, [said_to_visitor("Are you still there?")])

    shop.gate.open = True
    await expect(page.locator(WIDGET)).to_have_attribute(
        "data-state", "online", timeout=RECONNECT_WAIT_MS
    )
    await expect(page.locator(f"{WIDGET} .status")).to_be_hidden()
    await expect(page.locator(f"{WIDGET} .msg")).to_have_text(
        ["first", "Hello! How can I help?", "Are you still there?", "second"]
    )
    await expect(page.locator(f"{WIDGET} .msg.pending")).to_have_count(0)
    assert [i.text for i in shop.sink.inbound] == ["first", "second"]
    # It resumed after what it had seen instead of fetching everything again.
    assert hellos[0]["last_seen_id"] == 0
    assert hellos[-1]["last_seen_id"] == seen
    assert missed > seen


async def test_a_logged_in_customer_is_linked_in_their_language(shop: Shop, page: Page) -> None:
    await open_chat(page, shop.page(user="C-1001", lang="pt"))
    await expect(page.locator(f"{WIDGET} .title")).to_have_text("Fale connosco")
    await expect(page.locator(f"{WIDGET} input")).to_have_attribute(
        "placeholder", "Escreva uma mensagem…"
    )
    await say(page, "Onde está a minha encomenda?")
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_count(1)
    assert shop.sink.inbound[0].shop_customer_id == "C-1001"


async def test_the_demo_shop_page(shop: Shop, page: Page, artefacts: Path) -> None:
    await open_chat(page, shop.demo("es"))
    await expect(page.locator("h1")).to_have_text("Ya llegó la nueva temporada")
    await expect(page.locator(f"{WIDGET} .title")).to_have_text("Chatea con nosotros")
    await expect(page.locator(f"{WIDGET} .send")).to_have_text("Enviar")
    await say(page, "Hola, ¿tenéis la zapatilla urbana en la talla 42?")
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_count(1)
    visitor = await visitor_id(page, shop.site)
    await shop.reply(
        visitor,
        "¡Hola! Sí, nos quedan pares en la 42. ¿En qué tienda quieres recogerla?",
        [("Madrid Centro", "store:MAD"), ("Barcelona", "store:BCN"), ("Online", "store:WEB")],
    )
    await expect(page.locator(f"{WIDGET} .replies button")).to_have_count(3)
    await page.screenshot(path=artefacts / "demo-shop-es.png")


async def test_a_reply_to_a_closed_panel_shows_an_unread_badge(shop: Shop, page: Page) -> None:
    await open_chat(page, shop.page())
    visitor = await visitor_id(page, shop.site)
    await page.locator(f"{WIDGET} .close").click()
    await expect(page.locator(f"{WIDGET} .panel")).to_be_hidden()
    await shop.reply(visitor, "Your parcel left the warehouse.")
    await shop.reply(visitor, "It arrives tomorrow.")
    await expect(page.locator(f"{WIDGET} .badge")).to_have_text("2")
    await page.locator(f"{WIDGET} .launcher").click()
    await expect(page.locator(f"{WIDGET} .badge")).to_be_hidden()
    await expect(page.locator(f"{WIDGET} .msg.theirs")).to_have_count(2)


async def test_a_visitor_past_the_limit_of_their_address_is_told_and_let_in_later(
    shop: Shop, page: Page
) -> None:
    throttle, browser = shop.hub.app[SESSION_THROTTLE], address_key("127.0.0.1")
    for _ in range(WebchatConfig().sessions_per_address):  # the neighbours' new chats
        await throttle.count(browser)
    await page.goto(shop.page(lang="es"))
    await page.locator(f"{WIDGET} .launcher").click()
    await expect(page.locator(WIDGET)).to_have_attribute("data-state", "busy")
    await expect(page.locator(f"{WIDGET} .status")).to_have_text(
        "Se han iniciado demasiados chats desde tu red. El chat se conectará solo en unos minutos…"
    )
    await say(page, "Hola")  # kept until the chat connects
    await expect(page.locator(f"{WIDGET} .msg.pending")).to_have_text(["Hola"])

    # The window is over (the widget would wait for Retry-After; going online is sooner).
    await throttle.cleared(browser)
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await expect(page.locator(WIDGET)).to_have_attribute("data-state", "online")
    await expect(page.locator(f"{WIDGET} .status")).to_be_hidden()
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_text(["Hola"])


async def stored(page: Page, site: WebchatSite) -> dict[str, object]:
    kept: dict[str, object] = json.loads(
        await page.evaluate(f"localStorage.getItem('omnihub.webchat.{site.site_key}')")
    )
    return kept


async def back_to(page: Page, url: str) -> None:
    """Another page of the shop, with the chat left open: it opens by itself."""
    await page.goto(url)
    await expect(page.locator(WIDGET)).to_have_attribute("data-state", "online")


async def session_status(shop: Shop, token: object) -> int:
    """What POST /webchat/session answers a copy of `token` (as someone who copied it)."""
    async with ClientSession() as client:
        response = await client.post(
            shop.hub.make_url("/webchat/session"),
            json={"site_key": shop.site.site_key, "token": token},
            headers={"Origin": str(shop.shop.make_url("/")).rstrip("/")},
        )
        return response.status


async def test_signing_in_and_out_gives_new_tokens_and_ends_the_old_ones(
    shop: Shop, page: Page
) -> None:
    await open_chat(page, shop.page())
    await say(page, "Hola")
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_text(["Hola"])
    anonymous = await stored(page, shop.site)

    # The shop's page now vouches for its signed-in customer: the chat goes on.
    await back_to(page, shop.page(user="C-1001"))
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_text(["Hola"])
    signed_in = await stored(page, shop.site)
    assert signed_in["visitorId"] == anonymous["visitorId"]
    assert signed_in["token"] != anonymous["token"]
    assert await session_status(shop, anonymous["token"]) == 401
    await say(page, "¿Mi pedido?")
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_count(2)
    assert shop.sink.inbound[-1].shop_customer_id == "C-1001"

    # Signed out: the page gives no identity. The next person sees nothing of theirs.
    await back_to(page, shop.page())
    signed_out = await stored(page, shop.site)
    assert signed_out["visitorId"] != anonymous["visitorId"]
    await expect(page.locator(f"{WIDGET} .msg")).to_have_count(0)
    assert await session_status(shop, signed_in["token"]) == 401


async def test_a_stale_tab_does_not_undo_a_sign_in_made_in_another(
    shop: Shop, browser: Browser
) -> None:
    context = await browser.new_context(locale="en-GB")
    try:
        stale = await context.new_page()
        await open_chat(stale, shop.page())
        await say(stale, "Hello")
        await expect(stale.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_count(1)
        customer = await context.new_page()
        # Same browser: the chat is open there too. Its new token ends the stale tab's.
        await back_to(customer, shop.page(user="C-1001"))
        await expect(stale.locator(WIDGET)).not_to_have_attribute("data-state", "online")
        # The stale tab, anonymous, starts afresh rather than taking the customer's token
        # (which, without an identity, would sign them out).
        await expect(stale.locator(WIDGET)).to_have_attribute(
            "data-state", "online", timeout=RECONNECT_WAIT_MS
        )
        await say(customer, "Still me")
        await expect(customer.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_text(
            ["Hello", "Still me"]
        )
        assert shop.sink.inbound[-1].shop_customer_id == "C-1001"
        await expect(customer.locator(WIDGET)).to_have_attribute("data-state", "online")
    finally:
        await context.close()


SLOW = {
    "es": "Estás enviando mensajes muy rápido. "
    "Tu mensaje se enviará automáticamente en un momento…",
    "pt": "Está a enviar mensagens muito depressa. "
    "A sua mensagem será enviada automaticamente dentro de momentos…",
    "en": "You are sending messages very quickly. "
    "Your message will be sent automatically in a moment…",
}
# The hub's clock for its message windows (made with the parameters, before the test).
RATE_CLOCK = Clock()


@pytest.mark.parametrize(
    "hub_config",
    [WebchatConfig(messages_burst=2, burst_window=timedelta(seconds=1), clock=RATE_CLOCK)],
    indirect=True,
)
@pytest.mark.parametrize("lang", ["es", "pt", "en"])
async def test_a_visitor_writing_too_fast_is_told_and_their_message_goes_later(
    shop: Shop, page: Page, artefacts: Path, lang: str
) -> None:
    await open_chat(page, shop.page(lang=lang))
    for text in ("1", "2", "3"):
        await say(page, text)
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_text(["1", "2"])
    # The third was not taken: kept in the chat as pending, and the visitor told why.
    await expect(page.locator(f"{WIDGET} .msg.pending")).to_have_text(["3"])
    await expect(page.locator(f"{WIDGET} .notice")).to_have_text(SLOW[lang])
    await page.screenshot(path=artefacts / f"webchat-too-fast-{lang}.png")
    print(f"screenshot: {artefacts / f'webchat-too-fast-{lang}.png'}")
    assert [i.text for i in shop.sink.inbound] == ["1", "2"]

    RATE_CLOCK.advance(1)  # the hub's window is over: the widget's next try goes
    await expect(page.locator(f"{WIDGET} .msg.mine[data-id]")).to_have_text(["1", "2", "3"])
    await expect(page.locator(f"{WIDGET} .notice")).to_be_hidden()
    assert [i.text for i in shop.sink.inbound] == ["1", "2", "3"]
