"""A fake Telegram Bot API on 127.0.0.1, for python-telegram-bot to talk to in tests.

It speaks the real protocol (INTEGRATIONS.md): `/bot{token}/{method}`, parameters
form-encoded, multipart or JSON, where string parameters arrive as they are and every
other one is JSON text; answers `{"ok": true, "result": ...}` or `{"ok": false,
"error_code": N, "description": ...}` with HTTP status N. It records every call, can be
told to fail the next calls of a method, and plays Telegram's other half too: it builds
updates (text, button press, shared contact) and POSTs them to a webhook with the
secret header, as Telegram does.

    async with FakeTelegramApi() as api:
        settings = Settings(TELEGRAM_BOT_TOKEN=api.token, ...,
                            OMNIHUB_TELEGRAM_API_URL=api.base_url)
        ana = api.add_user("Ana", "García")  # a user who has started the bot
        status = await api.deliver(webhook_url, api.text_update(ana, "hola"), secret="s3cret")
        [reply] = await api.wait_for("sendMessage")  # the hub's answer, however late
        api.block_next_send()  # 403 "Forbidden: bot was blocked by the user"

Tests must set NO_PROXY=127.0.0.1,localhost: the library's HTTP client honours proxy
variables, and one inherited from the environment breaks loopback calls.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import ClientSession, web
from yarl import URL

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

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Parameters the Bot API reads as plain strings; all others are JSON text.


@dataclass(frozen=True)
class ApiCall:
    """One Bot API request as the server decoded it."""

    method: str
    params: JsonDict
    # time.monotonic() at arrival: benchmarks measure webhook-to-reply latency with it.
    received_at: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class User:
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
            if value is not None:
                data[key] = value
        return data

    def private_chat(self) -> JsonDict:
        chat = {k: v for k, v in self.to_json().items() if k in CHAT_FIELDS}
        return {**chat, "type": "private"}


@dataclass
class Webhook:
    """What setWebhook registered."""

    url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Failure:
    status: int
    description: str
    retry_after: int | None


class FakeTelegramApi:
    """The Bot API of one bot, served on 127.0.0.1; use `async with` or start()/close()."""

    def __init__(
        self,
        token: str = "123456:test-token",  # noqa: S107 (a fake bot's token)
        *,
        username: str = "omnihub_test_bot",
    ):
        self.token = token
        bot_id = int(token.split(":", 1)[0])
        self.bot_user: JsonDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Omnihub",
            "username": username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[ApiCall] = []
        self._calls_by_method: dict[str, list[ApiCall]] = defaultdict(list)
        self._arrived = asyncio.Condition()
        self.sent: list[JsonDict] = []  # every Message the bot sent, as returned
        self.webhook = Webhook()
        self.answered_callbacks: list[str] = []
        self.users: dict[int, User] = {}
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._stalled: set[str] = set()
        self._release = asyncio.Event()
        self._update_ids = itertools.count(731_000_001)
        self._user_ids = itertools.count(5_000_000_001)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._methods: dict[str, Callable[[JsonDict], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
        }
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._base_url: str | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1 and return the base URL (no trailing slash)."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._base_url = f"http://127.0.0.1:{port}"
        self._session = ClientSession()
        return self._base_url

    async def close(self) -> None:
        self._release.set()  # stalled requests end now instead of holding the shutdown
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the fake Telegram API is not started")
        return self._base_url

    # --- what the tests tell it and ask it ---------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        return list(self._calls_by_method[method])

    async def wait_for(self, method: str, count: int = 1, *, within: float = 5.0) -> list[ApiCall]:
        """The first `count` calls of `method`, once arrived; TimeoutError after `within` s."""
        calls = self._calls_by_method[method]
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(calls) >= count)
        return calls[:count]

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with this error instead."""
        for _ in range(times):
            self._failures[method].append(_Failure(status, description, retry_after))

    def block_next_send(self, times: int = 1) -> None:
        self.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", times=times)

    def rate_limit_next_send(self, retry_after: int, times: int = 1) -> None:
        self.fail_next(
            "sendMessage",
            429,
            f"Too Many Requests: retry after {retry_after}",
            retry_after=retry_after,
            times=times,
        )

    def reject_next_send(self, description: str = "chat not found", times: int = 1) -> None:
        self.fail_next("sendMessage", 400, f"Bad Request: {description}", times=times)

    def stall(self, method: str) -> None:
        """Never answer `method` (until close): the client's read timeout fires."""
        self._stalled.add(method)

    def add_user(
        self,
        first_name: str,
        last_name: str | None = None,
        *,
        username: str | None = None,
        language_code: str | None = "es",
        user_id: int | None = None,
    ) -> User:
        """A user who has started the bot, so the bot may write to them."""
        user = User(
            id=next(self._user_ids) if user_id is None else user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self.users[user.id] = user
        return user

    # --- updates, as Telegram pushes them ----------------------------------------------

    def text_update(self, user: User, text: str) -> JsonDict:
        return self._message_update(user, {"text": text})

    def contact_update(
        self,
        user: User,
        phone_number: str,
        *,
        contact_user_id: int | None,
        first_name: str | None = None,
    ) -> JsonDict:
        """A shared contact card; Telegram sets its user_id when it is a Telegram user."""
        contact: JsonDict = {
            "phone_number": phone_number,
            "first_name": first_name or user.first_name,
        }
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return self._message_update(user, {"contact": contact})

    def callback_update(
        self, user: User, data: str, *, message: JsonDict | None = None
    ) -> JsonDict:
        """A press on an inline button; `message` defaults to the bot's last one to `user`."""
        if message is None:
            mine = [m for m in self.sent if m["chat"]["id"] == user.id]
            message = mine[-1] if mine else None
        query: JsonDict = {
            "id": f"{user.id}{next(self._callback_ids):09d}",
            "from": user.to_json(),
            "chat_instance": str(-(user.id * 7919 % 10**18)),
            "data": data,
        }
        if message is not None:
            query["message"] = message
        return {"update_id": next(self._update_ids), "callback_query": query}

    async def deliver(
        self, url: str | URL, update: Mapping[str, Any], *, secret: str | None
    ) -> int:
        """POST an update to a webhook as Telegram does; returns the HTTP status."""
        if self._session is None:
            raise RuntimeError("the fake Telegram API is not started")
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with self._session.post(url, json=update, headers=headers) as response:
            await response.read()
            return response.status

    def _message_update(self, user: User, content: JsonDict) -> JsonDict:
        self.users.setdefault(user.id, user)
        message = {
            "message_id": self._next_message_id(user.id),
            "from": user.to_json(),
            "chat": user.private_chat(),
            "date": int(time.time()),
            **content,
        }
        return {"update_id": next(self._update_ids), "message": message}

    def _next_message_id(self, chat_id: int) -> int:
        # Message ids count per chat, shared by both sides of it.
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    # --- the server ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
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
        except BotApiError as exc:
            return error_response(exc.status, exc.description)
        call = ApiCall(method, params, received_at=time.monotonic())
        self.calls.append(call)
        self._calls_by_method[method].append(call)
        async with self._arrived:
            self._arrived.notify_all()
        if method in self._stalled:
            await self._release.wait()
            return error_response(500, "Internal Server Error: the fake was closed")
        if self._failures[method]:
            failure = self._failures[method].popleft()
            return error_response(
                failure.status, failure.description, retry_after=failure.retry_after
            )
        try:
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
        user = self._chat(params)
        text = params.get("text")
        if not text:
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        message: JsonDict = {
            "message_id": self._next_message_id(user.id),
            "from": self.bot_user,
            "chat": user.private_chat(),
            "date": int(time.time()),
            "text": text,
        }
        if "reply_markup" in params:
            message["reply_markup"] = _check_markup(params["reply_markup"])
        self.sent.append(message)
        return message

    async def _answer_callback_query(self, params: JsonDict) -> bool:
        query_id = params.get("callback_query_id")
        if not query_id or query_id in self.answered_callbacks:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self.answered_callbacks.append(query_id)
        return True

    async def _send_chat_action(self, params: JsonDict) -> bool:
        self._chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _chat(self, params: JsonDict) -> User:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        user = self.users.get(chat_id) if isinstance(chat_id, int) else None
        if user is None:
            # Telegram only lets a bot write to users who have started it.
            raise bad_request("chat not found")
        return user


def _check_markup(markup: Any) -> JsonDict:
    # The fake takes inline keyboards only: the hub sends no other kind.
    if inline_rows(markup) is None:
        raise bad_request("can't parse reply keyboard markup JSON object")
    return dict(markup)
