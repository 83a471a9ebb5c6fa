"""Fixed-window throttles, in memory and in Redis: counting, waiting, addresses as keys."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from adapters.web.throttle import LocalThrottle, RedisThrottle, Throttle, address_key

WINDOW = timedelta(minutes=10)


# The Redis one is marked by hand: it asks for redis_url only when it runs.
@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def throttle(request: pytest.FixtureRequest) -> AsyncIterator[Throttle]:
    """A limit of 3 per window, in this process or in Redis."""
    if request.param == "local":
        yield LocalThrottle(3, WINDOW)
        return
    redis = Redis.from_url(request.getfixturevalue("redis_url"))
    # Redis outlives the test: keys of its own.
    yield RedisThrottle(redis, 3, WINDOW, prefix=f"test:throttle:{uuid.uuid4().hex}:")
    await redis.aclose()


async def test_past_the_limit_a_key_waits_until_the_window_ends(throttle: Throttle) -> None:
    assert [await throttle.count("a") for _ in range(3)] == [None] * 3
    assert await throttle.retry_after("a") == pytest.approx(WINDOW.total_seconds(), abs=2)
    wait = await throttle.count("a")
    assert wait == pytest.approx(WINDOW.total_seconds(), abs=2)
    assert await throttle.retry_after("b") is None
    assert await throttle.count("b") is None
    await throttle.cleared("a")
    assert await throttle.count("a") is None


async def test_counts_sent_all_at_once_let_only_the_limit_through(throttle: Throttle) -> None:
    waits = await asyncio.gather(*(throttle.count("a") for _ in range(10)))
    assert sum(wait is None for wait in waits) == 3


async def test_a_window_starts_at_its_first_count_and_is_not_pushed_back() -> None:
    now = 1000.0
    throttle = LocalThrottle(2, WINDOW, clock=lambda: now)
    await throttle.count("a")
    now += 300
    await throttle.count("a")
    assert await throttle.count("a") == 300  # refused, and counted, but the end holds
    now += 300
    assert await throttle.retry_after("a") is None
    assert await throttle.count("a") is None


def test_an_address_is_a_subscriber_ipv6_by_its_64() -> None:
    assert address_key("203.0.113.7") != address_key("203.0.113.8")
    assert address_key("2001:db8:0:1::1") == address_key("2001:db8:0:1:ffff:1:2:3")
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8:0:2::1")
    # An IPv4 client of a dual-stack listener is that IPv4 address, not one big /64.
    assert address_key("::ffff:203.0.113.7") == address_key("203.0.113.7")
    assert address_key("::ffff:203.0.113.7") != address_key("::ffff:203.0.113.8")
    assert address_key(None) == address_key(None)
    assert "203.0.113.7" not in address_key("203.0.113.7")  # hashed: personal data


async def test_forgiving_takes_back_one_count_and_nothing_past_the_window(
    throttle: Throttle,
) -> None:
    for _ in range(3):
        await throttle.count("a")
    assert await throttle.retry_after("a") is not None
    await throttle.forgive("a")  # the third attempt turned out good
    assert await throttle.retry_after("a") is None
    assert await throttle.count("a") is None
    assert await throttle.count("a") is not None
    # A key never counted (or whose window is over) is left as it is, not below zero.
    await throttle.forgive("b")
    assert [await throttle.count("b") is None for _ in range(4)] == [True] * 3 + [False]
