"""Token buckets per sender: in process with a fake clock, and shared through Redis.

No test measures wall-clock speed: each checks the wait a limiter asked for, which the
bucket arithmetic fixes exactly.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest
from redis.asyncio import Redis

from adapters.redis_backends import RedisRateLimiter
from crm.models import Channel
from dialogue.ratelimit import (
    SMS_INTERNATIONAL_RATE,
    SMS_LONG_CODE_RATE,
    SMS_SHORT_CODE_RATE,
    SMS_TOLL_FREE_RATE,
    TELEGRAM_RATE,
    WEBCHAT_RATE,
    WHATSAPP_RATE,
    InProcessRateLimiter,
    TokenBucket,
    sender_rate,
)


class FakeTime:
    """A clock that moves only when a limiter sleeps (or a test advances it)."""

    def __init__(self, *, frozen: bool = False) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self._frozen = frozen  # record sleeps without moving: callers all ask "at once"

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if not self._frozen:
            self.now += seconds


async def test_a_full_bucket_grants_its_burst_then_makes_the_next_wait() -> None:
    time = FakeTime()
    limiter = InProcessRateLimiter(clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        await limiter.acquire("sms:+12025550123", rate=2.0, burst=3.0)
    assert time.waits == []
    await limiter.acquire("sms:+12025550123", rate=2.0, burst=3.0)
    assert time.waits == [0.5]
    await limiter.acquire("sms:+12025550123", rate=2.0, burst=3.0)
    assert time.waits == [0.5, 0.5]


async def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    time = FakeTime()
    limiter = InProcessRateLimiter(clock=time.clock, sleep=time.sleep)
    for _ in range(4):
        await limiter.acquire("k", rate=4.0, burst=4.0)
    time.now += 0.5  # two tokens back
    await limiter.acquire("k", rate=4.0, burst=4.0, cost=2.0)
    assert time.waits == []
    time.now += 3600  # an hour later the bucket holds its burst, not more
    await limiter.acquire("k", rate=4.0, burst=4.0, cost=4.0)
    await limiter.acquire("k", rate=4.0, burst=4.0)
    assert time.waits == [0.25]


async def test_keys_have_separate_buckets() -> None:
    time = FakeTime()
    limiter = InProcessRateLimiter(clock=time.clock, sleep=time.sleep)
    await limiter.acquire("sms:+12025550123", rate=1.0, burst=1.0)
    await limiter.acquire("sms:+12025550124", rate=1.0, burst=1.0)
    assert time.waits == []


async def test_concurrent_callers_book_consecutive_slots_in_order() -> None:
    time = FakeTime(frozen=True)
    limiter = InProcessRateLimiter(clock=time.clock, sleep=time.sleep)
    await asyncio.gather(*(limiter.acquire("k", rate=4.0, burst=3.0) for _ in range(50)))
    # Three at once, then one every quarter second: nobody shares a slot.
    assert time.waits == [n / 4 for n in range(1, 48)]


async def test_segments_cost_more_than_one_token() -> None:
    time = FakeTime(frozen=True)
    limiter = InProcessRateLimiter(clock=time.clock, sleep=time.sleep)
    await limiter.acquire("k", rate=1.0, burst=1.0, cost=3.0)  # a 3-segment SMS
    await limiter.acquire("k", rate=1.0, burst=1.0, cost=1.0)
    # More than the burst is allowed: it waits until the bucket could have paid.
    assert time.waits == [2.0, 3.0]


def test_many_random_callers_never_exceed_the_rate() -> None:
    rng = random.Random(7)
    for _ in range(50):
        rate, burst = rng.choice([0.5, 1.0, 3.0, 80.0]), rng.choice([1.0, 2.0, 5.0])
        bucket = TokenBucket(tokens=burst, updated=0.0)
        now = 0.0
        grants: list[tuple[float, float]] = []  # (when, cost)
        for _ in range(200):
            now += rng.expovariate(rate * 1.5)  # asking faster than the rate
            # Within the burst: a single larger cost exceeds any window by itself.
            cost = rng.choice([c for c in (0.0, 0.5, 1.0, 1.0, 2.0, 5.0) if c <= burst])
            grants.append((now + bucket.take(now, rate, burst, cost), cost))
        times = [when for when, _ in grants]
        assert all(b >= a - 1e-9 for a, b in itertools.pairwise(times)), "served in order"
        for i, (start, _) in enumerate(grants):
            taken = 0.0
            for end, cost in grants[i:]:
                taken += cost
                assert taken <= burst + rate * (end - start) + 1e-6


class StuckTime(FakeTime):
    """A frozen clock whose sleeps never end, so a waiter can be cancelled mid-wait."""

    def __init__(self) -> None:
        super().__init__(frozen=True)
        self.sleeping = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        self.sleeping.set()
        await asyncio.Event().wait()


async def cancel_while_waiting(acquire: Coroutine[Any, Any, None], time: StuckTime) -> None:
    time.sleeping.clear()
    waiter = asyncio.create_task(acquire)
    async with asyncio.timeout(5):
        await time.sleeping.wait()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_a_cancelled_waiter_gives_its_tokens_back() -> None:
    time = StuckTime()
    limiter = InProcessRateLimiter(clock=time.clock, sleep=time.sleep)
    await limiter.acquire("k", rate=1.0, burst=1.0)
    await cancel_while_waiting(limiter.acquire("k", rate=1.0, burst=1.0), time)
    await cancel_while_waiting(limiter.acquire("k", rate=1.0, burst=1.0), time)
    assert time.waits == [1.0, 1.0], "the cancelled slot was free again"


async def test_forgetting_idle_buckets_keeps_the_ones_in_debt() -> None:
    time = FakeTime(frozen=True)
    limiter = InProcessRateLimiter(clock=time.clock, sleep=time.sleep)
    await limiter.acquire("slow", rate=0.01, burst=1.0)
    await limiter.acquire("slow", rate=0.01, burst=1.0)  # 100 s in debt
    for n in range(1023):
        await limiter.acquire(f"fast:{n}", rate=1000.0, burst=1.0)
    time.now += 1.0  # every fast bucket is full again
    await limiter.acquire("fast:new", rate=1000.0, burst=1.0)  # the 1025th key: a sweep
    assert len(limiter._buckets) == 2
    await limiter.acquire("slow", rate=0.01, burst=1.0)
    assert time.waits[-1] == pytest.approx(199.0)


@pytest.mark.parametrize(
    ("rate", "burst", "cost"),
    [(0.0, 1.0, 1.0), (-1.0, 1.0, 1.0), (1.0, 0.0, 1.0), (1.0, 1.0, -1.0), (float("nan"), 1, 1)],
)
async def test_impossible_buckets_are_refused(rate: float, burst: float, cost: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        await InProcessRateLimiter().acquire("k", rate, burst, cost)


@pytest.mark.parametrize(
    ("channel", "sender", "rate"),
    [
        (Channel.SMS, "+12025550123", SMS_LONG_CODE_RATE),
        (Channel.SMS, "+14165550123", SMS_LONG_CODE_RATE),  # Canada is +1 too
        (Channel.SMS, "+18005550199", SMS_TOLL_FREE_RATE),
        (Channel.SMS, "+18335550199", SMS_TOLL_FREE_RATE),
        (Channel.SMS, "+18885550199", SMS_TOLL_FREE_RATE),
        (Channel.SMS, "12345", SMS_SHORT_CODE_RATE),
        (Channel.SMS, "123456", SMS_SHORT_CODE_RATE),
        (Channel.SMS, "+34600123456", SMS_INTERNATIONAL_RATE),
        (Channel.SMS, "+5511912345678", SMS_INTERNATIONAL_RATE),
        (Channel.SMS, "TIENDA", SMS_INTERNATIONAL_RATE),  # alphanumeric sender id
        (Channel.SMS, "MG" + "0" * 32, SMS_LONG_CODE_RATE),  # a Messaging Service
        (Channel.WHATSAPP, "whatsapp:+14155238886", WHATSAPP_RATE),
        (Channel.TELEGRAM, "omnihub_bot", TELEGRAM_RATE),
        (Channel.WEBCHAT, "", WEBCHAT_RATE),
    ],
)
def test_sender_rates(channel: Channel, sender: str, rate: float) -> None:
    assert sender_rate(channel, sender) == (rate, max(1.0, rate))


def test_published_sender_rates() -> None:
    assert (SMS_LONG_CODE_RATE, SMS_TOLL_FREE_RATE, SMS_SHORT_CODE_RATE) == (1, 3, 100)
    assert (SMS_INTERNATIONAL_RATE, WHATSAPP_RATE, TELEGRAM_RATE) == (10, 80, 30)
    assert WEBCHAT_RATE >= 1_000_000


# Redis: several hub processes share one bucket per sender.


@pytest.fixture
async def two_clients(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    """Two clients standing for two hub processes."""
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    yield first, second
    await first.aclose()
    await second.aclose()


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own, removed afterwards."""
    prefix = f"test:ratelimit:{uuid.uuid4().hex}:"
    yield prefix
    client = Redis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_two_processes_share_one_bucket_through_redis(
    two_clients: tuple[Redis, Redis], prefix: str
) -> None:
    time = FakeTime(frozen=True)
    limiters = [RedisRateLimiter(client, prefix, sleep=time.sleep) for client in two_clients]
    # So slow that the test's own duration refills a negligible fraction of a token.
    rate, burst = 0.001, 5.0
    await asyncio.gather(
        *(limiters[n % 2].acquire("sms:+12025550123", rate, burst) for n in range(20))
    )
    # Five at once between them, then every caller booked a slot of its own.
    assert sorted(time.waits) == pytest.approx([n * 1000.0 for n in range(1, 16)], abs=1.0)


async def test_redis_buckets_of_different_keys_are_separate(
    two_clients: tuple[Redis, Redis], prefix: str
) -> None:
    time = FakeTime(frozen=True)
    limiter = RedisRateLimiter(two_clients[0], prefix, sleep=time.sleep)
    await limiter.acquire("a", 0.001, 1.0)
    await limiter.acquire("b", 0.001, 1.0)
    assert time.waits == []


async def test_a_cancelled_redis_waiter_gives_its_tokens_back(
    two_clients: tuple[Redis, Redis], prefix: str
) -> None:
    time = StuckTime()
    first = RedisRateLimiter(two_clients[0], prefix, sleep=time.sleep)
    second = RedisRateLimiter(two_clients[1], prefix, sleep=time.sleep)
    await first.acquire("k", 0.001, 1.0)
    await cancel_while_waiting(first.acquire("k", 0.001, 1.0), time)
    await cancel_while_waiting(second.acquire("k", 0.001, 1.0), time)
    assert time.waits == pytest.approx([1000.0, 1000.0], abs=1.0)


async def test_idle_redis_buckets_expire(two_clients: tuple[Redis, Redis], prefix: str) -> None:
    limiter = RedisRateLimiter(two_clients[0], prefix)
    await limiter.acquire("k", rate=10.0, burst=10.0, cost=5.0)
    # Full again after half a second; kept a second longer for clock differences.
    assert 0 < await two_clients[0].pttl(f"{prefix}k") <= 1500


async def test_redis_limiter_refuses_impossible_buckets(
    two_clients: tuple[Redis, Redis], prefix: str
) -> None:
    with pytest.raises(ValueError, match="must be"):
        await RedisRateLimiter(two_clients[0], prefix).acquire("k", 0.0, 1.0)
