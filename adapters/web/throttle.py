"""Fixed-window counts per key (failed sign-ins, new web-chat sessions): past a limit, wait."""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from redis.asyncio import Redis


def address_key(address: str | None) -> str:
    """A client's address as a key: what one subscriber holds counts as one address.

    That is an IPv4 address, or an IPv6 /64 (a home or an office gets a whole /64, and
    one script could otherwise take a new address for every request).
    """
    group = address or "-"
    try:
        ip = ipaddress.ip_address(group)
    except ValueError:
        pass  # not an IP address (a Unix socket's peer): as it is
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            group = str(ip.ipv4_mapped)  # IPv4 clients of a dual-stack listener
        elif isinstance(ip, ipaddress.IPv6Address):
            group = str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
        else:
            group = str(ip)
    # Hashed: keys may end up in Redis, and addresses there would be personal data.
    return hashlib.sha256(group.encode()).hexdigest()


class Throttle(Protocol):
    async def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may go on; None when it may now."""
        ...

    async def count(self, key: str) -> float | None:
        """Counts one for `key`; seconds to wait when that one is past the limit, else None.

        Counting and deciding are one step, so requests sent all at once are all counted
        before any is let through.
        """
        ...

    async def forgive(self, key: str) -> None:
        """Takes back one count of the window (an attempt that turned out good)."""
        ...

    async def cleared(self, key: str) -> None:
        """Forgets the count (a successful sign-in forgets the failures)."""
        ...


class LocalThrottle:
    """Fixed windows in this process's memory (the default, without Redis)."""

    MAX_KEYS = 100_000  # past this, windows that are over are dropped

    def __init__(
        self, limit: int, window: timedelta, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window.total_seconds()
        self._clock = clock  # tests move it to end a window
        self._seen: dict[str, tuple[int, float]] = {}  # key -> (count, window ends)

    async def retry_after(self, key: str) -> float | None:
        count, ends = self._seen.get(key, (0, 0.0))
        wait = ends - self._clock()
        return wait if count >= self._limit and wait > 0 else None

    async def count(self, key: str) -> float | None:
        now = self._clock()
        count, ends = self._seen.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + self._window
        self._seen[key] = (count + 1, ends)
        if len(self._seen) > self.MAX_KEYS:
            self._seen = {k: v for k, v in self._seen.items() if v[1] > now}
        return ends - now if count >= self._limit else None

    async def forgive(self, key: str) -> None:
        count, ends = self._seen.get(key, (0, 0.0))
        if count > 0 and ends > self._clock():
            self._seen[key] = (count - 1, ends)

    async def cleared(self, key: str) -> None:
        self._seen.pop(key, None)


class RedisThrottle:
    """The same windows in Redis, shared by every hub process."""

    def __init__(self, redis: Redis, limit: int, window: timedelta, *, prefix: str) -> None:
        self._redis = redis
        self._limit = limit
        self._window = max(1, int(window.total_seconds()))
        self._prefix = prefix

    async def retry_after(self, key: str) -> float | None:
        name = self._prefix + key
        count = await self._redis.get(name)
        if count is None or int(count) < self._limit:
            return None
        ttl = await self._redis.ttl(name)
        return float(ttl) if ttl > 0 else None

    async def count(self, key: str) -> float | None:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            # The window starts at the first count and is not pushed back by later ones.
            pipe.set(name, 0, nx=True, ex=self._window)
            pipe.incr(name)
            pipe.ttl(name)
            _, count, ttl = await pipe.execute()
        return float(ttl) if int(count) > self._limit and ttl > 0 else None

    async def forgive(self, key: str) -> None:
        # One step, and never on a window that is over: a DECR there would make a key
        # without an expiry.
        await self._redis.eval(_FORGIVE, 1, self._prefix + key)

    async def cleared(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


_FORGIVE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
"""
