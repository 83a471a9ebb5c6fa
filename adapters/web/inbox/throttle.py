"""Failed sign-ins per email and address: past a few in a window, sign-in waits."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Protocol

from redis.asyncio import Redis


def attempt_key(email: str, address: str | None) -> str:
    # Hashed: keys may end up in Redis, and emails there would be personal data.
    raw = f"{email.strip().lower()}|{address or '-'}"
    return hashlib.sha256(raw.encode()).hexdigest()


class LoginThrottle(Protocol):
    async def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may try again; None when it may now."""
        ...

    async def failed(self, key: str) -> None: ...

    async def cleared(self, key: str) -> None:
        """A successful sign-in forgets the failures."""
        ...


class LocalThrottle:
    """Fixed windows in this process's memory (the default, without Redis)."""

    MAX_KEYS = 100_000  # past this, windows that are over are dropped

    def __init__(self, failures: int, window: timedelta) -> None:
        self._limit = failures
        self._window = window.total_seconds()
        self._seen: dict[str, tuple[int, float]] = {}  # key -> (failures, window ends)

    async def retry_after(self, key: str) -> float | None:
        count, ends = self._seen.get(key, (0, 0.0))
        wait = ends - time.monotonic()
        return wait if count >= self._limit and wait > 0 else None

    async def failed(self, key: str) -> None:
        now = time.monotonic()
        count, ends = self._seen.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + self._window
        self._seen[key] = (count + 1, ends)
        if len(self._seen) > self.MAX_KEYS:
            self._seen = {k: v for k, v in self._seen.items() if v[1] > now}

    async def cleared(self, key: str) -> None:
        self._seen.pop(key, None)


class RedisThrottle:
    """The same windows in Redis, shared by every hub process."""

    def __init__(
        self, redis: Redis, failures: int, window: timedelta, prefix: str = "omnihub:login:"
    ) -> None:
        self._redis = redis
        self._limit = failures
        self._window = max(1, int(window.total_seconds()))
        self._prefix = prefix

    async def retry_after(self, key: str) -> float | None:
        name = self._prefix + key
        count = await self._redis.get(name)
        if count is None or int(count) < self._limit:
            return None
        ttl = await self._redis.ttl(name)
        return float(ttl) if ttl > 0 else None

    async def failed(self, key: str) -> None:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            # The window starts at the first failure and is not pushed back by later ones.
            pipe.set(name, 0, nx=True, ex=self._window)
            pipe.incr(name)
            await pipe.execute()

    async def cleared(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)
