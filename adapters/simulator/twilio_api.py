"""Twilio's Messages API and its signed webhooks, as Twilio speaks them (INTEGRATIONS.md).

The one implementation of Twilio's protocol on our side: the demo's simulated Twilio
(`simulated_twilio.py`) serves it with a carrier and customers' phones around it, and
the tests' fake (tests/fakes/twilio_api.py) with failure injection. The real `twilio`
library talks to it unchanged: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`,
form-encoded, HTTP Basic auth (401 code 20003 otherwise); fields checked as Twilio
checks them, errors as JSON `{code, message, more_info, status}` with Twilio's codes;
201 with a message resource shaped like Twilio's (sid "SM" + 32 hex, status "queued").
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import phonenumbers
from aiohttp import web
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from crm.models import Channel
from dialogue.rendering import sms_segments

API_VERSION = "2010-04-01"
MESSAGES_PATH = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json"
SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_PREFIX = "whatsapp:"
MAX_BODY = 1600

# How many SMS segments Twilio bills for a body: GSM-7 or UCS-2, as carriers count.
segments = sms_segments


@dataclass
class TwilioMessage:
    """A message the API accepted, with what was asked and what became of it."""

    sid: str
    account_sid: str
    to: str  # as Twilio got it: `whatsapp:`-prefixed on WhatsApp
    from_: str
    body: str | None
    status_callback: str | None
    content_sid: str | None = None
    content_variables: str | None = None
    media_urls: tuple[str, ...] = ()
    status: str = "queued"
    error_code: int | None = None
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def channel(self) -> Channel:
        return Channel.WHATSAPP if self.to.startswith(WHATSAPP_PREFIX) else Channel.SMS

    @property
    def customer(self) -> str:
        return bare(self.to)

    @property
    def num_segments(self) -> int:
        return segments(self.body or "")

    def resource(self) -> dict[str, object]:
        """The message as Twilio's API shows it."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        created = format_datetime(self.date_created)
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body or "",
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": str(len(self.media_urls)),
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclass(frozen=True)
class SignedWebhook:
    """A form as Twilio posts it: signed over `url`, the public URL it was configured with."""

    url: str
    form: dict[str, str]
    signature: str

    @property
    def headers(self) -> dict[str, str]:
        return {SIGNATURE_HEADER: self.signature}


def signed_webhook(url: str, form: Mapping[str, str], auth_token: str) -> SignedWebhook:
    """`form` signed as Twilio signs it for `url`."""
    signature = RequestValidator(auth_token).compute_signature(url, dict(form))
    return SignedWebhook(url, dict(form), signature)


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


def inbound_form(
    *,
    account_sid: str,
    from_: str,
    to: str,
    body: str = "",
    sid: str | None = None,
    profile_name: str | None = None,
    media: Iterable[tuple[str, str]] = (),
    button: tuple[str, str] | None = None,
) -> dict[str, str]:
    """The form of an inbound SMS or WhatsApp webhook, with the fields Twilio sends.

    `from_` and `to` carry the `whatsapp:` prefix on WhatsApp; `media` is (url, content
    type) pairs; `button` is a pressed quick reply's (text, payload).
    """
    media = list(media)
    sid = sid or new_sid("MM" if media else "SM")
    form = {
        "ToCountry": _country(to),
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": str(segments(body)),
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "FromCountry": _country(from_),
        "ApiVersion": API_VERSION,
    }
    for index, (url, content_type) in enumerate(media):
        form[f"MediaUrl{index}"] = url
        form[f"MediaContentType{index}"] = content_type
    if from_.startswith(WHATSAPP_PREFIX):
        form["WaId"] = bare(from_).lstrip("+")
        form["MessageType"] = "button" if button else ("image" if media else "text")
        form["ReferralNumMedia"] = "0"
        if profile_name is not None:
            form["ProfileName"] = profile_name
        if button is not None:
            form["ButtonText"], form["ButtonPayload"] = button
    return form


class TwilioApiError(Exception):
    """An error answer of the API, in Twilio's terms."""

    def __init__(
        self, status: int, code: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


class TwilioMessagesApi:
    """Twilio's Messages API for one account, and its status callbacks.

    Subclasses say where callbacks go (`_post`) and may step in before a send is
    accepted (`_before_accepting`, which raises TwilioApiError to answer instead) or
    after (`_accepted`).
    """

    def __init__(
        self, account_sid: str, auth_token: str, *, senders: Iterable[str] | None = None
    ) -> None:
        """`senders`, when given, are the account's numbers: any other From gets 21606."""
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.senders = None if senders is None else frozenset(bare(n) for n in senders)
        self.messages: list[TwilioMessage] = []
        self._by_sid: dict[str, TwilioMessage] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(MESSAGES_PATH, self._create_message)

    def message(self, sid: str) -> TwilioMessage:
        return self._by_sid[sid]

    def signed(self, url: str, form: Mapping[str, str]) -> SignedWebhook:
        return signed_webhook(url, form, self.auth_token)

    async def callback(self, sid: str, status: str, error_code: str | None = None) -> int:
        """POST a signed status callback for message `sid`; returns the hub's HTTP status."""
        message = self.message(sid)
        if message.status_callback is None:
            raise ValueError(f"message {sid} was sent without a StatusCallback")
        message.status = status
        message.error_code = int(error_code) if error_code else None
        form = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.channel is Channel.WHATSAPP:
            form |= {"ChannelPrefix": "whatsapp", "ChannelToAddress": message.customer}
        if error_code is not None:
            form["ErrorCode"] = error_code
        return await self._post(self.signed(message.status_callback, form))

    async def _post(self, webhook: SignedWebhook) -> int:
        """Post a webhook where it should go; the HTTP status it was answered."""
        raise NotImplementedError

    async def _before_accepting(self) -> None:
        """Called for each authenticated send before it is read: raise to answer instead."""

    def _accepted(self, message: TwilioMessage) -> None:
        """Called for each message accepted, before the API answers."""

    async def _create_message(self, request: web.Request) -> web.Response:
        try:
            self._authenticate(request)
            if request.match_info["account_sid"] != self.account_sid:
                raise TwilioApiError(
                    404, 20404, f"The requested resource {request.path} was not found"
                )
            await self._before_accepting()
            posted = await request.post()
            form = {name: value for name, value in posted.items() if isinstance(value, str)}
            message = self._validate(form, posted.getall("MediaUrl", []))
        except TwilioApiError as exc:
            return _error(exc)
        self.messages.append(message)
        self._by_sid[message.sid] = message
        self._accepted(message)
        return web.json_response(message.resource(), status=201)

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, _, password = decoded.partition(":")
        if not (
            scheme.lower() == "basic"
            and hmac.compare_digest(user.encode(), self.account_sid.encode())
            and hmac.compare_digest(password.encode(), self.auth_token.encode())
        ):
            raise TwilioApiError(
                401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )

    def _validate(self, form: Mapping[str, str], media: Iterable[object]) -> TwilioMessage:
        """The message in a send request, refused with Twilio's codes as Twilio would."""
        to, from_ = form.get("To", ""), form.get("From", "")
        body, content_sid = form.get("Body"), form.get("ContentSid")
        media_urls = tuple(url for url in media if isinstance(url, str))
        if not to:
            raise TwilioApiError(400, 21604, "A 'To' phone number is required.")
        if not _is_phone(bare(to)):
            raise TwilioApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_ and not form.get("MessagingServiceSid"):
            raise TwilioApiError(400, 21603, "A 'From' phone number is required.")
        if from_ and self.senders is not None and bare(from_) not in self.senders:
            raise TwilioApiError(
                400,
                21606,
                f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )
        if from_ and to.startswith(WHATSAPP_PREFIX) != from_.startswith(WHATSAPP_PREFIX):
            raise TwilioApiError(
                400, 21910, "Invalid From and To pair. From and To should be of the same channel"
            )
        if not body and not content_sid and not media_urls:
            raise TwilioApiError(400, 21602, "Message body is required.")
        if body is not None and len(body) > MAX_BODY:
            raise TwilioApiError(
                400, 21617, f"The concatenated message body exceeds the {MAX_BODY} character limit."
            )
        return TwilioMessage(
            sid=new_sid(),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            status_callback=form.get("StatusCallback") or None,
            content_sid=content_sid,
            content_variables=form.get("ContentVariables"),
            media_urls=media_urls,
        )


def _error(exc: TwilioApiError) -> web.Response:
    return web.json_response(
        {
            "code": exc.code,
            "message": exc.message,
            "more_info": f"https://www.twilio.com/docs/errors/{exc.code}",
            "status": exc.status,
        },
        status=exc.status,
        headers=exc.headers,
    )


def bare(address: str) -> str:
    """A Twilio address without its channel prefix."""
    return address.removeprefix(WHATSAPP_PREFIX)


def _is_phone(raw: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(raw, None))
    except phonenumbers.NumberParseException:
        return False


def _country(address: str) -> str:
    try:
        number = phonenumbers.parse(bare(address), None)
    except phonenumbers.NumberParseException:
        return ""  # a short code or sender id has no country of its own
    return phonenumbers.region_code_for_number(number) or ""
