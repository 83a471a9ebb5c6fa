"""Twilio's Messages API on 127.0.0.1 for tests: the simulator's, with what only tests need.

The protocol is adapters/simulator/twilio_api.py, which the real `twilio` library talks
to (INTEGRATIONS.md). Here it gets fixed credentials, a port of its own, failures on
the next sends (429/20429, 500, 400/21610, or any `Failure`) or stalls (the client's
timeout must fire), a count of requests, and status callbacks a test sends when it
likes, to the StatusCallback URL the hub gave.

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
import functools
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiohttp import ClientSession, web

from adapters.simulator import twilio_api
from adapters.simulator.twilio_api import (
    SignedWebhook,
    TwilioApiError,
    TwilioMessage,
    TwilioMessagesApi,
    new_sid,
    segments,
)

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "OPTED_OUT",
    "OUTSIDE_WINDOW",
    "RATE_LIMITED",
    "SERVER_ERROR",
    "Failure",
    "FakeMessage",
    "FakeTwilioApi",
    "inbound_form",
    "new_sid",
    "segments",
    "signed_webhook",
]

ACCOUNT_SID = "AC6e1d7f3c0b9a48d2a5f4c3b2e1d0a9f8"
AUTH_TOKEN = "9f1c2b3a4d5e6f708192a3b4c5d6e7f8"

FakeMessage = TwilioMessage


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


def signed_webhook(
    url: str, form: Mapping[str, str], auth_token: str = AUTH_TOKEN
) -> SignedWebhook:
    """`form` signed as Twilio signs it for `url`, by default with the fake's token."""
    return twilio_api.signed_webhook(url, form, auth_token)


# An inbound webhook's form (twilio_api.inbound_form), by default for the fake's account.
inbound_form = functools.partial(twilio_api.inbound_form, account_sid=ACCOUNT_SID)


class FakeTwilioApi(TwilioMessagesApi):
    """Twilio's Messages API on 127.0.0.1 (start()/close() or `async with`)."""

    def __init__(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        numbers: Iterable[str] | None = None,
        on_message: Callable[[TwilioMessage], None] | None = None,
    ) -> None:
        """`numbers`, when given, are the account's senders: any other From gets 21606.

        `on_message` is told of each message accepted, as it is (the router benchmark's
        provider process reports them to the benchmark).
        """
        super().__init__(account_sid, auth_token, senders=numbers)
        self.on_message = on_message
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

    async def deliver(self, sid: str) -> int:
        return await self.callback(sid, "delivered")

    async def read(self, sid: str) -> int:
        return await self.callback(sid, "read")

    async def fail(self, sid: str, error_code: str) -> int:
        """A `failed` callback, e.g. 63016 (WhatsApp window closed, asynchronously)."""
        return await self.callback(sid, "failed", error_code)

    async def undeliver(self, sid: str, error_code: str = "30003") -> int:
        return await self.callback(sid, "undelivered", error_code)

    async def _post(self, webhook: SignedWebhook) -> int:
        if self._session is None:
            raise RuntimeError("the fake Twilio API is not started")
        async with self._session.post(
            self._target(webhook.url), data=webhook.form, headers=webhook.headers
        ) as answer:
            await answer.read()
            return answer.status

    def _target(self, url: str) -> str:
        for public, local in self._forwards.items():
            if url == public or url.startswith(public + "/") or url.startswith(public + "?"):
                return local + url[len(public) :]
        return url

    async def _create_message(self, request: web.Request) -> web.Response:
        self.requests += 1
        return await super()._create_message(request)

    async def _before_accepting(self) -> None:
        if self._stalls:
            self._stalls -= 1
            await self._released.wait()
            raise TwilioApiError(503, 20503, "Service unavailable")
        if self._failures:
            failure = self._failures.popleft()
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            raise TwilioApiError(failure.status, failure.code, failure.message, headers)

    def _accepted(self, message: TwilioMessage) -> None:
        if self.on_message is not None:
            self.on_message(message)
