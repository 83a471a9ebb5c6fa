"""A fake of Twilio's Messages REST API on 127.0.0.1, and signed Twilio webhooks, for tests.

It speaks the real protocol (INTEGRATIONS.md), so the real `twilio` library talks to it:
`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP Basic auth
(401 code 20003 otherwise); fields validated as Twilio does, errors as JSON `{code,
message, more_info, status}` with Twilio's codes; 201 with a message resource shaped
like Twilio's (sid "SM" + 32 hex, status "queued"). It records every accepted message,
can be told to fail the next sends (429/20429, 500, 400/21610, or any `Failure`) or to
stall them (the client's timeout must fire), and plays Twilio's other half: it POSTs
signed status callbacks to the StatusCallback URL it was given.

    async with FakeTwilioApi(numbers=[SMS_FROM]) as api:
        settings = Settings(**api.environment(), TWILIO_SMS_FROM=SMS_FROM,
                            OMNIHUB_PUBLIC_URL="https://hub.example.com")
        api.forward("https://hub.example.com", str(hub_server.make_url("")))
        ... send through adapters.channels.twilio.senders(settings) ...
        assert api.messages[0].body == "hola"
        assert await api.deliver(api.messages[0].sid) == 200
        api.fail_next(RATE_LIMITED, times=2)

And an inbound webhook as Twilio would send it, signed for the hub's public URL:

    request = signed_webhook("https://hub.example.com/webhooks/twilio",
                             inbound_form(from_="+34612345678", to=SMS_FROM, body="hola"))
    await client.post("/webhooks/twilio", data=request.form, headers=request.headers)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from types import TracebackType
from typing import Self

import phonenumbers
from aiohttp import ClientSession, web
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

ACCOUNT_SID = "AC6e1d7f3c0b9a48d2a5f4c3b2e1d0a9f8"
AUTH_TOKEN = "9f1c2b3a4d5e6f708192a3b4c5d6e7f8"
API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_PREFIX = "whatsapp:"
MAX_BODY = 1600

# GSM 03.38: the basic set costs one septet, the extension set two; anything else
# makes the whole message UCS-2. Twilio counts segments the same way.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Failure:
    """An error answer the fake gives instead of accepting a message."""

    status: int
    code: int
    message: str
    retry_after: str | None = None  # the Retry-After header, when there is one


RATE_LIMITED = Failure(429, 20429, "Too Many Requests")
SERVER_ERROR = Failure(500, 20500, "An internal server error has occurred")
OPTED_OUT = Failure(400, 21610, "Attempt to send to unsubscribed recipient")
OUTSIDE_WINDOW = Failure(
    400,
    63016,
    "Failed to send freeform message because you are outside the allowed window.",
)


@dataclass
class FakeMessage:
    """A message the fake accepted, with what was asked and what became of it."""

    sid: str
    account_sid: str
    to: str
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
class SignedRequest:
    """A webhook request as Twilio sends it: post `form` with `headers` to `url`'s path."""

    url: str
    form: dict[str, str]
    headers: dict[str, str]


def signed_webhook(
    url: str, form: Mapping[str, str], auth_token: str = AUTH_TOKEN
) -> SignedRequest:
    """`form` signed as Twilio signs it for `url`, the public URL it was configured with."""
    signature = RequestValidator(auth_token).compute_signature(url, dict(form))
    return SignedRequest(url=url, form=dict(form), headers={SIGNATURE_HEADER: signature})


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


def inbound_form(
    *,
    from_: str,
    to: str,
    body: str = "",
    sid: str | None = None,
    account_sid: str = ACCOUNT_SID,
    profile_name: str | None = None,
    media: Iterable[tuple[str, str]] = (),
    button: tuple[str, str] | None = None,
) -> dict[str, str]:
    """The form of an inbound SMS or WhatsApp webhook, with the fields Twilio sends.

    `from_` and `to` carry the `whatsapp:` prefix on WhatsApp; `media` is (url, content
    type) pairs; `button` is a pressed quick reply's (text, payload).
    """
    sid = sid or new_sid("MM" if media else "SM")
    media = list(media)
    form = {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": str(segments(body) if body else 1),
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    for index, (url, content_type) in enumerate(media):
        form[f"MediaUrl{index}"] = url
        form[f"MediaContentType{index}"] = content_type
    if from_.startswith(WHATSAPP_PREFIX):
        form["WaId"] = from_.removeprefix(WHATSAPP_PREFIX).lstrip("+")
        form["MessageType"] = "button" if button else ("image" if media else "text")
        form["ReferralNumMedia"] = "0"
        if profile_name is not None:
            form["ProfileName"] = profile_name
        if button is not None:
            form["ButtonText"], form["ButtonPayload"] = button
    return form


def segments(body: str) -> int:
    """How many SMS segments Twilio bills for `body`."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in body):
        units = sum(2 if char in _GSM_EXTENDED else 1 for char in body)
        single, multi = 160, 153
    else:
        # UTF-16 code units: an emoji outside the BMP costs two.
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


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


class FakeTwilioApi:
    """Twilio's Messages API on 127.0.0.1 (start()/close() or `async with`)."""

    def __init__(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        numbers: Iterable[str] | None = None,
    ) -> None:
        """`numbers`, when given, are the account's senders: any other From gets 21606."""
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = None if numbers is None else frozenset(_bare(n) for n in numbers)
        self.messages: list[FakeMessage] = []
        self._by_sid: dict[str, FakeMessage] = {}
        # Told of each message accepted, as it is (the router benchmark's provider
        # process reports them to the benchmark).
        self.on_message: Callable[[FakeMessage], None] | None = None
        self.requests = 0  # every send request, accepted or not
        self._failures: deque[Failure] = deque()
        self._stalls = 0
        self._released = asyncio.Event()
        self._forwards: dict[str, str] = {}
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """Where the API listens, for OMNIHUB_TWILIO_API_URL."""
        if self._base_url is None:
            raise RuntimeError("the fake Twilio API is not started")
        return self._base_url

    def environment(self) -> dict[str, str]:
        """Settings aliases pointing the hub at this fake: `Settings(**api.environment())`."""
        return {
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "OMNIHUB_TWILIO_API_URL": self.base_url,
        }

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post(
            f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json", self._create_message
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._base_url = f"http://127.0.0.1:{port}"
        self._session = ClientSession()
        return self._base_url

    async def close(self) -> None:
        self._released.set()  # stalled requests answer now, so the server can stop
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def fail_next(self, failure: Failure, *, times: int = 1) -> None:
        """Answer the next `times` sends with `failure` (after checking credentials)."""
        self._failures.extend([failure] * times)

    def stall_next(self, *, times: int = 1) -> None:
        """Never answer the next `times` sends (until close()): the client must time out."""
        self._stalls += times

    def forward(self, public_base: str, to: str) -> None:
        """POST callbacks for URLs under `public_base` to `to` instead, signed unchanged.

        Plays the reverse proxy in front of the hub: Twilio signs the public URL, the hub
        listens elsewhere.
        """
        self._forwards[public_base.rstrip("/")] = to.rstrip("/")

    def message(self, sid: str) -> FakeMessage:
        return self._by_sid[sid]

    async def callback(self, sid: str, status: str, error_code: str | None = None) -> int:
        """POST a signed status callback for message `sid`; returns the hub's HTTP status."""
        message = self.message(sid)
        if message.status_callback is None:
            raise ValueError(f"message {sid} was sent without a StatusCallback")
        if self._session is None:
            raise RuntimeError("the fake Twilio API is not started")
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
        if message.to.startswith(WHATSAPP_PREFIX):
            form["ChannelPrefix"] = "whatsapp"
            form["ChannelToAddress"] = _bare(message.to)
        if error_code is not None:
            form["ErrorCode"] = error_code
        request = signed_webhook(message.status_callback, form, self.auth_token)
        async with self._session.post(
            self._target(request.url), data=request.form, headers=request.headers
        ) as answer:
            await answer.read()
            return answer.status

    async def deliver(self, sid: str) -> int:
        return await self.callback(sid, "delivered")

    async def read(self, sid: str) -> int:
        return await self.callback(sid, "read")

    async def fail(self, sid: str, error_code: str) -> int:
        """A `failed` callback, e.g. 63016 (WhatsApp window closed, asynchronously)."""
        return await self.callback(sid, "failed", error_code)

    async def undeliver(self, sid: str, error_code: str = "30003") -> int:
        return await self.callback(sid, "undelivered", error_code)

    def _target(self, url: str) -> str:
        for public, local in self._forwards.items():
            if url == public or url.startswith(public + "/") or url.startswith(public + "?"):
                return local + url[len(public) :]
        return url

    async def _create_message(self, request: web.Request) -> web.Response:
        self.requests += 1
        try:
            self._authenticate(request)
            if request.match_info["account_sid"] != self.account_sid:
                raise TwilioApiError(
                    404, 20404, f"The requested resource {request.path} was not found"
                )
            if self._stalls:
                self._stalls -= 1
                await self._released.wait()
                raise TwilioApiError(503, 20503, "Service unavailable")
            if self._failures:
                failure = self._failures.popleft()
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                raise TwilioApiError(failure.status, failure.code, failure.message, headers)
            form = await request.post()
            fields = {name: value for name, value in form.items() if isinstance(value, str)}
            message = self._validate(fields, form.getall("MediaUrl", []))
        except TwilioApiError as exc:
            return _error(exc)
        self.messages.append(message)
        self._by_sid[message.sid] = message
        if self.on_message is not None:
            self.on_message(message)
        return web.json_response(message.resource(), status=201)

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, _, password = decoded.partition(":")
        valid = (
            scheme.lower() == "basic"
            and hmac.compare_digest(user, self.account_sid)
            and hmac.compare_digest(password, self.auth_token)
        )
        if not valid:
            raise TwilioApiError(
                401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )

    def _validate(self, form: Mapping[str, str], media: Iterable[object]) -> FakeMessage:
        to = form.get("To", "")
        from_ = form.get("From", "")
        body = form.get("Body")
        content_sid = form.get("ContentSid")
        media_urls = tuple(url for url in media if isinstance(url, str))
        if not to:
            raise TwilioApiError(400, 21604, "A 'To' phone number is required.")
        if not _is_phone(_bare(to)):
            raise TwilioApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_ and not form.get("MessagingServiceSid"):
            raise TwilioApiError(400, 21603, "A 'From' phone number is required.")
        if from_ and self.numbers is not None and _bare(from_) not in self.numbers:
            raise TwilioApiError(
                400,
                21606,
                f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
                "number or short code for your account.",
            )
        if from_ and to.startswith(WHATSAPP_PREFIX) != from_.startswith(WHATSAPP_PREFIX):
            raise TwilioApiError(
                400,
                21910,
                "Invalid From and To pair. From and To should be of the same channel",
            )
        if not body and not content_sid and not media_urls:
            raise TwilioApiError(400, 21602, "Message body is required.")
        if body is not None and len(body) > MAX_BODY:
            raise TwilioApiError(
                400,
                21617,
                f"The concatenated message body exceeds the {MAX_BODY} character limit.",
            )
        return FakeMessage(
            sid=new_sid(),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            status_callback=form.get("StatusCallback"),
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


def _bare(address: str) -> str:
    return address.removeprefix(WHATSAPP_PREFIX)


def _is_phone(raw: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(raw, None))
    except phonenumbers.NumberParseException:
        return False
