"""Telegram's Bot API for one bot, and the updates Telegram posts, as Telegram speaks them.

The one implementation of the Bot API on our side (INTEGRATIONS.md): the demo's
simulated Telegram (`simulated_telegram.py`) serves it with customers around it, and
the tests' fake (tests/fakes/telegram_api.py) with call recording and failure
injection. python-telegram-bot talks to it unchanged: `/bot{token}/{method}`,
parameters as bot_api.py reads them, `{"ok": true, "result": ...}` answers.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

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

# The header Telegram sends the webhook's secret token in.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


@dataclass(frozen=True)
class TelegramUser:
    """A Telegram user who writes to the bot."""

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


@dataclass
class Webhook:
    """What setWebhook registered."""

    url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] = field(default_factory=list)


class BotApi:
    """The Bot API of one bot, and the updates its users' actions become.

    `writes_to_strangers`: whether the bot may write to a user this API has not seen
    (Telegram allows it to users who started the bot, maybe before this API started).
    `any_callback_query`: whether answerCallbackQuery takes ids this API did not issue
    (recorded updates carry Telegram's). Subclasses may answer a call instead
    (`_intercept`) and hear what the bot does (`_sent`, `_typing`).
    """

    def __init__(
        self,
        token: str,
        *,
        first_name: str,
        username: str,
        first_update_id: int,
        writes_to_strangers: bool,
        any_callback_query: bool,
    ) -> None:
        self.token = token
        self.bot_user: JsonDict = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.sent: list[JsonDict] = []  # every Message the bot sent, as the API answered it
        self.answered_callbacks: list[str] = []
        self.webhook = Webhook()
        self.users: dict[int, TelegramUser] = {}
        self._writes_to_strangers = writes_to_strangers
        self._any_callback_query = any_callback_query
        self._update_ids = itertools.count(first_update_id)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._issued_queries: set[str] = set()
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

    # --- updates, as Telegram pushes them ----------------------------------------------

    def text_update(self, user: TelegramUser, text: str) -> JsonDict:
        return self._message_update(user, {"text": text})

    def contact_update(
        self,
        user: TelegramUser,
        phone_number: str,
        *,
        contact_user_id: int | None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> JsonDict:
        """A shared contact card; Telegram sets its user_id when it is a Telegram user."""
        contact: JsonDict = {
            "phone_number": phone_number,
            "first_name": first_name or user.first_name,
        }
        if last_name:
            contact["last_name"] = last_name
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return self._message_update(user, {"contact": contact})

    def callback_update(
        self, user: TelegramUser, data: str, *, message: JsonDict | None = None
    ) -> JsonDict:
        """A press on an inline button; `message` defaults to the bot's last one to `user`."""
        self.users[user.id] = user
        if message is None:
            mine = [m for m in self.sent if m["chat"]["id"] == user.id]
            message = mine[-1] if mine else None
        query_id = f"{user.id}{next(self._callback_ids):09d}"
        self._issued_queries.add(query_id)
        query: JsonDict = {
            "id": query_id,
            "from": user.to_json(),
            "chat_instance": str(-(user.id * 7919 % 10**18)),
            "data": data,
        }
        if message is not None:
            query["message"] = message
        return {"update_id": next(self._update_ids), "callback_query": query}

    def _message_update(self, user: TelegramUser, content: JsonDict) -> JsonDict:
        self.users[user.id] = user
        message = {
            "message_id": self._next_message_id(user.id),
            "from": user.to_json(),
            "chat": user.chat(),
            "date": int(time.time()),
            **content,
        }
        return {"update_id": next(self._update_ids), "message": message}

    def _next_message_id(self, chat_id: int) -> int:
        # Message ids count per chat, shared by both sides of it.
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    # --- the server ----------------------------------------------------------------------

    async def _intercept(self, method: str, params: JsonDict) -> web.Response | None:
        """Called with each well-addressed call once read: an answer replaces the method's."""
        return None

    def _sent(self, message: JsonDict) -> None:
        """Called with each message the bot sent."""

    def _typing(self, chat_id: int) -> None:
        """Called when the bot shows it is typing in a chat."""

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if token != self.token:
            # The real API: 401 for a well-formed token it does not know, 404 otherwise.
            if TOKEN_SHAPE.fullmatch(token):
                return error_response(401, "Unauthorized")
            return error_response(404, "Not Found")
        handler = self._methods.get(method)
        if handler is None:
            return error_response(404, "Not Found")
        try:
            params = await read_params(request)
            intercepted = await self._intercept(method, params)
            if intercepted is not None:
                return intercepted
            result = await handler(params)
        except BotApiError as exc:
            return error_response(exc.status, exc.description, retry_after=exc.retry_after)
        return web.json_response({"ok": True, "result": result})

    async def _get_me(self, params: JsonDict) -> JsonDict:
        return self.bot_user

    async def _set_webhook(self, params: JsonDict) -> bool:
        url, secret = webhook_params(params)
        allowed = params.get("allowed_updates", [])
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise bad_request("can't parse allowed updates JSON object")
        self.webhook = Webhook(url=url, secret_token=secret, allowed_updates=allowed)
        return True

    async def _delete_webhook(self, params: JsonDict) -> bool:
        self.webhook = Webhook()
        return True

    async def _get_webhook_info(self, params: JsonDict) -> JsonDict:
        info: JsonDict = {
            "url": self.webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
        if self.webhook.url:
            info["max_connections"] = 40
            if self.webhook.allowed_updates:
                info["allowed_updates"] = self.webhook.allowed_updates
        return info

    async def _send_message(self, params: JsonDict) -> JsonDict:
        chat = self._chat(params)
        text = params.get("text")
        if not text or not isinstance(text, str):
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        message: JsonDict = {
            "message_id": self._next_message_id(chat["id"]),
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        if "reply_markup" in params:
            inline_rows(params["reply_markup"])  # refused as Telegram refuses a broken one
            message["reply_markup"] = params["reply_markup"]
        self.sent.append(message)
        self._sent(message)
        return message

    async def _answer_callback_query(self, params: JsonDict) -> bool:
        query_id = params.get("callback_query_id")
        known = self._any_callback_query or query_id in self._issued_queries
        if not query_id or not known or query_id in self.answered_callbacks:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self.answered_callbacks.append(str(query_id))
        return True

    async def _send_chat_action(self, params: JsonDict) -> bool:
        chat = self._chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        if params.get("action") == "typing":
            self._typing(chat["id"])
        return True

    def _chat(self, params: JsonDict) -> JsonDict:
        """The private chat a method writes to, refused as Telegram refuses it."""
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        # Private chats, the only ones the hub writes to, have the user's (positive) id.
        if type(chat_id) is not int or chat_id <= 0:
            raise bad_request("chat not found")
        user = self.users.get(chat_id)
        if user is not None:
            return user.chat()
        if not self._writes_to_strangers:
            raise bad_request("chat not found")
        return {"id": chat_id, "type": "private"}
