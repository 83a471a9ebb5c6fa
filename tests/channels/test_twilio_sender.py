"""The Twilio senders, driven by the real twilio library against the fake Twilio API."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp.plugin import AiohttpServer
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from adapters.channels import twilio
from adapters.channels.twilio import TwilioSender
from adapters.settings import Settings
from crm.models import Channel, DeliveryStatus
from dialogue.messages import DeliveryUpdate, Outgoing, SendReceipt, Template
from dialogue.ports import (
    ChannelSender,
    OutsideWindow,
    PermanentSendError,
    RecipientOptedOut,
    SendError,
    TransientSendError,
)
from tests.channels.sink import RecordingSink
from tests.channels.test_twilio_webhooks import hub_app
from tests.fakes.twilio_api import (
    OPTED_OUT,
    OUTSIDE_WINDOW,
    RATE_LIMITED,
    SERVER_ERROR,
    Failure,
    FakeTwilioApi,
    segments,
    signed_webhook,
)

PUBLIC = "https://hub.example.com"
SMS_FROM = "+15017122661"
WHATSAPP_FROM = "whatsapp:+14155238886"
STATUS_CALLBACK = PUBLIC + "/webhooks/twilio/status"
OTHER_ACCOUNT = "AC" + "1" * 32
NOT_ENABLED = Failure(400, 21408, "Permission to send an SMS has not been enabled")


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test on any lookup or connection beyond 127.0.0.1, as a misrouted send makes."""
    attempts: list[object] = []
    connect = socket.socket.connect
    getaddrinfo = socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in _LOOPBACK:
            attempts.append(address)
            raise ConnectionRefusedError(f"no network in tests: {address!r}")
        connect(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOOPBACK:
            attempts.append(host)
            raise socket.gaierror(f"no DNS in tests: {host!r}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield
    assert attempts == [], f"tests tried to reach the network: {attempts}"


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", None})


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilioApi]:
    async with FakeTwilioApi(numbers=[SMS_FROM, WHATSAPP_FROM]) as api:
        yield api


def _settings(fake: FakeTwilioApi, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        **fake.environment(),
        "TWILIO_SMS_FROM": SMS_FROM,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "OMNIHUB_PUBLIC_URL": PUBLIC,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def by_channel(fake: FakeTwilioApi) -> AsyncIterator[dict[Channel, ChannelSender]]:
    built = twilio.senders(_settings(fake))
    yield {sender.channel: sender for sender in built}
    await _close(built)


async def _close(senders: list[ChannelSender]) -> None:
    for sender in senders:
        assert isinstance(sender, TwilioSender)
        await sender.aclose()


def _outgoing(channel: Channel, address: str, text: str = "Tu pedido 10234 ya salió") -> Outgoing:
    return Outgoing(message_id=1, channel=channel, address=address, text=text)


def test_senders_exist_only_for_configured_numbers() -> None:
    both = twilio.senders(
        Settings(
            TWILIO_ACCOUNT_SID=OTHER_ACCOUNT,
            TWILIO_AUTH_TOKEN="t",
            TWILIO_SMS_FROM=SMS_FROM,
            TWILIO_WHATSAPP_FROM=WHATSAPP_FROM,
        )
    )
    assert [sender.channel for sender in both] == [Channel.SMS, Channel.WHATSAPP]
    sms_only = twilio.senders(
        Settings(TWILIO_ACCOUNT_SID=OTHER_ACCOUNT, TWILIO_AUTH_TOKEN="t", TWILIO_SMS_FROM=SMS_FROM)
    )
    assert [sender.channel for sender in sms_only] == [Channel.SMS]
    off = Settings(TWILIO_ACCOUNT_SID=None, TWILIO_AUTH_TOKEN=None, TWILIO_SMS_FROM=SMS_FROM)
    assert twilio.senders(off) == []


def test_capabilities_are_free_form_text(by_channel: dict[Channel, ChannelSender]) -> None:
    for sender in by_channel.values():
        capabilities = sender.capabilities
        assert (capabilities.max_buttons, capabilities.max_length, capabilities.typing) == (
            0,
            1600,
            False,
        )


async def test_an_sms_goes_out_with_the_status_callback(
    fake: FakeTwilioApi, by_channel: dict[Channel, ChannelSender]
) -> None:
    receipt = await by_channel[Channel.SMS].send(_outgoing(Channel.SMS, "+34612345678"))
    (message,) = fake.messages
    assert receipt == SendReceipt(provider_id=message.sid, status=DeliveryStatus.QUEUED)
    assert message.sid.startswith("SM")
    assert len(message.sid) == 34
    assert (message.to, message.from_, message.body) == (
        "+34612345678",
        SMS_FROM,
        "Tu pedido 10234 ya salió",
    )
    assert message.status_callback == STATUS_CALLBACK


async def test_a_whatsapp_message_carries_the_prefix(
    fake: FakeTwilioApi, by_channel: dict[Channel, ChannelSender]
) -> None:
    receipt = await by_channel[Channel.WHATSAPP].send(
        _outgoing(Channel.WHATSAPP, "+5511987654321", "Olá João! 👟")
    )
    (message,) = fake.messages
    assert receipt.provider_id == message.sid
    assert (message.to, message.from_) == ("whatsapp:+5511987654321", WHATSAPP_FROM)
    assert message.status_callback == STATUS_CALLBACK


async def test_a_whatsapp_template_goes_as_its_content_sid_and_values_without_body(
    fake: FakeTwilioApi, by_channel: dict[Channel, ChannelSender]
) -> None:
    template = Template("HX0e5d0a6f7c8b9a0d1e2f3a4b5c6d7e8f", {"1": "João"})
    outgoing = Outgoing(
        message_id=7,
        channel=Channel.WHATSAPP,
        address="+5511987654321",
        text="Olá João, continuamos com o seu pedido.",
        template=template,
    )
    await by_channel[Channel.WHATSAPP].send(outgoing)
    (message,) = fake.messages
    assert (message.body, message.content_sid) == (None, template.content_sid)
    assert json.loads(message.content_variables or "") == {"1": "João"}

    sms = Outgoing(message_id=8, channel=Channel.SMS, address="+34612345678", text="x",
                   template=template)  # fmt: skip
    with pytest.raises(PermanentSendError):
        await by_channel[Channel.SMS].send(sms)


async def test_a_whatsapp_number_configured_without_prefix_still_sends_as_whatsapp(
    fake: FakeTwilioApi,
) -> None:
    built = twilio.senders(_settings(fake, TWILIO_WHATSAPP_FROM="+14155238886"))
    try:
        whatsapp = next(s for s in built if s.channel is Channel.WHATSAPP)
        await whatsapp.send(_outgoing(Channel.WHATSAPP, "+5511987654321"))
    finally:
        await _close(built)
    assert fake.messages[0].from_ == WHATSAPP_FROM


@pytest.mark.parametrize(
    ("failure", "error", "code"),
    [
        (OPTED_OUT, RecipientOptedOut, "21610"),
        (OUTSIDE_WINDOW, OutsideWindow, "63016"),
        (RATE_LIMITED, TransientSendError, "20429"),
        (SERVER_ERROR, TransientSendError, "20500"),
        (Failure(503, 20503, "Service Unavailable"), TransientSendError, "20503"),
        (
            Failure(400, 21408, "Permission to send an SMS has not been enabled"),
            PermanentSendError,
            "21408",
        ),
    ],
)
async def test_twilio_errors_become_typed_send_errors(
    fake: FakeTwilioApi,
    by_channel: dict[Channel, ChannelSender],
    failure: Failure,
    error: type[SendError],
    code: str,
) -> None:
    fake.fail_next(failure)
    with pytest.raises(error) as raised:
        await by_channel[Channel.SMS].send(_outgoing(Channel.SMS, "+34612345678"))
    assert type(raised.value) is error
    assert raised.value.code == code
    assert fake.messages == []


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), (None, None), ("soon", None)])
async def test_a_rate_limit_says_when_to_retry(
    fake: FakeTwilioApi,
    by_channel: dict[Channel, ChannelSender],
    header: str | None,
    seconds: float | None,
) -> None:
    fake.fail_next(Failure(429, 20429, "Too Many Requests", retry_after=header))
    with pytest.raises(TransientSendError) as raised:
        await by_channel[Channel.SMS].send(_outgoing(Channel.SMS, "+34612345678"))
    assert raised.value.retry_after == seconds


async def test_a_transient_failure_then_a_success(
    fake: FakeTwilioApi, by_channel: dict[Channel, ChannelSender]
) -> None:
    fake.fail_next(SERVER_ERROR)
    sms = by_channel[Channel.SMS]
    with pytest.raises(TransientSendError):
        await sms.send(_outgoing(Channel.SMS, "+34612345678"))
    receipt = await sms.send(_outgoing(Channel.SMS, "+34612345678"))
    assert [message.sid for message in fake.messages] == [receipt.provider_id]
    assert fake.requests == 2


async def test_the_fake_validates_like_twilio(
    fake: FakeTwilioApi, by_channel: dict[Channel, ChannelSender]
) -> None:
    with pytest.raises(PermanentSendError) as raised:
        await by_channel[Channel.SMS].send(_outgoing(Channel.SMS, "+1555"))
    assert raised.value.code == "21211"
    with pytest.raises(PermanentSendError) as raised:
        await by_channel[Channel.SMS].send(_outgoing(Channel.SMS, "+34612345678", "x" * 1601))
    assert raised.value.code == "21617"
    assert fake.messages == []


async def test_wrong_credentials_are_a_permanent_error(fake: FakeTwilioApi) -> None:
    built = twilio.senders(_settings(fake, TWILIO_AUTH_TOKEN="not-the-token"))
    try:
        with pytest.raises(PermanentSendError) as raised:
            await built[0].send(_outgoing(Channel.SMS, "+34612345678"))
    finally:
        await _close(built)
    assert raised.value.code == "20003"
    assert fake.messages == []


async def test_a_silent_twilio_times_out_as_transient(fake: FakeTwilioApi) -> None:
    built = twilio.senders(_settings(fake), timeout=0.2)
    fake.stall_next()
    try:
        with pytest.raises(TransientSendError, match="in time"):
            await built[0].send(_outgoing(Channel.SMS, "+34612345678"))
    finally:
        await _close(built)


async def test_an_unreachable_twilio_is_transient(fake: FakeTwilioApi) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    built = twilio.senders(
        _settings(fake, OMNIHUB_TWILIO_API_URL=f"http://127.0.0.1:{closed_port}")
    )
    try:
        with pytest.raises(TransientSendError, match="unreachable") as raised:
            await built[0].send(_outgoing(Channel.SMS, "+34612345678"))
    finally:
        await _close(built)
    assert isinstance(raised.value.__cause__, aiohttp.ClientError)


async def test_concurrent_sends_share_one_client(
    fake: FakeTwilioApi, by_channel: dict[Channel, ChannelSender]
) -> None:
    fake.fail_next(RATE_LIMITED)
    sms, whatsapp = by_channel[Channel.SMS], by_channel[Channel.WHATSAPP]
    results = await asyncio.gather(
        *(sms.send(_outgoing(Channel.SMS, "+34612345678", f"sms {n}")) for n in range(5)),
        *(
            whatsapp.send(_outgoing(Channel.WHATSAPP, "+5511987654321", f"wa {n}"))
            for n in range(5)
        ),
        return_exceptions=True,
    )
    limited = [result for result in results if isinstance(result, TransientSendError)]
    receipts = [result for result in results if isinstance(result, SendReceipt)]
    assert len(limited) == 1
    assert len(receipts) == 9
    assert {receipt.provider_id for receipt in receipts} == {m.sid for m in fake.messages}


async def test_aclose_is_idempotent_and_final(fake: FakeTwilioApi) -> None:
    built = twilio.senders(_settings(fake))
    await built[0].send(_outgoing(Channel.SMS, "+34612345678"))
    await _close(built)
    await _close(built)
    with pytest.raises(RuntimeError, match="closed"):
        await built[0].send(_outgoing(Channel.SMS, "+34612345678"))


async def test_the_fakes_status_callbacks_pass_the_webhooks_signature_check(
    fake: FakeTwilioApi,
    by_channel: dict[Channel, ChannelSender],
    aiohttp_server: AiohttpServer,
) -> None:
    sink = RecordingSink()
    server = await aiohttp_server(hub_app(_settings(fake), sink))
    # Twilio calls the public URL; a proxy hands the call to the hub, which checks the
    # signature against the public URL, not the 127.0.0.1 address it listens on.
    fake.forward(PUBLIC, str(server.make_url("")))
    sms = await by_channel[Channel.SMS].send(_outgoing(Channel.SMS, "+34612345678"))
    whatsapp = await by_channel[Channel.WHATSAPP].send(
        _outgoing(Channel.WHATSAPP, "+5511987654321")
    )
    assert await fake.callback(sms.provider_id, "sent") == 200
    assert await fake.deliver(sms.provider_id) == 200
    assert await fake.read(whatsapp.provider_id) == 200
    assert await fake.fail(whatsapp.provider_id, "63016") == 200
    assert await fake.undeliver(sms.provider_id) == 200
    assert sink.updates == [
        DeliveryUpdate(Channel.SMS, sms.provider_id, DeliveryStatus.SENT),
        DeliveryUpdate(Channel.SMS, sms.provider_id, DeliveryStatus.DELIVERED),
        DeliveryUpdate(Channel.WHATSAPP, whatsapp.provider_id, DeliveryStatus.READ),
        DeliveryUpdate(Channel.WHATSAPP, whatsapp.provider_id, DeliveryStatus.FAILED, "63016"),
        DeliveryUpdate(Channel.SMS, sms.provider_id, DeliveryStatus.UNDELIVERED, "30003"),
    ]


async def test_a_callback_from_another_account_is_refused(
    fake: FakeTwilioApi, aiohttp_server: AiohttpServer
) -> None:
    sink = RecordingSink()
    server = await aiohttp_server(hub_app(_settings(fake), sink))
    async with FakeTwilioApi(auth_token="f" * 32) as other:
        built = twilio.senders(_settings(other))
        try:
            receipt = await built[0].send(_outgoing(Channel.SMS, "+34612345678"))
        finally:
            await _close(built)
        other.forward(PUBLIC, str(server.make_url("")))
        assert await other.deliver(receipt.provider_id) == 403
    assert sink.updates == []


def test_signing_matches_twilios_published_test_vector() -> None:
    form = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    request = signed_webhook("https://mycompany.com/myapp.php?foo=1&bar=2", form, "12345")
    assert request.headers == {"X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}
    assert RequestValidator("12345").validate(
        request.url, request.form, request.headers["X-Twilio-Signature"]
    )


@pytest.mark.parametrize(
    ("body", "count"),
    [("a" * 160, 1), ("a" * 161, 2), ("€" * 80, 1), ("ñ" * 160, 1), ("ã" * 70, 1), ("ã" * 71, 2)],
)
def test_the_fake_counts_segments_as_twilio_does(body: str, count: int) -> None:
    assert segments(body) == count
