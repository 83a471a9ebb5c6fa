"""Twilio's webhooks through a real aiohttp server: recorded payloads, malformed ones, callbacks."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient

from adapters.channels import twilio
from adapters.settings import Settings
from adapters.web.errors import json_errors
from adapters.web.keys import INBOUND, SETTINGS
from crm.models import Channel, DeliveryStatus
from dialogue.messages import DeliveryUpdate, Inbound, Media
from dialogue.ports import InboundSink
from tests.channels.sink import RecordingSink
from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    inbound_form,
    signed_webhook,
)

Client = TestClient[web.Request, web.Application]

FIXTURES = Path(__file__).parent.parent / "fixtures" / "twilio"
PUBLIC = "https://hub.example.com"
SMS_FROM = "+15017122661"
WHATSAPP_FROM = "whatsapp:+14155238886"
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _fixture(kind: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / kind / f"{name}.json").read_text())
    return data


def _names(kind: str) -> list[str]:
    return sorted(path.stem for path in (FIXTURES / kind).glob("*.json"))


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_SMS_FROM": SMS_FROM,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "OMNIHUB_PUBLIC_URL": PUBLIC,
    }
    values.update(overrides)
    return Settings(**values)


def hub_app(settings: Settings, sink: InboundSink) -> web.Application:
    """The smallest app that carries the Twilio routes, as create_app will."""
    app = web.Application(middlewares=[json_errors])
    app[SETTINGS] = settings
    app[INBOUND] = sink
    twilio.add_routes(app)
    return app


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, sink: RecordingSink) -> Client:
    return await aiohttp_client(hub_app(_settings(), sink))


async def _post_signed(
    client: Client, path: str, form: dict[str, str], *, public: str = PUBLIC
) -> tuple[int, str]:
    request = signed_webhook(public + path, form)
    async with client.post(path, data=request.form, headers=request.headers) as response:
        return response.status, await response.text()


EXPECTED_INBOUND = {
    "sms_text": Inbound(
        channel=Channel.SMS,
        provider_id="SMc7b2bc23f6f0a7c254bff259a486d011",
        address="+34612345678",
        text="Hola, ¿dónde está mi pedido 10234?",
        vouched_phone="+34612345678",
    ),
    "whatsapp_text": Inbound(
        channel=Channel.WHATSAPP,
        provider_id="SM06e7aa7a87015377f00a9825e4cf19f9",
        address="+5511987654321",
        text="Oi! Vocês têm o tênis azul no tamanho 42?",
        display_name="João Silva",
        vouched_phone="+5511987654321",
    ),
    "whatsapp_button": Inbound(
        channel=Channel.WHATSAPP,
        provider_id="SMcdf2b66aa008cbb00b3a4406a75f0aa1",
        address="+351912345678",
        text="Sim, reservar",
        payload="reserve:confirm",
        display_name="Ana Sousa",
        vouched_phone="+351912345678",
    ),
    "mms_two_media": Inbound(
        channel=Channel.SMS,
        provider_id="MMaa9646e4129b3ea65d4459900cddd7f4",
        address="+34612345678",
        text="Así llegó la caja",
        media=(
            Media(
                url=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/"
                "MMaa9646e4129b3ea65d4459900cddd7f4/Media/ME0f4c1a3b5d7e9f1a2b3c4d5e6f7a8b9c",
                content_type="image/jpeg",
            ),
            Media(
                url=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/"
                "MMaa9646e4129b3ea65d4459900cddd7f4/Media/ME1a2b3c4d5e6f708192a3b4c5d6e7f809",
                content_type="image/png",
            ),
        ),
        vouched_phone="+34612345678",
    ),
}


def test_every_inbound_fixture_has_an_expectation() -> None:
    assert set(_names("inbound")) == set(EXPECTED_INBOUND)


@pytest.mark.parametrize("name", sorted(EXPECTED_INBOUND))
async def test_inbound_fixture_parses_to_its_message(
    client: Client, sink: RecordingSink, name: str
) -> None:
    status, body = await _post_signed(client, "/webhooks/twilio", _fixture("inbound", name)["form"])
    assert (status, body) == (200, TWIML)
    assert sink.inbound == [EXPECTED_INBOUND[name]]
    assert sink.updates == []


async def test_the_answer_is_empty_twiml(client: Client) -> None:
    request = signed_webhook(PUBLIC + "/webhooks/twilio", _fixture("inbound", "sms_text")["form"])
    async with client.post("/webhooks/twilio", data=request.form, headers=request.headers) as r:
        assert r.status == 200
        assert r.content_type == "text/xml"


async def test_a_retry_of_the_same_message_sid_is_accepted_once(
    client: Client, sink: RecordingSink
) -> None:
    form = _fixture("inbound", "sms_text")["form"]
    first = await _post_signed(client, "/webhooks/twilio", form)
    retry = await _post_signed(client, "/webhooks/twilio", form)
    # Twilio must see success both times, or it retries again.
    assert first == retry == (200, TWIML)
    assert [inbound.provider_id for inbound in sink.inbound] == [form["MessageSid"]]


def test_the_malformed_fixtures_cover_every_kind_of_bad_input() -> None:
    assert {
        "no_signature",
        "forged_signature",
        "signature_for_other_path",
        "signature_for_seen_host",
        "missing_from",
        "missing_message_sid",
        "bad_phone",
        "wrong_content_type",
        "unknown_to",
    } <= set(_names("malformed"))


@pytest.mark.parametrize("name", _names("malformed"))
async def test_malformed_fixture_gets_its_4xx_and_changes_nothing(
    client: Client, sink: RecordingSink, name: str
) -> None:
    fixture = _fixture("malformed", name)
    path: str = fixture["path"]
    form: dict[str, str] = fixture["form"]
    headers = _signature_headers(fixture["signature"], path, form, str(client.make_url(path)))
    if "content_type" in fixture:
        headers["Content-Type"] = fixture["content_type"]
        sent: Any = json.dumps(form)
    elif fixture["signature"] == "tampered":
        sent = {**form, "Body": form["Body"] + " (changed)"}
    else:
        sent = form
    async with client.post(path, data=sent, headers=headers) as response:
        assert response.status == fixture["status"]
        assert fixture["error"] in (await response.json())["error"]
    assert sink.inbound == []
    assert sink.updates == []


def _signature_headers(kind: str, path: str, form: dict[str, str], seen: str) -> dict[str, str]:
    """The X-Twilio-Signature header a malformed fixture calls for."""
    if kind == "missing":
        return {}
    url = {
        "other_url": PUBLIC + "/webhooks/twilio/status",
        "seen_host": seen,
    }.get(kind, PUBLIC + path)
    token = "0" * 32 if kind == "forged" else AUTH_TOKEN
    return signed_webhook(url, form, token).headers


@pytest.mark.parametrize("path", ["/webhooks/twilio", "/webhooks/twilio/status"])
@pytest.mark.parametrize("unset", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])
async def test_the_channel_is_off_without_credentials(
    aiohttp_client: AiohttpClient, sink: RecordingSink, path: str, unset: str
) -> None:
    client = await aiohttp_client(hub_app(_settings(**{unset: None}), sink))
    form = _fixture("inbound", "sms_text")["form"]
    status, body = await _post_signed(client, path, form)
    assert status == 404
    assert json.loads(body) == {"error": "the Twilio channel is off"}
    assert sink.inbound == []


async def test_a_channel_without_its_number_is_unknown(
    aiohttp_client: AiohttpClient, sink: RecordingSink
) -> None:
    client = await aiohttp_client(hub_app(_settings(TWILIO_WHATSAPP_FROM=None), sink))
    status, body = await _post_signed(
        client, "/webhooks/twilio", _fixture("inbound", "whatsapp_text")["form"]
    )
    assert status == 404
    assert "unknown channel" in json.loads(body)["error"]
    assert sink.inbound == []


async def test_the_query_string_is_part_of_the_signed_url(
    client: Client, sink: RecordingSink
) -> None:
    form = _fixture("inbound", "sms_text")["form"]
    assert await _post_signed(client, "/webhooks/twilio?shop=es", form) == (200, TWIML)
    request = signed_webhook(PUBLIC + "/webhooks/twilio", form)
    # The same signature without the query Twilio was configured with is not valid.
    async with client.post(
        "/webhooks/twilio?shop=pt", data=request.form, headers=request.headers
    ) as response:
        assert response.status == 403
    assert len(sink.inbound) == 1


async def test_a_public_url_with_a_path_prefix_signs_the_whole_url(
    aiohttp_client: AiohttpClient, sink: RecordingSink
) -> None:
    # A reverse proxy publishing the hub under /hub and stripping the prefix.
    public = "https://shop.example.com/hub"
    client = await aiohttp_client(hub_app(_settings(OMNIHUB_PUBLIC_URL=public), sink))
    form = _fixture("inbound", "sms_text")["form"]
    assert await _post_signed(client, "/webhooks/twilio", form, public=public) == (200, TWIML)
    assert len(sink.inbound) == 1


async def test_configured_numbers_match_however_they_are_written(
    aiohttp_client: AiohttpClient, sink: RecordingSink
) -> None:
    settings = _settings(TWILIO_SMS_FROM="+1 501-712-2661", TWILIO_WHATSAPP_FROM="+14155238886")
    client = await aiohttp_client(hub_app(settings, sink))
    for name in ("sms_text", "whatsapp_text"):
        form = _fixture("inbound", name)["form"]
        assert await _post_signed(client, "/webhooks/twilio", form) == (200, TWIML)
    assert [inbound.channel for inbound in sink.inbound] == [Channel.SMS, Channel.WHATSAPP]


async def test_a_message_the_router_could_not_store_is_not_acknowledged(
    aiohttp_client: AiohttpClient,
) -> None:
    class BrokenSink(RecordingSink):
        async def receive(self, inbound: Inbound) -> None:
            raise RuntimeError("database down")

    client = await aiohttp_client(hub_app(_settings(), BrokenSink()))
    status, body = await _post_signed(
        client, "/webhooks/twilio", _fixture("inbound", "sms_text")["form"]
    )
    # Anything but 2xx makes Twilio deliver the message again later.
    assert status == 500
    assert body != TWIML


async def test_an_oversized_body_is_refused(client: Client, sink: RecordingSink) -> None:
    form = inbound_form(from_="+34612345678", to=SMS_FROM, body="x" * (2 * 1024 * 1024))
    request = signed_webhook(PUBLIC + "/webhooks/twilio", form)
    headers = {**request.headers, "Content-Type": "application/x-www-form-urlencoded"}
    body = io.BytesIO(urlencode(request.form).encode())
    async with client.post("/webhooks/twilio", data=body, headers=headers) as response:
        assert response.status == 413
    assert sink.inbound == []


async def test_the_inbound_builder_makes_webhooks_the_hub_accepts(
    client: Client, sink: RecordingSink
) -> None:
    form = inbound_form(
        from_="whatsapp:+34612345678",
        to=WHATSAPP_FROM,
        body="",
        profile_name="Lucía",
        button=("Ver pedido", "order:10234"),
    )
    assert await _post_signed(client, "/webhooks/twilio", form) == (200, TWIML)
    (inbound,) = sink.inbound
    assert inbound.text == "Ver pedido"
    assert inbound.payload == "order:10234"
    assert inbound.display_name == "Lucía"


EXPECTED_UPDATES = {
    "sms_sent": DeliveryUpdate(
        Channel.SMS, "SM75ebd882ab29ef61b7ef79ee93135bc8", DeliveryStatus.SENT
    ),
    "sms_delivered": DeliveryUpdate(
        Channel.SMS, "SM75ebd882ab29ef61b7ef79ee93135bc8", DeliveryStatus.DELIVERED
    ),
    "sms_undelivered": DeliveryUpdate(
        Channel.SMS, "SM9417b18cfaba651f706cb3ed1e2733c0", DeliveryStatus.UNDELIVERED, "30003"
    ),
    "whatsapp_read": DeliveryUpdate(
        Channel.WHATSAPP, "SMedae0f2ebd186140de63c4a36042d670", DeliveryStatus.READ
    ),
    "whatsapp_failed_outside_window": DeliveryUpdate(
        Channel.WHATSAPP, "SM14b573463ad1c3516f2d1e442a0ef956", DeliveryStatus.FAILED, "63016"
    ),
}


def test_every_status_fixture_has_an_expectation() -> None:
    assert set(_names("status")) == {*EXPECTED_UPDATES, "unknown_status"}


@pytest.mark.parametrize("name", sorted(EXPECTED_UPDATES))
async def test_status_callback_becomes_a_delivery_update(
    client: Client, sink: RecordingSink, name: str
) -> None:
    form = _fixture("status", name)["form"]
    status, _ = await _post_signed(client, "/webhooks/twilio/status", form)
    assert status == 200
    assert sink.updates == [EXPECTED_UPDATES[name]]
    assert sink.inbound == []


async def test_an_unknown_status_is_acknowledged_ignored_and_logged(
    client: Client, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    form = _fixture("status", "unknown_status")["form"]
    with caplog.at_level(logging.WARNING, logger="adapters.channels.twilio"):
        status, _ = await _post_signed(client, "/webhooks/twilio/status", form)
    assert status == 200
    assert sink.updates == []
    assert "'canceled'" in caplog.text
    assert form["MessageSid"] in caplog.text


# --- bodies the hub cannot decode ----------------------------------------------------


def _form_bytes(form: dict[str, str], how: str) -> bytes:
    """The form as a client would put it on the wire: `how` is "escaped|raw ENCODING"."""
    style, encoding = how.split(" ")
    if style == "escaped":
        return urlencode(form, encoding=encoding).encode("ascii")
    return "&".join(f"{name}={value}" for name, value in form.items()).encode(encoding)


@pytest.mark.parametrize("name", _names("undecodable"))
async def test_a_body_the_hub_cannot_decode_gets_its_4xx_and_changes_nothing(
    client: Client, sink: RecordingSink, name: str
) -> None:
    fixture = _fixture("undecodable", name)
    path: str = fixture["path"]
    request = signed_webhook(PUBLIC + path, fixture["form"])
    headers = {**request.headers, "Content-Type": fixture["content_type"]}
    body = _form_bytes(fixture["form"], fixture["bytes"])
    async with client.post(path, data=body, headers=headers) as response:
        assert response.status == fixture["status"]
        assert fixture["error"] in (await response.json())["error"]
    assert sink.inbound == []


async def test_a_form_signed_in_the_charset_it_declares_is_read(
    client: Client, sink: RecordingSink
) -> None:
    form = {**_fixture("inbound", "sms_text")["form"], "Body": "¿Dónde está?"}
    request = signed_webhook(PUBLIC + "/webhooks/twilio", form)
    headers = {
        **request.headers,
        "Content-Type": "application/x-www-form-urlencoded; charset=ISO-8859-1",
    }
    body = _form_bytes(form, "escaped latin-1")
    async with client.post("/webhooks/twilio", data=body, headers=headers) as response:
        assert response.status == 200
    assert [inbound.text for inbound in sink.inbound] == ["¿Dónde está?"]


async def test_a_status_callback_the_hub_cannot_decode_is_refused(
    client: Client, sink: RecordingSink
) -> None:
    form = _fixture("status", "sms_delivered")["form"]
    request = signed_webhook(PUBLIC + "/webhooks/twilio/status", form)
    headers = {**request.headers, "Content-Type": "application/x-www-form-urlencoded; charset=x"}
    body = _form_bytes(form, "escaped utf-8")
    async with client.post("/webhooks/twilio/status", data=body, headers=headers) as response:
        assert response.status == 415
    assert sink.updates == []
