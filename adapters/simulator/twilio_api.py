"""A simulated Twilio for SMS and WhatsApp: the Messages API, status callbacks and inbound webhooks.

The hub's own Twilio adapter talks to it unchanged: replies arrive at the Messages
API and are recorded; each is reported back to the hub as `sent`, then `delivered`,
through signed status callbacks. A simulated customer's message is posted to the
hub's /webhooks/twilio as Twilio would post it, signed for the hub's public URL.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

import phonenumbers
from aiohttp import web
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from adapters.channels.twilio import INBOUND_PATH
from adapters.simulator.events import ChatMessage, Direction, EventLog, Status, StatusChange
from adapters.simulator.hub_link import HubLink, HubUnreachable
from crm.models import Channel
from crm.phones import InvalidPhone, normalise_phone
from dialogue.rendering import sms_segments

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
MESSAGES_PATH = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json"
SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_PREFIX = "whatsapp:"
MAX_BODY = 1600
# How long Twilio takes, in the simulation, from accepting a message to each status.
# The hub records the message's sid once the API has answered; a callback that came
# before that would find no message to update.
STATUS_STEP = 0.5


@dataclass(frozen=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str
    sms_from: str
    whatsapp_from: str

    @classmethod
    def generate(cls, *, sms_from: str, whatsapp_from: str) -> TwilioCredentials:
        return cls("AC" + secrets.token_hex(16), secrets.token_hex(16), sms_from, whatsapp_from)


@dataclass
class TwilioMessage:
    """A reply the hub sent through the simulated Messages API."""

    sid: str
    to: str  # as Twilio got it: `whatsapp:`-prefixed on WhatsApp
    from_: str
    body: str
    status_callback: str | None
    status: str = "queued"

    @property
    def channel(self) -> Channel:
        return Channel.WHATSAPP if self.to.startswith(WHATSAPP_PREFIX) else Channel.SMS

    @property
    def customer(self) -> str:
        return self.to.removeprefix(WHATSAPP_PREFIX)


@dataclass(frozen=True)
class SignedWebhook:
    """A form as Twilio posts it: signed over `url`, the hub's public URL."""

    url: str
    form: dict[str, str]
    signature: str

    @property
    def headers(self) -> dict[str, str]:
        return {SIGNATURE_HEADER: self.signature}


class _ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class SimulatedTwilio:
    """Twilio's side of SMS and WhatsApp, for one simulated account with two senders."""

    def __init__(
        self,
        credentials: TwilioCredentials,
        hub: HubLink,
        events: EventLog,
        *,
        status_step: float = STATUS_STEP,
    ) -> None:
        self.credentials = credentials
        self.messages: list[TwilioMessage] = []
        self._hub = hub
        self._events = events
        self._status_step = status_step
        self._reports: set[asyncio.Task[None]] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(MESSAGES_PATH, self._create_message)

    def sender(self, channel: Channel) -> str:
        """The shop's number a customer writes to on `channel`, as Twilio writes it."""
        if channel is Channel.WHATSAPP:
            return WHATSAPP_PREFIX + self.credentials.whatsapp_from
        if channel is Channel.SMS:
            return self.credentials.sms_from
        raise ValueError(f"Twilio does not carry {channel.value}")

    # --- the customer's side: inbound webhooks -----------------------------------------

    def inbound_webhook(
        self, channel: Channel, phone: str, text: str, *, profile_name: str | None = None
    ) -> SignedWebhook:
        """The webhook Twilio posts when `phone` writes `text` to the shop on `channel`.

        Raises InvalidPhone for a phone the carrier could not have delivered from.
        """
        phone = normalise_phone(phone)
        to = self.sender(channel)
        whatsapp = channel is Channel.WHATSAPP
        sid = "SM" + secrets.token_hex(16)
        form = {
            "ToCountry": _country(to),
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": text,
            "To": to,
            "NumSegments": str(sms_segments(text)),
            "MessageSid": sid,
            "AccountSid": self.credentials.account_sid,
            "From": (WHATSAPP_PREFIX if whatsapp else "") + phone,
            "FromCountry": _country(phone),
            "ApiVersion": API_VERSION,
        }
        if whatsapp:
            form |= {"WaId": phone.lstrip("+"), "MessageType": "text", "ReferralNumMedia": "0"}
            if profile_name:
                form["ProfileName"] = profile_name
        return self._signed(self._hub.public_url(INBOUND_PATH), form)

    async def send_from_customer(
        self, channel: Channel, phone: str, text: str, *, profile_name: str | None = None
    ) -> int | None:
        """Post a customer's message to the hub's webhook; the hub's HTTP status, or None.

        Raises InvalidPhone for a phone the carrier could not have delivered from.
        """
        webhook = self.inbound_webhook(channel, phone, text, profile_name=profile_name)
        sid, customer = webhook.form["MessageSid"], normalise_phone(phone)
        self._events.publish(
            ChatMessage(channel, customer, Direction.FROM_CUSTOMER, sid, text, Status.SENDING)
        )
        try:
            answer = await self._hub.post(webhook.url, form=webhook.form, headers=webhook.headers)
        except HubUnreachable:
            self._events.publish(StatusChange(channel, customer, sid, Status.UNREACHABLE))
            return None
        status = Status.RECEIVED if answer.status < 300 else Status.REFUSED
        self._events.publish(StatusChange(channel, customer, sid, status, str(answer.status)))
        return answer.status

    # --- Twilio's side: the Messages API and status callbacks --------------------------

    async def _create_message(self, request: web.Request) -> web.Response:
        try:
            self._authenticate(request)
            if request.match_info["account_sid"] != self.credentials.account_sid:
                raise _ApiError(404, 20404, f"The requested resource {request.path} was not found")
            posted = await request.post()
            form = {name: value for name, value in posted.items() if isinstance(value, str)}
            message = self._accept(form)
        except _ApiError as exc:
            return web.json_response(
                {
                    "code": exc.code,
                    "message": exc.message,
                    "more_info": f"https://www.twilio.com/docs/errors/{exc.code}",
                    "status": exc.status,
                },
                status=exc.status,
            )
        self.messages.append(message)
        self._events.publish(
            ChatMessage(
                message.channel,
                message.customer,
                Direction.TO_CUSTOMER,
                message.sid,
                message.body,
                Status.QUEUED,
            )
        )
        task = asyncio.create_task(self._report(message))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)
        return web.json_response(_resource(message, self.credentials.account_sid), status=201)

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, _, password = decoded.partition(":")
        if not (
            scheme.lower() == "basic"
            and hmac.compare_digest(user.encode(), self.credentials.account_sid.encode())
            and hmac.compare_digest(password.encode(), self.credentials.auth_token.encode())
        ):
            raise _ApiError(401, 20003, "Authenticate")

    def _accept(self, form: dict[str, str]) -> TwilioMessage:
        """The message in a send request, refused with Twilio's codes as Twilio would."""
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            raise _ApiError(400, 21604, "A 'To' phone number is required.")
        if not _is_phone(to.removeprefix(WHATSAPP_PREFIX)):
            raise _ApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_:
            raise _ApiError(400, 21603, "A 'From' phone number is required.")
        if from_ not in (self.sender(Channel.SMS), self.sender(Channel.WHATSAPP)):
            raise _ApiError(
                400,
                21606,
                f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )
        if to.startswith(WHATSAPP_PREFIX) != from_.startswith(WHATSAPP_PREFIX):
            raise _ApiError(
                400, 21910, "Invalid From and To pair. From and To should be of the same channel"
            )
        content_sid = form.get("ContentSid", "")
        if not body and content_sid:
            # An approved WhatsApp template: Twilio fills it in from its Content API,
            # which the simulator does not hold; the customer's phone shows which one.
            body = f"[{content_sid}] {form.get('ContentVariables', '')}".strip()
        if not body:
            raise _ApiError(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            raise _ApiError(
                400, 21617, f"The concatenated message body exceeds the {MAX_BODY} character limit."
            )
        return TwilioMessage(
            sid="SM" + secrets.token_hex(16),
            to=to,
            from_=from_,
            body=body,
            status_callback=form.get("StatusCallback") or None,
        )

    async def _report(self, message: TwilioMessage) -> None:
        """Play the carrier: the message is sent, then delivered, and the hub is told."""
        for status in (Status.SENT, Status.DELIVERED):
            await asyncio.sleep(self._status_step)
            message.status = status.value
            if message.status_callback is not None:
                await self._callback(message, message.status_callback)
            self._events.publish(
                StatusChange(message.channel, message.customer, message.sid, status)
            )

    async def _callback(self, message: TwilioMessage, url: str) -> None:
        form = {
            "AccountSid": self.credentials.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "MessageSid": message.sid,
            "MessageStatus": message.status,
            "SmsSid": message.sid,
            "SmsStatus": message.status,
            "To": message.to,
        }
        if message.channel is Channel.WHATSAPP:
            form |= {"ChannelPrefix": "whatsapp", "ChannelToAddress": message.customer}
        callback = self._signed(url, form)
        try:
            answer = await self._hub.post(
                callback.url, form=callback.form, headers=callback.headers
            )
        except HubUnreachable as exc:
            logger.warning("status callback for %s not taken: %s", message.sid, exc)
            return
        if answer.status >= 300:
            logger.warning(
                "the hub answered %d to the status callback for %s", answer.status, message.sid
            )

    def _signed(self, url: str, form: dict[str, str]) -> SignedWebhook:
        signature = RequestValidator(self.credentials.auth_token).compute_signature(url, form)
        return SignedWebhook(url, form, signature)

    async def close(self) -> None:
        for task in list(self._reports):
            task.cancel()
        await asyncio.gather(*self._reports, return_exceptions=True)


def _resource(message: TwilioMessage, account_sid: str) -> dict[str, object]:
    """The message as Twilio's API answers a create."""
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message.sid}"
    created = format_datetime(datetime.now(UTC), usegmt=True)
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": created,
        "date_sent": None,
        "date_updated": created,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": message.from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(sms_segments(message.body)),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": message.to,
        "uri": f"{uri}.json",
    }


def _is_phone(raw: str) -> bool:
    try:
        normalise_phone(raw)
    except InvalidPhone:
        return False
    return True


def _country(address: str) -> str:
    try:
        number = phonenumbers.parse(address.removeprefix(WHATSAPP_PREFIX), None)
    except phonenumbers.NumberParseException:
        return ""  # a short code or sender id has no country of its own
    return phonenumbers.region_code_for_number(number) or ""
