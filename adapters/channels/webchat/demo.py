"""GET /demo/shop: a small shop page embedding the widget, for `omnihub demo`."""

from __future__ import annotations

from html import escape
from importlib import resources
from string import Template

from aiohttp import web

from adapters.channels.webchat.texts import DEMO_SHOP, DemoShopTexts
from adapters.web.languages import pick_language
from crm.models import Language

PATH = "/demo/shop"


def add_demo_routes(app: web.Application, site_key: str) -> None:
    """Serves the demo shop page, its widget talking to the site `site_key`.

    That site must allow the hub's own origin (the page is served by the hub).
    """
    template = Template(
        resources.files(__package__).joinpath("templates", "shop.html").read_text("utf-8")
    )
    pages = {
        language: _render(template, DEMO_SHOP[language], language, site_key)
        for language in Language
    }

    async def shop(request: web.Request) -> web.Response:
        language = pick_language(request.query.get("lang"), request.headers.get("Accept-Language"))
        return web.Response(text=pages[language], content_type="text/html", charset="utf-8")

    app.router.add_get(PATH, shop, name="demoShop")


def _render(template: Template, texts: DemoShopTexts, language: Language, site_key: str) -> str:
    products = "".join(
        f'<article class="card"><div class="swatch" style="background:{escape(p.colour)}">'
        f"<span></span></div><h2>{escape(p.name)}</h2>"
        f'<p class="price">{escape(p.price)}</p>'
        f'<button type="button">{escape(texts.add_to_cart)}</button></article>'
        for p in texts.products
    )
    return template.substitute(
        lang=language.value,
        site_key=escape(site_key),
        shop=escape(texts.shop),
        tagline=escape(texts.tagline),
        nav="".join(f'<a href="#">{escape(item)}</a>' for item in texts.nav),
        hero_title=escape(texts.hero_title),
        hero_text=escape(texts.hero_text),
        products=products,
        help=escape(texts.help),
        footer=escape(texts.footer),
    )
