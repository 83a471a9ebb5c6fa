"""A simulated Telegram: the Bot API the hub's bot calls, and the updates customers cause.

The hub's python-telegram-bot client talks to it unchanged (`/bot{token}/{method}`,
form fields that are JSON text except `text`, `{"ok": true, "result": ...}` answers).
A simulated customer's text, shared contact or button press becomes an update posted
to the hub's /webhooks/telegram with the secret header, as Telegram posts it.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from adapters.channels.telegram import SECRET_HEADER, WEBHOOK_PATH
from adapters.simulator.bot_api import (
    CHAT_ACTIONS,
    CHAT_FIELDS,
    MAX_TEXT,
    TOKEN_SHAPE,
    BotApiError,
    JsonDict,
    bad_request,
    error_response,
    inline_rows,
    read_params,
    webhook_params,
)
from adapters.simulator.events import (
    ChatMessage,
    Direction,
    EventLog,
    InlineButton,
    Status,
    StatusChange,
    Typing,
)
from adapters.simulator.hub_link import HubLink, HubUnreachable
from crm.models import Channel

# Parameters the Bot API reads as plain strings; every other one is JSON text.


@dataclass(frozen=True)
class TelegramCredentials:
    token: str
    webhook_secret: str

    @classmethod
    def generate(cls) -> TelegramCredentials:
        bot_id = 6_000_000_000 + secrets.randbelow(999_999_999)
        return cls(f"{bot_id}:AA{secrets.token_urlsafe(24)}", secrets.token_urlsafe(32))

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])


@dataclass(frozen=True)
class TelegramUser:
    """A Telegram user who has started the shop's bot."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    def to_json(self) -> JsonDict:
        data: JsonDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value:
                data[key] = value
        return data

    def chat(self) -> JsonDict:
        """The private chat between this user and the bot (its id is the user's)."""
        data = {k: v for k, v in self.to_json().items() if k in CHAT_FIELDS}
        return {**data, "type": "private"}


class SimulatedTelegram:
    """The Bot API of one bot, and the private chats its simulated users have with it."""

    def __init__(self, credentials: TelegramCredentials, hub: HubLink, events: EventLog) -> None:
        self.credentials = credentials
        self.bot_user: JsonDict = {
            "id": credentials.bot_id,
            "is_bot": True,
            "first_name": "omnihub demo",
            "username": "omnihub_demo_bot",
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.sent: list[JsonDict] = []  # every Message the bot sent, as the API answered it
        self.answered_callbacks: list[str] = []
        self.webhook: JsonDict = {"url": ""}
        self._hub = hub
        self._events = events
        self._users: dict[int, TelegramUser] = {}
        # Update ids must not repeat across runs against the same database, where the
        # hub dedupes on them: a restarted demo would see new messages as old retries.
        self._update_ids = itertools.count(time.time_ns() // 1_000_000)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._pending_callbacks: set[str] = set()
        self._methods: dict[str, Callable[[JsonDict], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._handle)

    def bot_message(self, chat_id: int, message_id: int) -> JsonDict | None:
        for message in reversed(self.sent):
            if message["chat"]["id"] == chat_id and message["message_id"] == message_id:
                return message
        return None

    # --- the customer's side: updates posted to the hub --------------------------------

    async def send_text(self, user: TelegramUser, text: str) -> int | None:
        """The user writes `text` to the bot; the hub's HTTP status, or None."""
        message = self._from_user(user, {"text": text})
        return await self._deliver(
            {"update_id": next(self._update_ids), "message": message},
            ChatMessage(
                Channel.TELEGRAM,
                str(user.id),
                Direction.FROM_CUSTOMER,
                str(message["message_id"]),
                text,
                Status.SENDING,
            ),
        )

    async def share_contact(self, user: TelegramUser, phone: str) -> int | None:
        """The user shares their own contact card, as the "share my phone" button does."""
        contact: JsonDict = {
            # Telegram sends the number without its "+".
            "phone_number": phone.strip().lstrip("+"),
            "first_name": user.first_name,
            "user_id": user.id,
        }
        if user.last_name:
            contact["last_name"] = user.last_name
        message = self._from_user(user, {"contact": contact})
        return await self._deliver(
            {"update_id": next(self._update_ids), "message": message},
            ChatMessage(
                Channel.TELEGRAM,
                str(user.id),
                Direction.FROM_CUSTOMER,
                str(message["message_id"]),
                contact["phone_number"],
                Status.SENDING,
                detail="contact",
            ),
        )

    async def press(self, user: TelegramUser, message_id: int, data: str) -> int | None:
        """The user presses the inline button carrying `data` under the bot's message.

        Raises LookupError when the bot sent no such message or button to this user.
        """
        message = self.bot_message(user.id, message_id)
        if message is None:
            raise LookupError(f"the bot sent no message {message_id} to {user.id}")
        title = _button_title(message, data)
        if title is None:
            raise LookupError(f"message {message_id} has no button {data!r}")
        self._users[user.id] = user
        query_id = f"{user.id}{secrets.randbelow(10**9):09d}"
        self._pending_callbacks.add(query_id)
        query = {
            "id": query_id,
            "from": user.to_json(),
            "message": message,
            "chat_instance": str(-(user.id * 7919 % 10**18)),
            "data": data,
        }
        return await self._deliver(
            {"update_id": next(self._update_ids), "callback_query": query},
            ChatMessage(
                Channel.TELEGRAM,
                str(user.id),
                Direction.FROM_CUSTOMER,
                f"q{query_id}",
                title,
                Status.SENDING,
                detail="press",
            ),
        )

    def _from_user(self, user: TelegramUser, content: JsonDict) -> JsonDict:
        self._users[user.id] = user
        return {
            "message_id": self._next_message_id(user.id),
            "from": user.to_json(),
            "chat": user.chat(),
            "date": int(time.time()),
            **content,
        }

    async def _deliver(self, update: JsonDict, shown: ChatMessage) -> int | None:
        self._events.publish(shown)
        try:
            answer = await self._hub.post(
                self._hub.public_url(WEBHOOK_PATH),
                json=update,
                headers={SECRET_HEADER: self.credentials.webhook_secret},
            )
        except HubUnreachable:
            self._events.publish(
                StatusChange(shown.channel, shown.customer, shown.ref, Status.UNREACHABLE)
            )
            return None
        status = Status.RECEIVED if answer.status < 300 else Status.REFUSED
        self._events.publish(
            StatusChange(shown.channel, shown.customer, shown.ref, status, str(answer.status))
        )
        return answer.status

    def _next_message_id(self, chat_id: int) -> int:
        # Message ids count per chat, shared by both sides of it.
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    # --- Telegram's side: the Bot API ---------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if token != self.credentials.token:
            # The real API: 401 for a well-formed token it does not know, 404 otherwise.
            if TOKEN_SHAPE.fullmatch(token):
                return error_response(401, "Unauthorized")
            return error_response(404, "Not Found")
        handler = self._methods.get(method)
        if handler is None:
            return error_response(404, "Not Found")
        try:
            result = await handler(await read_params(request))
        except BotApiError as exc:
            return error_response(exc.status, exc.description)
        return web.json_response({"ok": True, "result": result})

    async def _get_me(self, params: JsonDict) -> JsonDict:
        return self.bot_user

    async def _set_webhook(self, params: JsonDict) -> bool:
        url, _ = webhook_params(params)
        self.webhook = {"url": url}
        return True

    async def _delete_webhook(self, params: JsonDict) -> bool:
        self.webhook = {"url": ""}
        return True

    async def _get_webhook_info(self, params: JsonDict) -> JsonDict:
        return {**self.webhook, "has_custom_certificate": False, "pending_update_count": 0}

    async def _send_message(self, params: JsonDict) -> JsonDict:
        chat_id = _chat_id(params)
        text = params.get("text")
        if not text or not isinstance(text, str):
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        user = self._users.get(chat_id)
        message: JsonDict = {
            "message_id": self._next_message_id(chat_id),
            "from": self.bot_user,
            # After a restart the bot may answer someone this run has not seen write.
            "chat": user.chat() if user else {"id": chat_id, "type": "private"},
            "date": int(time.time()),
            "text": text,
        }
        buttons: tuple[tuple[InlineButton, ...], ...] = ()
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
            buttons = _inline_keyboard(params["reply_markup"])
        self.sent.append(message)
        self._events.publish(
            ChatMessage(
                Channel.TELEGRAM,
                str(chat_id),
                Direction.TO_CUSTOMER,
                str(message["message_id"]),
                text,
                # Bots learn nothing more of a message's fate than that Telegram took it.
                Status.SENT,
                buttons=buttons,
            )
        )
        return message

    async def _answer_callback_query(self, params: JsonDict) -> bool:
        query_id = params.get("callback_query_id")
        if not isinstance(query_id, str) or query_id not in self._pending_callbacks:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._pending_callbacks.discard(query_id)
        self.answered_callbacks.append(query_id)
        return True

    async def _send_chat_action(self, params: JsonDict) -> bool:
        chat_id = _chat_id(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        if params.get("action") == "typing":
            self._events.publish(Typing(Channel.TELEGRAM, str(chat_id)))
        return True


def _chat_id(params: JsonDict) -> int:
    chat_id = params.get("chat_id")
    # Private chats, the only ones the hub writes to, have the user's (positive) id.
    if type(chat_id) is not int or chat_id <= 0:
        raise bad_request("chat not found")
    return chat_id


def _inline_keyboard(markup: Any) -> tuple[tuple[InlineButton, ...], ...]:
    """The buttons of an inline keyboard, refused as Telegram refuses a broken one."""
    rows = inline_rows(markup)
    if rows is None:
        return ()  # another kind of keyboard (a reply keyboard): nothing to press here
    return tuple(
        tuple(
            InlineButton(
                str(b["text"]),
                None if b.get("callback_data") is None else str(b["callback_data"]),
            )
            for b in row
        )
        for row in rows
    )


def _button_title(message: JsonDict, data: str) -> str | None:
    markup = message.get("reply_markup")
    if not isinstance(markup, dict):
        return None
    for row in markup.get("inline_keyboard") or ():
        for button in row:
            if button.get("callback_data") == data:
                return str(button["text"])
    return None
