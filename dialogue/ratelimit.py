"""Sending rates: the RateLimiter port, its in-process token buckets, each sender's rate."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from crm.models import Channel


class RateLimiter(Protocol):
    """Token buckets by key, shared by everything that sends as one sender."""

    async def acquire(self, key: str, rate: float, burst: float, cost: float = 1.0) -> None:
        """Wait until `cost` tokens are available in bucket `key`, then take them.

        The bucket holds at most `burst` tokens and refills at `rate` per second. Waiters
        are served in the order they asked, so many concurrent callers never take more
        than `burst + rate * elapsed` in total. A cost above `burst` is allowed: it
        waits until the bucket could have paid it, leaving the bucket empty.
        """
        ...


def check_bucket(rate: float, burst: float, cost: float) -> None:
    """Reject parameters no bucket can honour (shared with the Redis limiter)."""
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a positive number of tokens per second, not {rate}")
    if not (math.isfinite(burst) and burst > 0):
        raise ValueError(f"burst must be a positive number of tokens, not {burst}")
    if not (math.isfinite(cost) and cost >= 0):
        raise ValueError(f"cost must be zero or more tokens, not {cost}")


@dataclass
class TokenBucket:
    """A token bucket that takes on debt instead of keeping a queue.

    `take` subtracts the cost at once, even below zero, and answers how long the
    caller must wait until the bucket would have held it. Each caller thus books the
    next free slot in the order it asked: waiters need no queue and no retries, and
    together they never exceed the bucket's rate. The Redis limiter's script runs the
    same arithmetic.
    """

    tokens: float
    updated: float  # when `tokens` was last brought up to date
    # When the bucket is full again if nobody takes from it, by the rate it was last
    # used with: from then on it is the same as a new bucket.
    full_at: float = -math.inf

    def take(self, now: float, rate: float, burst: float, cost: float) -> float:
        """Book `cost` tokens at `now`; return the seconds until they are really there."""
        self._refill(now, rate, burst)
        self.tokens -= cost
        self._note_full_at(rate, burst)
        return -self.tokens / rate if self.tokens < 0 else 0.0

    def give_back(self, now: float, rate: float, burst: float, cost: float) -> None:
        """Return what a waiter booked but will not use (it was cancelled)."""
        self._refill(now, rate, burst)
        self.tokens = min(burst, self.tokens + cost)
        self._note_full_at(rate, burst)

    def _refill(self, now: float, rate: float, burst: float) -> None:
        # A clock read earlier by another task may be later than `now`: never go back.
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(burst, self.tokens + elapsed * rate)
        self.updated = max(self.updated, now)

    def _note_full_at(self, rate: float, burst: float) -> None:
        self.full_at = self.updated + max(0.0, burst - self.tokens) / rate


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# A full bucket is the same as no bucket, so buckets of idle keys can be forgotten.
# Sweeping whenever the table has doubled keeps the cost per call constant.
_FIRST_SWEEP = 1024


class InProcessRateLimiter:
    """Token buckets in this process's memory: for a single hub process (no Redis)."""

    def __init__(self, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}
        self._sweep_at = _FIRST_SWEEP

    async def acquire(self, key: str, rate: float, burst: float, cost: float = 1.0) -> None:
        check_bucket(rate, burst, cost)
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            bucket = self._buckets[key] = TokenBucket(tokens=burst, updated=now)
        # Nothing is awaited between reading the bucket and booking: concurrent
        # callers on this event loop cannot book the same tokens.
        wait = bucket.take(now, rate, burst, cost)
        if wait <= 0:
            return
        try:
            await self._sleep(wait)
        except asyncio.CancelledError:
            bucket.give_back(self._clock(), rate, burst, cost)
            raise

    def _sweep(self, now: float) -> None:
        # A bucket in debt (someone is waiting on it) is never full: it stays.
        idle = [key for key, bucket in self._buckets.items() if bucket.full_at <= now]
        for key in idle:
            del self._buckets[key]
        self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._buckets))


# Sending rates per sender, from the providers' published limits (see also
# ../shared/INTEGRATIONS.md). Each is (tokens per second, burst); the burst is one
# second's worth, so a quiet sender may answer a short exchange at once.
#
# Twilio counts SMS throughput in segments, so the outbox's cost for an SMS is
# `dialogue.rendering.sms_segments(text)`; on other channels each message costs 1.
# Twilio queues what exceeds a sender's rate (up to 10 h for SMS, 4 h for WhatsApp)
# rather than refusing it, so these limits keep queues short and replies prompt.
# https://help.twilio.com/articles/115002943027-Understanding-Twilio-Rate-Limits-and-Message-Queues
SMS_LONG_CODE_RATE = 1.0  # a US/Canada (+1) 10-digit long code
SMS_TOLL_FREE_RATE = 3.0  # a US/Canada toll-free number
SMS_SHORT_CODE_RATE = 100.0  # a 5-6 digit short code
SMS_INTERNATIONAL_RATE = 10.0  # a number outside +1, or an alphanumeric sender id
# Twilio: 80 messages/s per WhatsApp sender (more on request); Meta's Cloud API
# default is also 80/s per business number.
# https://developers.facebook.com/docs/whatsapp/cloud-api/overview#throughput
WHATSAPP_RATE = 80.0
# Telegram: "no more than about 30 messages per second" per bot across all chats.
# https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
TELEGRAM_RATE = 30.0
# Web chat goes over the hub's own websockets: no provider to protect.
WEBCHAT_RATE = 1_000_000.0

# North American toll-free area codes (NANP): 800, 833, 844, 855, 866, 877, 888.
_TOLL_FREE = frozenset({"800", "833", "844", "855", "866", "877", "888"})


def sender_rate(channel: Channel, sender_address: str) -> tuple[float, float]:
    """The (rate, burst) at which the hub may send on `channel` as `sender_address`.

    `sender_address` is what the provider sends from: an E.164 number, a short code,
    an alphanumeric sender id or a Twilio Messaging Service SID for SMS (with or
    without the `whatsapp:` prefix on WhatsApp), the bot for Telegram.
    """
    rate: float
    match channel:
        case Channel.SMS:
            rate = _sms_rate(sender_address.strip())
        case Channel.WHATSAPP:
            rate = WHATSAPP_RATE
        case Channel.TELEGRAM:
            rate = TELEGRAM_RATE
        case Channel.WEBCHAT:
            rate = WEBCHAT_RATE
    return rate, max(1.0, rate)


def _sms_rate(address: str) -> float:
    digits = address.removeprefix("+")
    if address.startswith("+1") and digits.isdigit():
        return SMS_TOLL_FREE_RATE if digits[1:4] in _TOLL_FREE else SMS_LONG_CODE_RATE
    if address.isdigit() and 5 <= len(address) <= 6:
        return SMS_SHORT_CODE_RATE
    if address.startswith("MG"):
        # A Messaging Service sends from a pool whose numbers are not known here:
        # assume the slowest kind it may hold rather than overrun a US long code.
        return SMS_LONG_CODE_RATE
    return SMS_INTERNATIONAL_RATE


if TYPE_CHECKING:  # checked by mypy, never run: the class fits the port
    _limiter: type[RateLimiter] = InProcessRateLimiter
