"""Sending SMS and WhatsApp messages through Twilio's REST API, with typed send errors."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from twilio.base.exceptions import (  # type: ignore[import-untyped]
    TwilioRestException,
    TwilioServiceException,
)
from twilio.rest import Client  # type: ignore[import-untyped]

from adapters.channels.twilio._addresses import on_channel
from adapters.channels.twilio._http import AnswerHeaders, TwilioAiohttpClient
from adapters.channels.twilio._webhooks import STATUS_PATH
from adapters.settings import Settings
from crm.models import Channel, DeliveryStatus
from dialogue.messages import Outgoing, SendReceipt
from dialogue.ports import (
    Capabilities,
    ChannelSender,
    OutsideWindow,
    PermanentSendError,
    RecipientOptedOut,
    SendError,
    TransientSendError,
)

DEFAULT_TIMEOUT = 10.0  # seconds for one request to Twilio, connection to last byte

# Free-form text on both channels: no native buttons (choices become numbered text),
# and Twilio's limit on a message body.
CAPABILITIES = Capabilities(max_buttons=0, max_length=1600, typing=False)

_OPTED_OUT = 21610  # the recipient sent STOP
_OUTSIDE_WINDOW = 63016  # WhatsApp free-form message outside the 24-hour window
_TOO_MANY_REQUESTS = 20429

# What Twilio's answer to a send says about the message. It is normally `queued`
# (`accepted` through a Messaging Service); whatever else comes, Twilio has taken it.
_ANSWER_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
    "undelivered": DeliveryStatus.UNDELIVERED,
}


class TwilioSender:
    """A ChannelSender for SMS or WhatsApp through one Twilio number.

    Senders built by one call of senders() share a Twilio client and its HTTP session;
    aclose() on any of them closes it for all.
    """

    def __init__(
        self,
        client: Client,
        http: TwilioAiohttpClient,
        *,
        channel: Channel,
        from_: str,
        status_callback: str,
    ) -> None:
        if channel not in (Channel.SMS, Channel.WHATSAPP):
            raise ValueError(f"Twilio does not carry {channel.value}")
        self._client = client
        self._http = http
        self._channel = channel
        self._from = on_channel(channel, from_)
        self._status_callback = status_callback

    @property
    def channel(self) -> Channel:
        return self._channel

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES

    def _content(self, message: Outgoing) -> dict[str, str]:
        """Free text, or an approved template: its Content SID and values, no Body."""
        if message.template is None:
            return {"body": message.text}
        if self._channel is not Channel.WHATSAPP:
            raise PermanentSendError("templates are WhatsApp's; SMS carries free text")
        return {
            "content_sid": message.template.content_sid,
            "content_variables": json.dumps(message.template.variables),
        }

    async def typing(self, address: str) -> None:
        """SMS has no typing indicator, and Twilio's WhatsApp API offers none either."""

    async def send(self, message: Outgoing) -> SendReceipt:
        """Hand one message to Twilio; raise a SendError subclass when it is refused."""
        with AnswerHeaders() as answer:
            try:
                created = await self._client.messages.create_async(
                    to=on_channel(self._channel, message.address),
                    from_=self._from,
                    status_callback=self._status_callback,
                    **self._content(message),
                )
            except (TwilioRestException, TwilioServiceException) as exc:
                raise _refusal(exc, answer.headers) from exc
            except TimeoutError as exc:
                raise TransientSendError("Twilio did not answer in time") from exc
            except aiohttp.ClientError as exc:
                raise TransientSendError(f"Twilio unreachable: {exc}") from exc
            except json.JSONDecodeError as exc:
                raise TransientSendError("Twilio's answer is not JSON") from exc
        sid = created.sid
        if not isinstance(sid, str) or not sid:
            raise TransientSendError("Twilio's answer has no message sid")
        status = _ANSWER_STATUSES.get(str(created.status), DeliveryStatus.QUEUED)
        return SendReceipt(provider_id=sid, status=status)

    async def aclose(self) -> None:
        """Close the shared HTTP session (idempotent)."""
        await self._http.aclose()


def senders(settings: Settings, *, timeout: float = DEFAULT_TIMEOUT) -> list[ChannelSender]:
    """A TwilioSender for SMS and one for WhatsApp, each only when its number is set.

    Empty when the Twilio credentials are unset (the channel is off). The senders
    share one client: close it at shutdown with `await sender.aclose()` on any of them.
    """
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token
    numbers = {
        Channel.SMS: settings.twilio_sms_from,
        Channel.WHATSAPP: settings.twilio_whatsapp_from,
    }
    if not (sid and token) or not any(numbers.values()):
        return []
    http = TwilioAiohttpClient(str(settings.twilio_api_url), timeout=timeout)
    # The library reads TWILIO_EDGE and TWILIO_REGION from os.environ unless given a
    # (non-empty) environment; settings are read once, in Settings, so none apply here.
    client = Client(sid, token, http_client=http, environment={"TWILIO_EDGE": ""})
    callback = settings.public_base + STATUS_PATH
    return [
        TwilioSender(client, http, channel=channel, from_=number, status_callback=callback)
        for channel, number in numbers.items()
        if number
    ]


def _refusal(
    exc: TwilioRestException | TwilioServiceException, headers: Mapping[str, str]
) -> SendError:
    """The typed send error for an error answer from Twilio."""
    code = exc.code if isinstance(exc.code, int) else None
    status = int(exc.status)
    reason = f"Twilio answered {status} with error {code}: {_message(exc)}"
    code_text = None if code is None else str(code)
    if code == _OPTED_OUT:
        return RecipientOptedOut(reason, code=code_text)
    if code == _OUTSIDE_WINDOW:
        return OutsideWindow(reason, code=code_text)
    if status == 429 or code == _TOO_MANY_REQUESTS or status >= 500:
        retry_after = _retry_after(headers.get("Retry-After"))
        return TransientSendError(reason, code=code_text, retry_after=retry_after)
    return PermanentSendError(reason, code=code_text)


def _message(exc: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(exc, TwilioServiceException):
        return str(exc.detail or exc.title)
    return str(exc.msg)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)
