"""Signed Twilio webhooks' latency, alone and while sign-ins with made-up emails flood the hub.

Usage: python benchmarks/signin_flood.py [--rate R] [--seconds S] [--loops L]
           [--backend sqlite|postgres] [--server-url URL] [--redis-url URL]

A scratch database (a temporary SQLite file, or a new database on the PostgreSQL server,
dropped afterwards; with postgres, Redis too: its database, 14 by default, is flushed
before and after) is migrated, the fake Twilio API starts in a process of its own
(benchmarks/provider.py) and `omnihub serve` as a subprocess pointed at it, answering
every message with one reply (benchmarks/responders.py), as benchmarks/router.py does.

Then, for S seconds each, signed inbound SMS webhooks from new phone numbers are sent at
R per second (open loop), and their latency (POST to its 200) is measured:

- alone;
- while L loops send GET /healthz as fast as they are answered: the cost of a flood of
  the cheapest requests, whatever they are (for comparison);
- while L sign-in loops post the inbox's sign-in form as fast as they are answered,
  each with a new made-up email every time and one common password (a spraying
  script), from one client address;
- the same from 64 addresses (a script spread over many addresses, each of which
  stays under a per-address limit for longer).

The loops run in a process of their own and connect from addresses of 127.0.0.0/8
(Linux routes all of it to loopback), so the hub sees real, distinct peers. Printed
per phase: webhooks answered, their latency at p50, p99 and max, the sign-in answers
by status and how many were answered per second. There are no asserts: it prints
figures. The run takes about 50 s (more on a hub whose answers lag: each request
waits at most 30 s).

On the shared 2-core machine (SQLite, defaults), webhook latency p50 / max in ms:
alone 6-9 / 41-93 before and after; beside 16 sign-in loops from 64 addresses,
4,175-5,431 / 8,065-29,802 before (0251dee: argon2 on the event loop), 19-31 /
257-307 after (checks in threads; 30 failures per address). The whole table and what
it means are in docs/decisions.md ("Sign-in under a flood").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository

from benchmarks.router import (
    DEFAULT_REDIS,
    DEFAULT_RESPONDER,
    DEFAULT_SENDER,
    Planned,
    percentile,
    phones,
    plan,
    provider,
    running_hub,
)
from benchmarks.seed_bulk import DEFAULT_SERVER, scratch_database
from crm import migrate
from crm.db import Database

LOGIN = "/inbox/login"
SPRAYED_PASSWORD = "Winter2026!"  # noqa: S105 (what a spraying script tries everywhere)
# Bounds each request, and so the run: a phase ends at most this long after its last send.
TIMEOUT = aiohttp.ClientTimeout(total=30)


@dataclass
class Phase:
    name: str
    webhook_seconds: list[float] = field(default_factory=list)
    webhook_errors: Counter[str] = field(default_factory=Counter)
    signins: Counter[str] = field(default_factory=Counter)  # answers by status
    signin_seconds: list[float] = field(default_factory=list)
    elapsed: float = 0.0


async def webhooks(
    session: aiohttp.ClientSession, planned: list[Planned], rate: float, phase: Phase
) -> None:
    """Posts `planned` at `rate` per second, whatever the answers' pace (open loop)."""

    async def post(item: Planned) -> None:
        began = time.perf_counter()
        try:
            async with session.post(item.url, data=item.form, headers=item.headers) as answer:
                await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            phase.webhook_errors[type(exc).__name__] += 1
            return
        if status != 200:
            phase.webhook_errors[f"HTTP {status}"] += 1
            return
        phase.webhook_seconds.append(time.perf_counter() - began)

    start = time.perf_counter()
    tasks = []
    for index, item in enumerate(planned):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load, not waiting for the hub
        tasks.append(asyncio.create_task(post(item)))
    await asyncio.gather(*tasks)  # each bounded by TIMEOUT


async def signin_loop(
    base: str,
    address: str,
    stop: asyncio.Event,
    answers: Counter[str],
    seconds: list[float],
    plain: bool = False,
) -> None:
    """Sign-ins with a new made-up email each time, from `address`, until `stop`;
    `plain`: GET /healthz instead, the cheapest request the hub answers."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    jar = aiohttp.CookieJar(unsafe=True)  # the form's cookie, from an IP address
    async with aiohttp.ClientSession(
        connector=connector, timeout=TIMEOUT, cookie_jar=jar
    ) as session:
        async with session.get(base + LOGIN) as form:
            match = re.search(r'name="csrf" value="([^"]+)"', await form.text())
        if match is None:
            answers["no form"] += 1
            return
        while plain and not stop.is_set():
            began = time.perf_counter()
            try:
                async with session.get(base + "/healthz") as r:
                    await r.read()
                    answers[str(r.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                answers[type(exc).__name__] += 1
            seconds.append(time.perf_counter() - began)
        while not stop.is_set():
            data = {
                "email": f"{uuid.uuid4().hex[:12]}@made.up",
                "password": SPRAYED_PASSWORD,
                "csrf": match.group(1),
            }
            began = time.perf_counter()
            try:
                async with session.post(base + LOGIN, data=data, allow_redirects=False) as r:
                    await r.read()
                    answers[str(r.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                answers[type(exc).__name__] += 1
            seconds.append(time.perf_counter() - began)


async def flood(base: str, addresses: list[str], loops: int, plain: bool) -> None:
    """The flood process: `loops` sign-in loops until stdin closes; then the answers as JSON.

    A process of its own: in the one that measures the webhooks, a flood answered
    hundreds of times a second (429s) would delay the measuring loop itself.
    """
    stop = asyncio.Event()
    answers: Counter[str] = Counter()
    seconds: list[float] = []
    tasks = [
        asyncio.create_task(
            signin_loop(base, addresses[n % len(addresses)], stop, answers, seconds, plain)
        )
        for n in range(loops)
    ]
    stdin = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin
    )
    print("ready", flush=True)
    await stdin.read()  # until the measuring process closes it
    stop.set()
    await asyncio.gather(*tasks)  # each request bounded by TIMEOUT
    print(json.dumps({"answers": answers, "seconds": seconds}), flush=True)


async def run_phase(
    name: str,
    base: str,
    session: aiohttp.ClientSession,
    planned: list[Planned],
    rate: float,
    flood_from: list[str],
    loops: int,
    plain: bool = False,
) -> Phase:
    phase = Phase(name)
    flooding = None
    if flood_from:
        flooding = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--flood",
            f"{base} {','.join(flood_from)} {loops} {'plain' if plain else 'signin'}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert flooding.stdin is not None
        assert flooding.stdout is not None
        if await flooding.stdout.readline() != b"ready\n":
            raise SystemExit("the flood process did not start")
    began = time.perf_counter()
    try:
        await webhooks(session, planned, rate, phase)
    finally:
        phase.elapsed = time.perf_counter() - began
        if flooding is not None:
            assert flooding.stdin is not None
            assert flooding.stdout is not None
            flooding.stdin.close()
            result = json.loads(await flooding.stdout.read())
            await flooding.wait()
            phase.signins.update(result["answers"])
            phase.signin_seconds.extend(result["seconds"])
    return phase


def ms(seconds: float) -> str:
    return f"{'-':>8}" if math.isnan(seconds) else f"{seconds * 1000:>8.1f}"


def report(phase: Phase) -> None:
    latency = phase.webhook_seconds
    worst = max(latency) if latency else math.nan
    answered = phase.signins.total()
    statuses = ", ".join(f"{n} x {status}" for status, n in sorted(phase.signins.items()))
    print(
        f"{phase.name:<26}{len(latency):>6}{ms(percentile(latency, 0.5))}"
        f"{ms(percentile(latency, 0.99))}{ms(worst)}"
        f"{answered / phase.elapsed if phase.elapsed else 0:>10.1f}   {statuses or '-'}"
    )
    if phase.webhook_errors:
        print(f"{'':<26}webhook errors: {dict(phase.webhook_errors)}")
    if phase.signin_seconds:
        print(
            f"{'':<26}sign-in answer p50 {ms(percentile(phase.signin_seconds, 0.5)).strip()} ms,"
            f" p99 {ms(percentile(phase.signin_seconds, 0.99)).strip()} ms"
        )


async def main(args: argparse.Namespace) -> None:
    server = args.server_url if args.backend == "postgres" else None
    count = round(args.rate * args.seconds)
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(scratch_database(server))
        db = Database(url)
        try:
            await migrate.upgrade(db)
        finally:
            await db.dispose()
        settings = {"OMNIHUB_DATABASE_URL": url}
        if server is not None:
            redis = Redis.from_url(args.redis_url)
            stack.push_async_callback(redis.aclose)
            await redis.flushdb()
            stack.push_async_callback(redis.flushdb)  # runs after the hub has stopped
            settings["OMNIHUB_REDIS_URL"] = args.redis_url
        api = await stack.enter_async_context(provider(DEFAULT_SENDER, callbacks=False))
        settings |= api.environment() | {"TWILIO_SMS_FROM": DEFAULT_SENDER}
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="omnihub-flood-")))
        hub = await stack.enter_async_context(
            running_hub(settings, True, DEFAULT_RESPONDER, logs / "hub.log")
        )
        numbers = iter(phones(20 + 4 * count, 7_000_000))

        def planned(n: int) -> list[Planned]:
            batch = [next(numbers) for _ in range(n)]
            return plan(batch, 1, n, [hub.base], DEFAULT_SENDER)

        # Different addresses in each phase: the previous phase's may be refused by now.
        one = ["127.0.1.1"]
        many = [f"127.0.2.{n + 1}" for n in range(64)]
        # No limit on connections: a provider does not wait for its earlier webhooks.
        unlimited = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=unlimited, timeout=TIMEOUT) as session:
            await run_phase("warm-up", hub.base, session, planned(20), args.rate, [], 0)
            phases = [
                await run_phase("alone", hub.base, session, planned(count), args.rate, [], 0),
                await run_phase(
                    f"{args.loops} loops of /healthz",
                    hub.base,
                    session,
                    planned(count),
                    args.rate,
                    ["127.0.3.1"],
                    args.loops,
                    plain=True,
                ),
                await run_phase(
                    f"flood, {args.loops} loops, 1 addr",
                    hub.base,
                    session,
                    planned(count),
                    args.rate,
                    one,
                    args.loops,
                ),
                await run_phase(
                    f"flood, {args.loops} loops, 64 addr",
                    hub.base,
                    session,
                    planned(count),
                    args.rate,
                    many,
                    args.loops,
                ),
            ]
    print(
        f"\nSigned Twilio webhooks at {args.rate:g}/s for {args.seconds:g} s per phase "
        f"({args.backend}); latency in ms, sign-ins answered per second"
    )
    print(f"{'phase':<26}{'hooks':>6}{'p50':>8}{'p99':>8}{'max':>8}{'signin/s':>10}   answers")
    for phase in phases:
        report(phase)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=20.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    parser.add_argument("--loops", type=int, default=16, help="concurrent sign-in loops")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--server-url", default=DEFAULT_SERVER)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    # "BASE ADDR,ADDR LOOPS signin|plain": run as the flood process
    parser.add_argument("--flood", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.loops < 1:
        parser.error("--rate and --seconds must be positive, --loops at least 1")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.flood:
        base, addresses, loops, kind = arguments.flood.split()
        asyncio.run(flood(base, addresses.split(","), int(loops), kind == "plain"))
    else:
        asyncio.run(main(arguments))
