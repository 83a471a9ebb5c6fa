"""Twilio's webhooks: inbound SMS and WhatsApp messages, and delivery status callbacks."""

from __future__ import annotations

import logging
import re

from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from adapters.channels.twilio._addresses import channel_of, comparable
from adapters.settings import Settings
from adapters.web.errors import error_response
from adapters.web.forms import UnreadableForm, read_form
from adapters.web.keys import INBOUND, SETTINGS
from crm.models import Channel, DeliveryStatus
from crm.phones import InvalidPhone, normalise_phone
from dialogue.messages import DeliveryUpdate, Inbound, Media

logger = logging.getLogger(__name__)

INBOUND_PATH = "/webhooks/twilio"
STATUS_PATH = "/webhooks/twilio/status"

SIGNATURE_HEADER = "X-Twilio-Signature"
_FORM = "application/x-www-form-urlencoded"
# Twilio needs a TwiML answer; an empty one says "no reply here", since replies go
# through the REST API once the router has decided what to say.
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# Twilio's sids: two letters and 32 hex digits. Checking the shape keeps junk out of
# the message store's provider id column.
_SID = re.compile(r"[A-Za-z]{2}[0-9a-fA-F]{32}")
_ERROR_CODE = re.compile(r"[0-9]{1,16}")
_NUM_MEDIA = re.compile(r"[0-9]{1,2}")
_MAX_MEDIA = 10  # Twilio's limit per MMS

# The statuses a Twilio status callback can carry that the hub keeps. Twilio's earlier
# steps before `sent` all mean the message has not left yet.
_CALLBACK_STATUSES = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
    "undelivered": DeliveryStatus.UNDELIVERED,
}


class _Rejected(Exception):
    """A webhook the hub refuses, with the status and reason to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def add_routes(app: web.Application) -> None:
    """Register POST /webhooks/twilio and POST /webhooks/twilio/status.

    The handlers read app[SETTINGS] and deliver to app[INBOUND].
    """
    app.router.add_post(INBOUND_PATH, _inbound)
    app.router.add_post(STATUS_PATH, _status)


async def _inbound(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    try:
        form = await _signed_form(request, settings)
        inbound = _parse_inbound(form, settings)
    except _Rejected as exc:
        return error_response(exc.status, exc.reason)
    # Acknowledge only once the router has stored the message: until then a crash must
    # leave Twilio retrying, which the router dedupes on MessageSid.
    await request.app[INBOUND].receive(inbound)
    return web.Response(text=_EMPTY_TWIML, content_type="text/xml")


async def _status(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    try:
        form = await _signed_form(request, settings)
        update = _parse_status(form)
    except _Rejected as exc:
        return error_response(exc.status, exc.reason)
    if update is not None:
        await request.app[INBOUND].delivery(update)
    # Also 200 for a status the hub ignores: anything else makes Twilio retry it.
    return web.Response()


async def _signed_form(request: web.Request, settings: Settings) -> MultiDict[str]:
    """The posted form, once it is proven to come from Twilio."""
    token = settings.twilio_auth_token
    if not (settings.twilio_account_sid and token):
        raise _Rejected(404, "the Twilio channel is off")
    if request.content_type != _FORM:
        raise _Rejected(415, f"expected {_FORM}")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise _Rejected(403, f"missing {SIGNATURE_HEADER}")
    try:
        # Strictly: the signature check itself failed with a 500 on some bodies.
        form = await read_form(request)
    except UnreadableForm as exc:
        raise _Rejected(exc.status, exc.reason) from None
    # Twilio signs the URL it was configured with. Behind a proxy the Host and scheme
    # the server sees differ from it, so the URL is rebuilt from the public base.
    url = settings.public_base + request.raw_path
    if not RequestValidator(token).validate(url, form, signature):
        logger.warning("rejected a Twilio webhook with a bad signature for %s", url)
        raise _Rejected(403, f"invalid {SIGNATURE_HEADER}")
    return form


def _parse_inbound(form: MultiDict[str], settings: Settings) -> Inbound:
    """The message in an inbound webhook's form, addressed to one of our senders."""
    sid, sender, recipient = _required(form, "MessageSid", "From", "To")
    _check_sid(sid)
    channel = channel_of(recipient)
    if channel_of(sender) is not channel:
        raise _Rejected(422, "From and To are on different channels")
    if not _is_ours(channel, recipient, settings):
        raise _Rejected(404, f"unknown channel: no {channel.value} sender {recipient}")
    try:
        phone = normalise_phone(sender)
    except InvalidPhone as exc:
        raise _Rejected(422, f"From is not a phone number: {sender!r}") from exc
    body = form.get("Body", "")
    whatsapp = channel is Channel.WHATSAPP
    return Inbound(
        channel=channel,
        provider_id=sid,
        address=phone,
        # A pressed quick-reply button arrives with an empty Body.
        text=body or form.get("ButtonText", ""),
        payload=form.get("ButtonPayload") or None,
        media=_media(form),
        display_name=(form.get("ProfileName") or None) if whatsapp else None,
        # The carrier (or WhatsApp, through Twilio) delivered it from this number.
        vouched_phone=phone,
    )


def _parse_status(form: MultiDict[str]) -> DeliveryUpdate | None:
    """The delivery update in a status callback; None for a status the hub ignores."""
    sid, raw_status = _required(form, "MessageSid", "MessageStatus")
    _check_sid(sid)
    error_code = form.get("ErrorCode") or None
    if error_code is not None and not _ERROR_CODE.fullmatch(error_code):
        raise _Rejected(422, f"ErrorCode is not a Twilio error code: {error_code!r}")
    status = _CALLBACK_STATUSES.get(raw_status)
    if status is None:
        logger.warning("ignored Twilio status %r for message %s", raw_status, sid)
        return None
    addresses = (form.get("From", ""), form.get("To", ""))
    whatsapp = form.get("ChannelPrefix") == "whatsapp" or any(
        channel_of(address) is Channel.WHATSAPP for address in addresses
    )
    return DeliveryUpdate(
        channel=Channel.WHATSAPP if whatsapp else Channel.SMS,
        provider_id=sid,
        status=status,
        error_code=error_code,
    )


def _required(form: MultiDict[str], *names: str) -> list[str]:
    missing = [name for name in names if not form.get(name)]
    if missing:
        raise _Rejected(400, f"missing {', '.join(missing)}")
    return [form[name] for name in names]


def _check_sid(sid: str) -> None:
    if not _SID.fullmatch(sid):
        raise _Rejected(422, f"MessageSid is not a Twilio sid: {sid!r}")


def _is_ours(channel: Channel, recipient: str, settings: Settings) -> bool:
    configured = (
        settings.twilio_whatsapp_from if channel is Channel.WHATSAPP else settings.twilio_sms_from
    )
    return configured is not None and comparable(configured) == comparable(recipient)


def _media(form: MultiDict[str]) -> tuple[Media, ...]:
    raw = form.get("NumMedia") or "0"
    if not _NUM_MEDIA.fullmatch(raw) or int(raw) > _MAX_MEDIA:
        raise _Rejected(422, f"NumMedia must be 0 to {_MAX_MEDIA}, not {raw!r}")
    media = []
    for index in range(int(raw)):
        url = form.get(f"MediaUrl{index}")
        content_type = form.get(f"MediaContentType{index}")
        if not (url and content_type):
            raise _Rejected(400, f"missing MediaUrl{index} or MediaContentType{index}")
        media.append(Media(url=url, content_type=content_type))
    return tuple(media)
