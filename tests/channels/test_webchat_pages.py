"""GET /webchat/widget.js, its texts, and the demo shop page at GET /demo/shop."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient

from adapters.channels.webchat import add_demo_routes
from crm.db import Database
from dialogue.local_bus import InProcessBus
from tests.channels.sink import RecordingSink
from tests.channels.webchat_harness import webchat_app

Client = TestClient[web.Request, web.Application]
WIDGET = Path(__file__).parents[2] / "adapters" / "channels" / "webchat" / "static" / "widget.js"


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, db: Database) -> Client:
    app = webchat_app(db, RecordingSink(), InProcessBus())
    add_demo_routes(app, 'wcs_demo"key')
    return await aiohttp_client(app)


async def test_the_widget_script_is_served_cacheably(client: Client) -> None:
    response = await client.get("/webchat/widget.js")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    script = await response.text()
    assert "attachShadow" in script
    # Text reaches the page through textContent only; not even the icon uses markup.
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script
    again = await client.get(
        "/webchat/widget.js", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status == 304


def test_every_widget_text_is_written_in_the_three_languages() -> None:
    script = WIDGET.read_text()
    block = script[script.index("const TEXTS = {") : script.index("\n  };\n")]
    languages: dict[str, set[str]] = {}
    for line in block.splitlines():
        if opened := re.fullmatch(r"    (\w\w): \{", line):
            current = languages.setdefault(opened[1], set())
        elif key := re.match(r"      (\w+):", line):
            current.add(key[1])
    assert set(languages) == {"en", "es", "pt"}
    assert languages["es"] == languages["pt"] == languages["en"]
    assert set(re.findall(r"\bt\.(\w+)", script)) <= languages["en"]


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [
        ("?lang=es", {}, "Añadir a la cesta"),
        ("?lang=pt", {}, "Adicionar ao carrinho"),
        ("?lang=en", {}, "Add to cart"),
        ("", {"Accept-Language": "pt-BR,pt;q=0.9"}, "Adicionar ao carrinho"),
        # Ranked by q-value, as the inbox's sign-in page reads it: one parser for both.
        ("", {"Accept-Language": "en;q=0.3, pt-BR;q=0.9"}, "Adicionar ao carrinho"),
        ("?lang=de", {}, "Add to cart"),
    ],
)
async def test_the_demo_shop_speaks_three_languages(
    client: Client, query: str, headers: dict[str, str], expected: str
) -> None:
    response = await client.get(f"/demo/shop{query}", headers=headers)
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert expected in page
    # The site key is an attribute value: escaped, so it cannot break out of it.
    assert 'data-site-key="wcs_demo&quot;key"' in page
    assert '<script async src="/webchat/widget.js"' in page
