"""The HTTP client the twilio library sends through: aiohttp, our API URL, a real timeout."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from multidict import CIMultiDict
from twilio.http import AsyncHttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]

logger = logging.getLogger(__name__)

_TWILIO_API_HOST = "api.twilio.com"

_catcher: ContextVar[AnswerHeaders | None] = ContextVar("twilio_answer_headers", default=None)


class AnswerHeaders:
    """Catches the headers of Twilio's answer to the request made while it is entered.

    The library turns an error answer into an exception without its headers, and a
    rate-limited send still needs Retry-After. A context variable carries this catcher
    down to the HTTP client, so concurrent sends never see each other's answers.
    """

    def __init__(self) -> None:
        self.headers: Mapping[str, str] = CIMultiDict()
        self._token: Token[AnswerHeaders | None] | None = None

    def __enter__(self) -> AnswerHeaders:
        self._token = _catcher.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _catcher.reset(self._token)


# The library's own AsyncTwilioHttpClient ignores its timeout, passes `auth=` (deprecated
# by aiohttp 3.14, a test failure under our warning filter) and has no base-URL setting,
# so this implements the library's async client interface itself.
class TwilioAiohttpClient(AsyncHttpClient):  # type: ignore[misc]
    """Sends the library's requests with aiohttp to `api_url`, within `timeout` seconds.

    Opens its session on first use (inside the event loop) and closes it in aclose().
    """

    def __init__(self, api_url: str, *, timeout: float) -> None:
        super().__init__(logger, True, timeout)
        self._api = urlsplit(api_url.rstrip("/"))
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def request(
        self,
        method: str,
        uri: str,
        params: Mapping[str, object] | None = None,
        data: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the library's interface passes it)
        allow_redirects: bool = False,
    ) -> Response:
        session = self._open_session()
        sent_headers = dict(headers or {})
        if auth is not None:
            sent_headers["Authorization"] = _basic_auth(*auth)
        async with (
            asyncio.timeout(timeout or self.timeout),
            session.request(
                method.upper(),
                self._route(uri),
                params=_fields(params),
                data=_fields(data),
                headers=sent_headers,
                allow_redirects=allow_redirects,
            ) as answer,
        ):
            text = await answer.text()
        catcher = _catcher.get()
        if catcher is not None:
            catcher.headers = CIMultiDict(answer.headers)
        return Response(answer.status, text, answer.headers)

    async def aclose(self) -> None:
        """Close the HTTP session; safe to call more than once."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the Twilio HTTP client is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _route(self, uri: str) -> str:
        """`uri` on the configured API server (OMNIHUB_TWILIO_API_URL)."""
        parts = urlsplit(uri)
        if parts.netloc != _TWILIO_API_HOST:
            return uri
        api = self._api
        return urlunsplit((api.scheme, api.netloc, api.path + parts.path, parts.query, ""))


def _basic_auth(username: str, password: str) -> str:
    credentials = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(credentials).decode("ascii")


def _fields(values: Mapping[str, object] | None) -> list[tuple[str, str]] | None:
    """Form or query fields, a list value repeating its name (MediaUrl) as Twilio expects."""
    if values is None:
        return None
    fields = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            fields.append((name, str(item)))
    return fields
