"""How the simulated providers reach the hub: its public URLs, posted to where it listens."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

logger = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds for the hub to answer one webhook


class HubUnreachable(Exception):
    """The hub's webhook did not answer (not listening, or too slow)."""


@dataclass(frozen=True)
class HubAnswer:
    status: int
    body: str


class HubLink:
    """Posts webhooks to the hub as a provider would, over HTTP on loopback.

    Providers sign the public URL (OMNIHUB_PUBLIC_URL), which may well not be
    reachable from this machine (a tunnel, a proxy), so requests go to `hub_base`
    instead, with the public URL's path: the hub checks signatures against its public
    URL anyway, never against what it was called on.
    """

    def __init__(self, public_base: str, hub_base: str) -> None:
        self.public_base = public_base.rstrip("/")
        self.hub_base = hub_base.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    def public_url(self, path: str) -> str:
        return self.public_base + path

    def local_url(self, public_url: str) -> str | None:
        """Where to post what a provider would post to `public_url`; None when not the hub's."""
        base = self.public_base
        if public_url == base or public_url.startswith((base + "/", base + "?")):
            return self.hub_base + public_url[len(base) :]
        return None

    async def post(
        self,
        public_url: str,
        *,
        form: Mapping[str, str] | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> HubAnswer:
        url = self.local_url(public_url)
        if url is None:
            # A simulator must never call out: a URL outside the hub stays uncalled.
            raise HubUnreachable(f"{public_url} is not under the hub's {self.public_base}")
        try:
            async with self._open().post(
                url,
                data=dict(form) if form is not None else None,
                json=json,
                headers=dict(headers or {}),
                timeout=aiohttp.ClientTimeout(total=TIMEOUT),
            ) as answer:
                return HubAnswer(answer.status, await answer.text())
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("the hub did not take %s: %s", url, exc or type(exc).__name__)
            raise HubUnreachable(str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session
