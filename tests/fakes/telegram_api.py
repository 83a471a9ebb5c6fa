"""Telegram's Bot API on 127.0.0.1 for tests: the simulator's, with what only tests need.

The protocol is adapters/simulator/telegram_api.py, which python-telegram-bot talks to
(INTEGRATIONS.md). Here it gets a port of its own, a record of every call (and a way
to wait for one), failures of the next calls of a method, stalls, and a way to POST
updates to a webhook with the secret header, as Telegram does. Only users the test
added (or who wrote) may be written to, as on Telegram; recorded updates' callback
query ids are answerable.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import ClientSession, web
from yarl import URL

from adapters.simulator.bot_api import JsonDict, error_response
from adapters.simulator.telegram_api import SECRET_HEADER, BotApi, TelegramUser

__all__ = ["ApiCall", "FakeTelegramApi", "User"]

User = TelegramUser


@dataclass(frozen=True)
class ApiCall:
    """One Bot API request as the server decoded it."""

    method: str
    params: JsonDict
    # time.monotonic() at arrival: benchmarks measure webhook-to-reply latency with it.
    received_at: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class _Failure:
    status: int
    description: str
    retry_after: int | None


class FakeTelegramApi(BotApi):
    """The Bot API of one bot, served on 127.0.0.1; use `async with` or start()/close()."""

    def __init__(
        self,
        token: str = "123456:test-token",  # noqa: S107 (a fake bot's token)
        *,
        username: str = "omnihub_test_bot",
    ):
        super().__init__(
            token,
            first_name="Omnihub",
            username=username,
            first_update_id=731_000_001,
            writes_to_strangers=False,
            any_callback_query=True,
        )
        self.calls: list[ApiCall] = []
        self._calls_by_method: dict[str, list[ApiCall]] = defaultdict(list)
        self._arrived = asyncio.Condition()
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._stalled: set[str] = set()
        self._release = asyncio.Event()
        self._user_ids = itertools.count(5_000_000_001)
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._base_url: str | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1 and return the base URL (no trailing slash)."""
        app = web.Application()
        self.add_routes(app)
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
    ) -> TelegramUser:
        """A user who has started the bot, so the bot may write to them."""
        user = TelegramUser(
            id=next(self._user_ids) if user_id is None else user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self.users[user.id] = user
        return user

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

    # --- the server ----------------------------------------------------------------------

    async def _intercept(self, method: str, params: JsonDict) -> web.Response | None:
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
        return None
