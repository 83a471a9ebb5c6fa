"""Live updates: the in-process bus and the Redis bus deliver, keep order, and let go.

Every wait for a message has a deadline (asyncio.timeout); nothing sleeps to let a
message arrive.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from adapters.redis_backends import RedisBus
from dialogue.local_bus import InProcessBus, Subscription

DEADLINE = 5.0  # seconds; only reached when a message that should come does not


async def receive(subscription: Subscription, count: int) -> list[bytes]:
    received: list[bytes] = []
    async with asyncio.timeout(DEADLINE):
        while len(received) < count:
            received.append(await anext(subscription))
    return received


async def assert_ended(subscription: Subscription) -> None:
    async with asyncio.timeout(DEADLINE):
        with pytest.raises(StopAsyncIteration):
            await anext(subscription)


@dataclass
class Buses:
    """Two buses standing for two hub processes (the same one when in-process)."""

    first: InProcessBus | RedisBus
    second: InProcessBus | RedisBus
    admin: Redis | None = None  # a third client, to ask Redis who listens
    prefix: str = ""

    async def listeners(self, topic: str) -> int:
        """How many Redis connections listen on `topic`."""
        assert self.admin is not None
        ((_, count),) = await self.admin.pubsub_numsub(self.prefix + topic)
        return int(count)

    async def wait_for_listeners(self, topic: str, expected: int) -> None:
        """Poll Redis, with a deadline, until `expected` connections listen on `topic`."""
        # Redis offers no event for another connection's (un)subscribing: poll it.
        async with asyncio.timeout(DEADLINE):
            while await self.listeners(topic) != expected:  # noqa: ASYNC110
                await asyncio.sleep(0.01)


@asynccontextmanager
async def two_redis_buses(url: str) -> AsyncIterator[Buses]:
    prefix = f"test:bus:{uuid.uuid4().hex}:"
    clients = [Redis.from_url(url) for _ in range(3)]
    first, second = RedisBus(clients[0], prefix), RedisBus(clients[1], prefix)
    try:
        yield Buses(first, second, clients[2], prefix)
    finally:
        await first.aclose()
        await second.aclose()
        for client in clients:
            await client.aclose()


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[Buses]:
    if request.param == "in-process":
        bus = InProcessBus()
        yield Buses(bus, bus)
        return
    async with two_redis_buses(request.getfixturevalue("redis_url")) as redis_buses:
        yield redis_buses


@pytest.fixture
async def redis_buses(redis_url: str) -> AsyncIterator[Buses]:
    async with two_redis_buses(redis_url) as buses:
        yield buses


async def test_every_subscriber_gets_every_message_in_order(buses: Buses) -> None:
    messages = [f"message {n}".encode() for n in range(100)]
    async with (
        buses.first.subscribe("conversation:1") as a,
        buses.first.subscribe("conversation:1") as b,
        buses.second.subscribe("conversation:1") as c,
    ):
        for message in messages:
            await buses.second.publish("conversation:1", message)
        for subscription in (a, b, c):
            assert await receive(subscription, len(messages)) == messages


async def test_a_message_published_elsewhere_arrives_here(buses: Buses) -> None:
    async with buses.first.subscribe("inbox") as updates:
        await buses.second.publish("inbox", b'{"conversation": 7}')
        assert await receive(updates, 1) == [b'{"conversation": 7}']


async def test_topics_are_separate(buses: Buses) -> None:
    async with buses.first.subscribe("conversation:1") as one:
        await buses.second.publish("conversation:2", b"not for one")
        await buses.second.publish("conversation:1", b"for one")
        # One publisher's messages arrive in order: had the first been delivered
        # here, it would come first.
        assert await receive(one, 1) == [b"for one"]


async def test_a_closed_subscription_ends_and_the_others_go_on(buses: Buses) -> None:
    async with buses.first.subscribe("t") as staying:
        leaving = buses.first.subscribe("t")
        async with leaving:
            await buses.second.publish("t", b"1")
            assert await receive(leaving, 1) == [b"1"]
        await assert_ended(leaving)
        await buses.second.publish("t", b"2")
        assert await receive(staying, 2) == [b"1", b"2"]
        await assert_ended(leaving)


async def test_closing_wakes_a_reader_waiting_for_a_message(buses: Buses) -> None:
    subscription = buses.first.subscribe("t")
    async with subscription:
        reader = asyncio.create_task(anext(subscription))
        await asyncio.sleep(0)  # let the reader start waiting
    with pytest.raises(StopAsyncIteration):
        async with asyncio.timeout(DEADLINE):
            await reader


async def test_iterating_without_async_with_subscribes_too(buses: Buses) -> None:
    subscription = buses.first.subscribe("t")
    first = asyncio.create_task(anext(subscription))
    if buses.admin is not None:
        await buses.wait_for_listeners("t", 1)  # nothing but Redis says when it is live
    await buses.second.publish("t", b"hello")
    async with asyncio.timeout(DEADLINE):
        assert await first == b"hello"
    await subscription.aclose()
    await assert_ended(subscription)
    await subscription.aclose()  # closing twice is harmless


# In-process only


async def test_in_process_subscription_is_live_as_soon_as_it_exists() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe("t")
    await bus.publish("t", b"early")
    assert await receive(subscription, 1) == [b"early"]
    assert bus.subscribers("t") == 1
    await subscription.aclose()
    assert bus.subscribers("t") == 0


async def test_a_slow_subscriber_loses_its_oldest_messages_and_blocks_no_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = InProcessBus(queue_size=3)
    slow, fast = bus.subscribe("t"), bus.subscribe("t")
    received: list[bytes] = []
    with caplog.at_level(logging.WARNING, logger="dialogue.local_bus"):
        for n in range(6):
            await bus.publish("t", str(n).encode())  # returns although slow never reads
            received.append(await anext(fast))
    assert received == [b"0", b"1", b"2", b"3", b"4", b"5"]
    assert await receive(slow, 3) == [b"3", b"4", b"5"]
    assert slow.dropped == 3
    assert fast.dropped == 0
    # Logged at the 1st and 2nd drop, then not again until the 4th.
    assert [r.getMessage() for r in caplog.records] == [
        "subscriber to 't' is falling behind: dropped 1 oldest messages",
        "subscriber to 't' is falling behind: dropped 2 oldest messages",
    ]


async def test_a_subscription_dropped_without_closing_goes_away() -> None:
    bus = InProcessBus()
    bus.subscribe("t")
    gc.collect()
    assert bus.subscribers("t") == 0
    await bus.publish("t", b"to no one")


async def test_ending_the_bus_ends_every_subscription() -> None:
    bus = InProcessBus()
    one, two = bus.subscribe("a"), bus.subscribe("b")
    bus.end()
    await assert_ended(one)
    await assert_ended(two)
    assert bus.subscribers("a") == bus.subscribers("b") == 0


def test_a_subscriber_queue_holds_at_least_one_message() -> None:
    with pytest.raises(ValueError, match="must hold"):
        InProcessBus(queue_size=0)


# Redis only


async def test_one_connection_listens_for_all_of_a_process_subscribers(
    redis_buses: Buses,
) -> None:
    async with (
        redis_buses.first.subscribe("t") as a,
        redis_buses.first.subscribe("t") as b,
        redis_buses.second.subscribe("t"),
    ):
        assert await redis_buses.listeners("t") == 2
        await a.aclose()
        await redis_buses.second.publish("t", b"still here")
        assert await receive(b, 1) == [b"still here"]
        assert await redis_buses.listeners("t") == 2
    # Leaving unsubscribes from Redis once the last local subscriber is gone.
    await redis_buses.wait_for_listeners("t", 0)


async def test_a_topic_can_be_subscribed_again_after_everyone_left(
    redis_buses: Buses,
) -> None:
    async with redis_buses.first.subscribe("t"):
        pass
    async with redis_buses.first.subscribe("t") as again:
        await redis_buses.second.publish("t", b"back")
        assert await receive(again, 1) == [b"back"]


@pytest.mark.parametrize(
    "retries",
    [
        pytest.param(0, id="redis-py gives up"),  # what Redis.from_url(url) does
        pytest.param(3, id="redis-py reconnects"),
    ],
)
async def test_subscriptions_end_when_the_redis_connection_is_lost(
    redis_url: str, retries: int
) -> None:
    name = f"test-bus-{uuid.uuid4().hex[:12]}"
    prefix = f"test:bus:{uuid.uuid4().hex}:"
    retry = Retry(NoBackoff(), retries)
    listening = Redis.from_url(redis_url, client_name=name, retry=retry)
    admin = Redis.from_url(redis_url)
    bus = RedisBus(listening, prefix)
    try:
        async with bus.subscribe("t") as updates:
            (connection,) = [c for c in await admin.client_list() if c["name"] == name]
            await admin.client_kill_filter(_id=connection["id"])
            # Whatever was published while it was away is lost: the consumer must
            # re-read history, so its subscription ends rather than go silent.
            await assert_ended(updates)
        async with bus.subscribe("t") as again:
            await admin.publish(prefix + "t", b"after")
            assert await receive(again, 1) == [b"after"]
    finally:
        await bus.aclose()
        await listening.aclose()
        await admin.aclose()
