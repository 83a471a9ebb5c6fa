"""The simulator page's routes: the page, its live event stream, and sending as a customer.

GET  /demo/simulator             the page (?lang=es|pt|en, else the browser's language)
GET  /demo/simulator/app.js      its script
GET  /demo/simulator/events      server-sent events: the chats so far, then live
POST /demo/simulator/send        a customer's text, shared contact or button press
"""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from html import escape
from importlib import resources
from string import Template
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.simulator import customers
from adapters.simulator.events import Event
from adapters.simulator.providers import SimulatedProviders
from adapters.simulator.telegram_api import TelegramUser
from adapters.simulator.texts import TEXTS
from adapters.web.keys import SETTINGS
from adapters.web.languages import pick_language
from crm.models import Channel, Language
from crm.phones import InvalidPhone, normalise_phone

PAGE_PATH = "/demo/simulator"
SCRIPT_PATH = "/demo/simulator/app.js"
EVENTS_PATH = "/demo/simulator/events"
SEND_PATH = "/demo/simulator/send"

SIMULATOR = web.AppKey("simulator", SimulatedProviders)

# A comment line this often keeps proxies from closing an idle stream, and finds out
# when the page has gone.
HEARTBEAT = 15.0
_MAX_TEXT = {Channel.SMS: 1600, Channel.WHATSAPP: 1600, Channel.TELEGRAM: 4096}


class SendError(StrEnum):
    """Why the page's request was refused; the page shows the text for the code."""

    INVALID_PHONE = "invalid_phone"
    EMPTY_TEXT = "empty_text"
    TOO_LONG = "too_long"
    BAD_USER_ID = "bad_user_id"
    BAD_NAME = "bad_name"
    UNKNOWN_BUTTON = "unknown_button"
    NOT_SIMULATED = "not_simulated"
    BAD_REQUEST = "bad_request"


class _Refused(Exception):
    def __init__(self, status: int, error: SendError) -> None:
        super().__init__(error.value)
        self.status = status
        self.error = error


class CustomerAction(BaseModel):
    """What the page asks for: the customer as edited on it, and what they do."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["sms", "whatsapp", "telegram"]
    kind: Literal["text", "contact", "press"] = "text"
    phone: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=128)
    user_id: int | None = None
    text: str | None = Field(None, max_length=8192)
    message_id: int | None = None
    data: str | None = Field(None, max_length=256)


def add_simulator_routes(app: web.Application, providers: SimulatedProviders) -> None:
    """Serve the simulator page on `app` (the hub's), playing customers through `providers`.

    A channel is offered on the page when app[SETTINGS] points the hub at `providers`
    for it; the others keep their real provider and are shown as not simulated.
    """
    app[SIMULATOR] = providers
    template = Template(
        resources.files(__package__).joinpath("static", "simulator.html").read_text("utf-8")
    )
    script = resources.files(__package__).joinpath("static", "simulator.js").read_text("utf-8")

    async def page(request: web.Request) -> web.Response:
        language = pick_language(request.query.get("lang"), request.headers.get("Accept-Language"))
        html = _render(template, language, _config(request.app, language))
        return web.Response(
            text=html,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-store", "Content-Security-Policy": _CSP},
        )

    async def app_js(request: web.Request) -> web.Response:
        return web.Response(
            text=script,
            content_type="text/javascript",
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    app.router.add_get(PAGE_PATH, page, name="demoSimulator")
    app.router.add_get(SCRIPT_PATH, app_js)
    app.router.add_get(EVENTS_PATH, _events)
    app.router.add_post(SEND_PATH, _send)
    app.on_shutdown.append(_end_streams)


# The page runs only its own script and talks only to the hub; customer text can never
# become markup, and this would stop a script even if it did.
_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _config(app: web.Application, language: Language) -> dict[str, object]:
    providers = app[SIMULATOR]
    simulated = providers.simulated_channels(app[SETTINGS])
    twilio = providers.twilio.credentials
    telegram_user = customers.TELEGRAM_CUSTOMER
    return {
        "lang": language.value,
        "texts": TEXTS[language].to_json(),
        "paths": {"events": EVENTS_PATH, "send": SEND_PATH},
        "channels": [
            {
                "id": Channel.SMS.value,
                "title": "SMS",
                "simulated": Channel.SMS in simulated,
                "shop": twilio.sms_from,
                "customer": {
                    "phone": customers.SMS_CUSTOMER.phone,
                    "name": customers.SMS_CUSTOMER.name,
                },
            },
            {
                "id": Channel.WHATSAPP.value,
                "title": "WhatsApp",
                "simulated": Channel.WHATSAPP in simulated,
                "shop": twilio.whatsapp_from,
                "customer": {
                    "phone": customers.WHATSAPP_CUSTOMER.phone,
                    "name": customers.WHATSAPP_CUSTOMER.name,
                },
            },
            {
                "id": Channel.TELEGRAM.value,
                "title": "Telegram",
                "simulated": Channel.TELEGRAM in simulated,
                "shop": "@" + str(providers.telegram.bot_user["username"]),
                "customer": {
                    "user_id": telegram_user.id,
                    "name": f"{telegram_user.first_name} {telegram_user.last_name or ''}".strip(),
                    "phone": customers.TELEGRAM_CUSTOMER_PHONE,
                },
            },
        ],
    }


def _render(template: Template, language: Language, config: dict[str, object]) -> str:
    texts = TEXTS[language]
    return template.substitute(
        lang=language.value,
        title=escape(texts.title),
        intro=escape(texts.intro),
        config=_script_json(config),
        script=SCRIPT_PATH,
    )


def _script_json(value: object) -> str:
    """JSON that is safe inside a <script> element: it can never close the element."""
    text = json.dumps(value, ensure_ascii=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# --- the live stream ----------------------------------------------------------------------


async def _events(request: web.Request) -> web.StreamResponse:
    """Every event after the page's last seen one (Last-Event-ID on a reconnect), then live."""
    providers = request.app[SIMULATOR]
    after = _last_event_id(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a proxy in front must not hold events back
        }
    )
    await response.prepare(request)
    try:
        await response.write(b"retry: 1000\n\n")
        async with providers.events.subscribe(after) as subscription:
            for old in subscription.backlog:
                await response.write(_frame(old))
            while True:
                try:
                    new = await asyncio.wait_for(subscription.next(), HEARTBEAT)
                except TimeoutError:
                    await response.write(b": heartbeat\n\n")
                    continue
                if new is None:
                    break
                await response.write(_frame(new))
    except ConnectionResetError:
        pass  # the page went away
    return response


def _last_event_id(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    return int(raw) if raw.isascii() and raw.isdigit() else 0


def _frame(event: Event) -> bytes:
    # json.dumps escapes newlines, so one `data:` line carries the whole event.
    data = json.dumps(event.to_json(), ensure_ascii=False)
    return f"id: {event.id}\ndata: {data}\n\n".encode()


async def _end_streams(app: web.Application) -> None:
    # Open streams would otherwise hold the shutdown until their heartbeat fails.
    app[SIMULATOR].events.close()


# --- sending as a customer ------------------------------------------------------------------


async def _send(request: web.Request) -> web.Response:
    providers = request.app[SIMULATOR]
    try:
        # Only the page's own fetch() sends JSON: another site's form (text/plain or
        # form-encoded, no CORS preflight) cannot make customers say things here.
        if request.content_type != "application/json":
            raise _Refused(415, SendError.BAD_REQUEST)
        action = _read_action(await request.read())
        channel = Channel(action.channel)
        if channel not in providers.simulated_channels(request.app[SETTINGS]):
            raise _Refused(409, SendError.NOT_SIMULATED)
        if channel is Channel.TELEGRAM:
            customer, hub_status = await _as_telegram_user(providers, action)
        else:
            customer, hub_status = await _as_phone(providers, channel, action)
    except _Refused as exc:
        return web.json_response({"error": exc.error.value}, status=exc.status)
    return web.json_response({"customer": customer, "hub_status": hub_status})


def _read_action(body: bytes) -> CustomerAction:
    try:
        return CustomerAction.model_validate_json(body)
    except ValidationError as exc:
        raise _Refused(400, SendError.BAD_REQUEST) from exc


async def _as_phone(
    providers: SimulatedProviders, channel: Channel, action: CustomerAction
) -> tuple[str, int | None]:
    if action.kind != "text":
        raise _Refused(400, SendError.BAD_REQUEST)  # no contacts or inline buttons here
    try:
        phone = normalise_phone(action.phone or "")
    except InvalidPhone as exc:
        raise _Refused(422, SendError.INVALID_PHONE) from exc
    text = _text(channel, action)
    name = (action.name or "").strip() or None
    status = await providers.twilio.send_from_customer(
        channel, phone, text, profile_name=name if channel is Channel.WHATSAPP else None
    )
    return phone, status


async def _as_telegram_user(
    providers: SimulatedProviders, action: CustomerAction
) -> tuple[str, int | None]:
    user = _telegram_user(action)
    telegram = providers.telegram
    if action.kind == "contact":
        try:
            phone = normalise_phone(action.phone or "")
        except InvalidPhone as exc:
            raise _Refused(422, SendError.INVALID_PHONE) from exc
        return str(user.id), await telegram.share_contact(user, phone)
    if action.kind == "press":
        if action.message_id is None or not action.data:
            raise _Refused(400, SendError.BAD_REQUEST)
        try:
            return str(user.id), await telegram.press(user, action.message_id, action.data)
        except LookupError as exc:
            raise _Refused(404, SendError.UNKNOWN_BUTTON) from exc
    return str(user.id), await telegram.send_text(user, _text(Channel.TELEGRAM, action))


def _telegram_user(action: CustomerAction) -> TelegramUser:
    # Telegram's user ids fit in 52 bits.
    if action.user_id is None or not 0 < action.user_id < 2**52:
        raise _Refused(422, SendError.BAD_USER_ID)
    first, _, last = (action.name or "").strip().partition(" ")
    if not first:
        raise _Refused(422, SendError.BAD_NAME)
    default = customers.TELEGRAM_CUSTOMER
    return TelegramUser(
        id=action.user_id,
        first_name=first,
        last_name=last.strip() or None,
        # The default customer's handle and app language are that customer's only.
        username=default.username if action.user_id == default.id else None,
        language_code=default.language_code if action.user_id == default.id else None,
    )


def _text(channel: Channel, action: CustomerAction) -> str:
    text = (action.text or "").strip()
    if not text:
        raise _Refused(422, SendError.EMPTY_TEXT)
    if len(text) > _MAX_TEXT[channel]:
        raise _Refused(422, SendError.TOO_LONG)
    return text
