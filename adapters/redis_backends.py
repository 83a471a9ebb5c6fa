"""Redis-backed rate limits and bus, shared by every hub process on one Redis."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from dialogue.local_bus import DEFAULT_QUEUE_SIZE, InProcessBus, LocalSubscription, Subscription
from dialogue.ports import Bus, Hints
from dialogue.ratelimit import RateLimiter, Sleep, check_bucket

log = logging.getLogger(__name__)

ANSWER_QUEUE = "omnihub:answer"  # the Redis list RedisAnswerQueue keeps its hints in

# The bucket arithmetic of dialogue.ratelimit.TokenBucket, in Lua so that one script
# call reads and books atomically. The clock is Redis's own (TIME), so processes on
# different machines share it. Numbers are stored and returned as "%.17g" strings:
# Lua's tostring keeps only 14 digits, and Redis truncates a returned Lua number to
# an integer.
_REFILL = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = burst
  updated = now
end
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
updated = math.max(updated, now)
"""
_STORE = """
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'updated', string.format('%.17g', updated))
-- A full bucket is the same as none: let it expire once it would be full again.
local ttl = math.min(math.ceil((burst - tokens) / rate * 1000) + 1000, 604800000)
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
"""
_TAKE = (
    _REFILL
    + "tokens = tokens - cost\n"
    + _STORE
    + """
if tokens >= 0 then
  return '0'
end
return string.format('%.17g', -tokens / rate)
"""
)
_GIVE_BACK = _REFILL + "tokens = math.min(burst, tokens + cost)\n" + _STORE + "return '0'\n"


class RedisRateLimiter:
    """Token buckets kept in Redis: several hub processes together respect one rate."""

    def __init__(
        self,
        redis: Redis,
        prefix: str = "omnihub:ratelimit:",
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._prefix = prefix
        self._sleep = sleep
        self._take = redis.register_script(_TAKE)
        self._give_back = redis.register_script(_GIVE_BACK)

    async def acquire(self, key: str, rate: float, burst: float, cost: float = 1.0) -> None:
        check_bucket(rate, burst, cost)
        keys, args = [self._prefix + key], [rate, burst, cost]
        wait = float(await self._take(keys=keys, args=args))
        if wait <= 0:
            return
        try:
            await self._sleep(wait)
        except asyncio.CancelledError:
            # Unused bookings would otherwise outlive this process in Redis and hold
            # back every other sender process until they ran out.
            try:
                await self._give_back(keys=keys, args=args)
            except (RedisError, OSError) as exc:
                # The caller is being cancelled: that, not Redis's trouble, is what
                # it must see. The booking then lapses as time refills the bucket.
                log.warning("could not give back %s tokens of %r: %s", cost, key, exc)
            raise


class RedisSubscription:
    """A subscription on a RedisBus: a local queue fed by the bus's one Redis connection."""

    def __init__(self, bus: RedisBus, topic: str, local: LocalSubscription) -> None:
        self._bus = bus
        self._topic = topic
        self._local = local
        self._generation: int | None = None  # the bus connection it joined, once joined

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        await self._join()
        return await self._local.__anext__()

    async def __aenter__(self) -> Self:
        await self._join()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._local.closed and self._generation is None:
            return
        self._local.close()
        generation, self._generation = self._generation, None
        if generation is not None:
            await self._bus._leave(self._topic, generation)

    async def _join(self) -> None:
        if self._generation is not None or self._local.closed:
            return
        self._generation, live = await self._bus._join(self._topic)
        # Shielded: other subscribers of the topic wait on the same confirmation.
        await asyncio.shield(live)


class RedisBus:
    """The Bus over Redis pub/sub: live updates between all hub processes.

    Publishing uses the client's pool. Subscribing uses ONE pub/sub connection per
    bus, whatever the number of subscribers: each web-chat visitor and inbox tab
    subscribes, and a connection each would exhaust the client's pool (redis-py's
    asyncio pool allows 100 by default), starving publishing and rate limiting.
    Messages fan out to the subscribers of this process through an InProcessBus, so a
    slow subscriber loses its oldest messages there and never holds up the others.

    When the connection drops, redis-py reconnects and subscribes again; what was
    published meanwhile is lost, so the affected subscriptions end and their
    consumers re-read history. Call `aclose` at shutdown.
    """

    def __init__(
        self, redis: Redis, prefix: str = "omnihub:bus:", *, queue_size: int = DEFAULT_QUEUE_SIZE
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._local = InProcessBus(queue_size)
        self._lock = asyncio.Lock()  # orders SUBSCRIBE and UNSUBSCRIBE with the counts
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        # Bumped whenever the pub/sub connection is given up: subscriptions that
        # joined an older one must not unsubscribe the channels of the new one.
        self._generation = 0
        self._joined: dict[str, int] = {}  # topic -> subscriptions counting on it
        self._live: dict[str, asyncio.Future[None]] = {}  # topic -> Redis confirmed it
        # channel -> one future per SUBSCRIBE sent and not yet confirmed, oldest first
        self._unconfirmed: dict[str, deque[asyncio.Future[None]]] = {}

    async def publish(self, topic: str, data: bytes) -> None:
        await self._redis.publish(self._prefix + topic, data)

    def subscribe(self, topic: str) -> RedisSubscription:
        # The local queue exists from now on; the Redis side joins on first use.
        return RedisSubscription(self, topic, self._local.subscribe(topic))

    async def aclose(self) -> None:
        """End every subscription and close the pub/sub connection."""
        async with self._lock:
            reader = self._reader
            pubsub = self._give_up()
        if reader is not None:
            reader.cancel()
            await asyncio.wait([reader])
        if pubsub is not None:
            await _close(pubsub)

    async def _join(self, topic: str) -> tuple[int, asyncio.Future[None]]:
        async with self._lock:
            if topic not in self._joined:
                channel = self._prefix + topic
                if self._pubsub is None:
                    self._pubsub = self._redis.pubsub()
                live = asyncio.get_running_loop().create_future()
                unconfirmed = self._unconfirmed.setdefault(channel, deque())
                unconfirmed.append(live)
                try:
                    await self._pubsub.subscribe(channel)
                except BaseException:
                    unconfirmed.remove(live)
                    if not unconfirmed:
                        del self._unconfirmed[channel]
                    raise
                self._live[topic] = live
                self._joined[topic] = 0
                if self._reader is None:
                    self._reader = asyncio.create_task(
                        self._read(self._pubsub, self._generation), name="redis-bus-reader"
                    )
            self._joined[topic] += 1
            return self._generation, self._live[topic]

    async def _leave(self, topic: str, generation: int) -> None:
        async with self._lock:
            if generation != self._generation:
                return
            self._joined[topic] -= 1
            if self._joined[topic] > 0:
                return
            del self._joined[topic], self._live[topic]
            if self._pubsub is None:
                return
            try:
                await self._pubsub.unsubscribe(self._prefix + topic)
            except (RedisError, OSError) as exc:
                # A broken connection has dropped the subscription on the server
                # already; the reader notices and starts over.
                log.warning("could not unsubscribe from %r: %s", topic, exc)

    async def _read(self, pubsub: PubSub, generation: int) -> None:
        try:
            while True:
                message: dict[str, Any] | None = await pubsub.get_message(timeout=None)
                if message is not None:
                    self._dispatch(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            # redis-py could not reconnect (or was not configured to retry). End the
            # subscriptions so their consumers resynchronise instead of waiting on a
            # dead connection; the next subscription opens a new one.
            log.exception("Redis bus lost its pub/sub connection; ending its subscriptions")
            async with self._lock:
                if generation != self._generation:
                    return
                stale = self._give_up()
            if stale is not None:
                await _close(stale)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = _text(message["channel"])
        if not channel.startswith(self._prefix):
            return
        topic = channel[len(self._prefix) :]
        if kind == "message":
            data = message["data"]
            self._local.deliver(topic, data if isinstance(data, bytes) else str(data).encode())
        elif kind == "subscribe":
            unconfirmed = self._unconfirmed.get(channel)
            if unconfirmed:
                live = unconfirmed.popleft()
                if not unconfirmed:
                    del self._unconfirmed[channel]
                if not live.done():
                    live.set_result(None)
            else:
                # Nobody asked: redis-py subscribed again after reconnecting, and what
                # was published while it was away is lost.
                log.warning("Redis bus reconnected; ending subscriptions to %r", topic)
                self._local.end(topic)

    def _give_up(self) -> PubSub | None:
        """Forget the pub/sub connection and end every subscription; return the connection."""
        self._generation += 1
        pubsub, self._pubsub, self._reader = self._pubsub, None, None
        self._joined.clear()
        self._live.clear()
        for unconfirmed in self._unconfirmed.values():
            for live in unconfirmed:
                if not live.done():
                    live.set_result(None)  # the waiter then finds its subscription ended
        self._unconfirmed.clear()
        self._local.end()
        return pubsub


async def _close(pubsub: PubSub) -> None:
    # Closes the connection rather than returning it subscribed to the pool.
    await pubsub.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


if TYPE_CHECKING:  # checked by mypy, never run: the classes fit the ports
    _limiter: type[RateLimiter] = RedisRateLimiter
    _bus: type[Bus] = RedisBus
    _subscription: type[Subscription] = RedisSubscription


class RedisAnswerQueue:
    """The AnswerQueue as a Redis list: "receipts", "deliveries", or a stored batch's
    conversations (ids joined by commas), one entry per hint; a taker blocks on BLPOP, then pops
    what else is waiting.

    An entry popped by a process that dies before acting on it is lost as a hint
    only: the receipts and messages wait in the database for the next recovery sweep.
    """

    def __init__(self, redis: Redis, key: str = ANSWER_QUEUE, *, wait: float = 1.0) -> None:
        self._redis = redis
        self._key = key
        self._wait = wait  # seconds one BLPOP blocks before `take` returns nothing

    async def put(self, conversation_ids: Sequence[int]) -> None:
        if conversation_ids:
            await self._redis.rpush(self._key, ",".join(map(str, conversation_ids)))

    async def put_receipts(self) -> None:
        await self._redis.rpush(self._key, _RECEIPTS_HINT)

    async def put_deliveries(self) -> None:
        await self._redis.rpush(self._key, _DELIVERIES_HINT)

    async def take(self, most: int) -> Hints:
        first = await self._redis.blpop([self._key], timeout=self._wait)
        if first is None:
            return Hints()
        entries = [_text(first[1])]
        if most > 1:
            more = await self._redis.lpop(self._key, most - 1)
            entries += [_text(e) for e in more] if isinstance(more, list) else []
        named = [e for e in entries if e not in (_RECEIPTS_HINT, _DELIVERIES_HINT)]
        return Hints(
            [int(i) for e in named for i in e.split(",")],
            receipts=_RECEIPTS_HINT in entries,
            deliveries=_DELIVERIES_HINT in entries,
        )


_RECEIPTS_HINT = "receipts"
_DELIVERIES_HINT = "deliveries"
