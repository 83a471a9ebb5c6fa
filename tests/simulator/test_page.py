"""The simulator page's routes: the page per language, the live stream, and refused requests."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from aiohttp import ClientResponse

from adapters.simulator.events import Status
from adapters.simulator.page import (
    EVENTS_PATH,
    PAGE_PATH,
    SCRIPT_PATH,
    SEND_PATH,
    SendError,
    _script_json,
)
from adapters.simulator.texts import TEXTS
from crm.db import Database
from crm.models import Language, Message
from tests.simulator.conftest import Simulation, count, simulate

_CONFIG = re.compile(r'<script type="application/json" id="simulator-config">(.*?)</script>', re.S)


async def _page(simulation: Simulation, query: str = "", **headers: str) -> tuple[str, Any]:
    response = await simulation.hub.get(PAGE_PATH + query, headers=headers)
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    html = await response.text()
    match = _CONFIG.search(html)
    assert match is not None
    return html, json.loads(match.group(1))


@pytest.mark.parametrize(
    ("query", "accept_language", "language"),
    [
        ("?lang=es", "en-GB,en", Language.ES),
        ("?lang=pt", "", Language.PT),
        ("", "pt-BR,pt;q=0.9,en;q=0.8", Language.PT),
        ("", "es-MX,es;q=0.9", Language.ES),
        ("", "de-DE,fr;q=0.5", Language.EN),
        ("", "en;q=0.2, es;q=0.8", Language.ES),  # ranked by q-value, as everywhere
        ("?lang=xx", "", Language.EN),
    ],
)
async def test_the_page_speaks_the_asked_or_the_browsers_language(
    simulation: Simulation, query: str, accept_language: str, language: Language
) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    html, config = await _page(simulation, query, **headers)
    assert f'<html lang="{language.value}">' in html
    assert f"<h1>{TEXTS[language].title}</h1>" in html
    assert config["lang"] == language.value
    assert config["texts"]["send"] == TEXTS[language].send
    assert [(c["id"], c["simulated"]) for c in config["channels"]] == [
        ("sms", True),
        ("whatsapp", True),
        ("telegram", True),
    ]


async def test_the_script_is_served(simulation: Simulation) -> None:
    response = await simulation.hub.get(SCRIPT_PATH)
    assert response.status == 200
    assert response.content_type == "text/javascript"
    script = await response.text()
    # Text from customers and the hub is never parsed as markup.
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script


def test_page_data_cannot_close_its_script_element() -> None:
    embedded = _script_json({"name": "</script><script>alert(1)</script> & \u2028"})
    assert "<" not in embedded
    assert ">" not in embedded
    assert "&" not in embedded
    assert "\u2028" not in embedded
    assert json.loads(embedded) == {"name": "</script><script>alert(1)</script> & \u2028"}


def test_every_status_and_refusal_has_words_in_every_language() -> None:
    for language in Language:
        texts = TEXTS[language]
        assert set(texts.status) == {status.value for status in Status}, language
        assert set(texts.errors) >= {error.value for error in SendError}, language
        assert all(texts.to_json().values()), language


async def test_channels_with_real_credentials_are_not_simulated(
    database_url: str, db: Database
) -> None:
    real_twilio = {
        "TWILIO_ACCOUNT_SID": "AC" + "2" * 32,
        "TWILIO_AUTH_TOKEN": "a-real-token",
        "TWILIO_SMS_FROM": "+14155550100",
    }
    async with simulate(database_url, environment=real_twilio) as simulation:
        _, config = await _page(simulation)
        assert [(c["id"], c["simulated"]) for c in config["channels"]] == [
            ("sms", False),
            ("whatsapp", False),
            ("telegram", True),
        ]
        assert await simulation.act(channel="sms", phone="+34612489327", text="hola") == (
            409,
            {"error": "not_simulated"},
        )
        assert await count(db, Message) == 0


@pytest.mark.parametrize(
    ("action", "status", "error"),
    [
        ({"channel": "sms", "phone": "12", "text": "hola"}, 422, "invalid_phone"),
        ({"channel": "sms", "phone": "+34612489327", "text": "  "}, 422, "empty_text"),
        ({"channel": "sms", "phone": "+34612489327", "text": "x" * 1601}, 422, "too_long"),
        ({"channel": "sms", "phone": "+34612489327", "kind": "contact"}, 400, "bad_request"),
        ({"channel": "sms", "phone": "+34612489327", "text": "a", "to": "x"}, 400, "bad_request"),
        ({"channel": "webchat", "text": "hola"}, 400, "bad_request"),
        ({"channel": "telegram", "name": "Carlos", "text": "hola"}, 422, "bad_user_id"),
        ({"channel": "telegram", "user_id": -5, "name": "C", "text": "hola"}, 422, "bad_user_id"),
        ({"channel": "telegram", "user_id": 5, "name": " ", "text": "hola"}, 422, "bad_name"),
        (
            {"channel": "telegram", "user_id": 5, "name": "C", "kind": "contact", "phone": "x"},
            422,
            "invalid_phone",
        ),
        (
            {"channel": "telegram", "user_id": 5, "name": "C", "kind": "press", "data": "a"},
            400,
            "bad_request",
        ),
        (
            {
                "channel": "telegram",
                "user_id": 5,
                "name": "C",
                "kind": "press",
                "message_id": 1,
                "data": "a",
            },
            404,
            "unknown_button",
        ),
    ],
)
async def test_requests_the_hub_could_not_have_received_are_refused(
    simulation: Simulation, db: Database, action: dict[str, Any], status: int, error: str
) -> None:
    assert await simulation.act(**action) == (status, {"error": error})
    assert simulation.providers.events.since() == []
    assert await count(db, Message) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[]", "application/json", 400),
        # What another site's form could send without the browser asking first.
        (b'{"channel": "sms", "phone": "+34612489327", "text": "hi"}', "text/plain", 415),
        (b"channel=sms&phone=%2B34612489327&text=hi", "application/x-www-form-urlencoded", 415),
    ],
)
async def test_a_body_that_is_not_the_pages_json_is_refused(
    simulation: Simulation, db: Database, body: bytes, content_type: str, status: int
) -> None:
    response = await simulation.hub.post(
        SEND_PATH, data=body, headers={"Content-Type": content_type}
    )
    assert response.status == status
    assert await response.json() == {"error": "bad_request"}
    assert await count(db, Message) == 0


async def _next_event(stream: ClientResponse) -> dict[str, Any]:
    """The next event on a server-sent event stream (comments and retry lines skipped)."""
    data: dict[str, Any] | None = None
    async with asyncio.timeout(10):
        while True:
            line = (await stream.content.readline()).decode().rstrip("\n")
            if line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
            elif line == "" and data is not None:
                return data


async def test_the_stream_replays_what_happened_then_goes_live(simulation: Simulation) -> None:
    await simulation.act(channel="sms", phone="+34612489327", text="hola")
    async with simulation.hub.get(EVENTS_PATH) as stream:
        assert stream.content_type == "text/event-stream"
        first = await _next_event(stream)
        assert (first["type"], first["direction"], first["text"]) == ("message", "in", "hola")
        assert first["channel"] == "sms"
        assert first["customer"] == "+34612489327"
        # Live from here: the hub's reply is reported delivered.
        while True:
            event = await _next_event(stream)
            if event["type"] == "status" and event["status"] == "delivered":
                break
        last_id = event["id"]

    await simulation.act(channel="sms", phone="+34612489327", text="¿sigues ahí?")
    headers = {"Last-Event-ID": str(last_id)}
    async with simulation.hub.get(EVENTS_PATH, headers=headers) as stream:
        event = await _next_event(stream)
        assert event["id"] == last_id + 1
        assert (event["direction"], event["text"]) == ("in", "¿sigues ahí?")
