"""Throughput and latency of the conversation router, through a running `omnihub serve`.

Usage: python benchmarks/router.py [--messages N] [--concurrency C] [--rate R]
           [--backend sqlite|postgres|both] [--warmup W] [--per-customer K] [--hubs H]
           [--workers K] [--sender NUMBER] [--provider-rate] [--responder FACTORY]
           [--deadline S] [--server-url URL] [--redis-url URL] [--py-spy PREFIX]

For each backend: a scratch database (a temporary SQLite file, or a new database on the
PostgreSQL server, dropped afterwards) is migrated, a fake Twilio API
(tests/fakes/twilio_api.py) starts in a process of its own (benchmarks/provider.py) on
127.0.0.1, and `omnihub serve` starts
as a subprocess on a free port (H of them with --hubs, K `omnihub worker` beside them with
--workers), pointed at the fake with OMNIHUB_TWILIO_API_URL and the TWILIO_* settings (and,
for postgres, at Redis: its database, 14 by default, is flushed before and after). Then W
warm-up webhooks (not counted) and N measured ones, signed inbound SMS, are sent: by
default C in flight (closed loop: the next as soon as one is answered, which measures the
most the hub takes); with --rate R, R per second (open loop, at most C in flight, which
measures latency at a given load). Printed per backend: messages/s end to end (replies
at the fake API / first POST to last reply), acknowledgements/s, acknowledgement latency
(webhook POST to its 200) and end-to-end latency (webhook POST to the reply arriving at
the fake Twilio API), p50 and p99, and the CPU each process used meanwhile.

Who answers: by default benchmarks/responders.py (--responder
benchmarks.responders:AcknowledgeResponder), which answers every message with one reply and
reads nothing from the database, so what is measured is the router, the outbox and the
channel adapters, not a bot. Each customer is a new phone number, so with one message per
customer (the default) every message has an end-to-end latency. With --per-customer K,
each customer sends K messages (all first messages go before any second one);
acknowledgement latency counts every message, end-to-end only the first reply each
customer gets. --responder takes any factory called with no arguments
("module:attribute"), or "product" for the responder `omnihub serve` plugs in itself (the
chatbot, which answers every message and may answer with several): that measures the bot
too, and the end-to-end figures still count each customer's first reply only.

The hub runs the same CLI (`adapters.cli:main serve`, or `worker`) through a launcher
that plugs the responder in (wrapping adapters.hub.open_hub) and, since every SMS sender
Twilio has is slow (dialogue.ratelimit.sender_rate: 1/s for a US long code, 10/s outside
+1, 100/s for a short code, in segments) and the outbox honours it, raises the SMS and
WhatsApp rates in dialogue.ratelimit, unless --provider-rate is given (with the real
limit the benchmark measures the limit). The rate limiter itself still runs (a Redis
script call per batch of sends with Redis).

The run is bounded: each phase stops at --deadline seconds (sending stops; what was
measured is reported, with the number of replies missing). --py-spy PREFIX records the
hub processes during the measured phase (py-spy must be installed in the virtualenv).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import phonenumbers
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.fakes

from benchmarks.seed_bulk import DEFAULT_SERVER, scratch_database
from crm import migrate
from crm.db import Database
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, inbound_form, signed_webhook

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
DEFAULT_SENDER = "+34910000000"  # a Spanish number: outside +1 (10 segments/s at Twilio)
BODY = "Hola, ¿dónde está mi pedido 10234? Gracias"
INBOUND_PATH = "/webhooks/twilio"
LIFTED_RATE = 1_000_000.0  # per second: far above anything the hub can send
# What answers the customers, unless --responder says otherwise: one reply to every
# message (see the module's docstring).
DEFAULT_RESPONDER = "benchmarks.responders:AcknowledgeResponder"
PRODUCT_RESPONDER = "product"  # whatever `omnihub serve` itself plugs in
# Runs the `omnihub` console script's own entry point after, optionally, raising every
# Twilio sender rate and plugging in the chosen responder (a factory named
# "module:attribute", called with no arguments) wherever the hub is opened.
_LAUNCHER = """
import importlib
import sys
sys.path.insert(0, {repo!r})  # benchmarks/ holds the default responder
import dialogue.ratelimit as rates
lifted = {rate!r}
if lifted is not None:
    for name in ("SMS_LONG_CODE_RATE", "SMS_TOLL_FREE_RATE", "SMS_SHORT_CODE_RATE",
                 "SMS_INTERNATIONAL_RATE", "WHATSAPP_RATE"):
        getattr(rates, name)  # fails loudly if the constant is renamed
        setattr(rates, name, lifted)
responder = {responder!r}
if responder is not None:
    import adapters.hub as hub
    module, _, attribute = responder.partition(":")
    make = getattr(importlib.import_module(module), attribute)
    product_open_hub = hub.open_hub
    def open_hub(*args, responder=None, **kwargs):
        return product_open_hub(*args, responder=responder or make(), **kwargs)
    hub.open_hub = open_hub  # before adapters.cli imports it
from adapters.cli import main
main()
"""
READY_WITHIN = 60.0  # seconds for the hub to answer /readyz
STOP_WITHIN = 30.0  # seconds for the hub to stop after SIGTERM before it is killed
WORKER_READY = "omnihub worker running"  # what `omnihub worker` prints once started
CALLBACKS_PER_REPLY = 2  # with --callbacks: sent, delivered (benchmarks/provider.py)
POLL = 0.005  # seconds between looks at the replies the fake API reported
LATE = 0.010  # seconds behind schedule after which a paced POST counts as late


@dataclass(frozen=True)
class Load:
    """How webhooks are sent: `concurrency` in flight, or `rate` per second (open loop)."""

    concurrency: int
    rate: float | None = None


# -- what is sent ------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One signed webhook, built before the clock starts."""

    url: str  # the hub it goes to (its OMNIHUB_PUBLIC_URL is what is signed)
    phone: str
    first: bool  # the customer's first message: the one that is answered
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class Phase:
    """What one batch of webhooks measured."""

    planned: int
    customers: int
    ack_seconds: list[float] = field(default_factory=list)  # per 200, POST to answer
    e2e_seconds: list[float] = field(default_factory=list)  # per first message answered
    errors: Counter[str] = field(default_factory=Counter)  # non-200 answers, failures
    unsent: int = 0  # left unsent at the deadline
    started: float = 0.0  # wall clock of the first POST
    last_ack: float = 0.0  # wall clock of the last 200
    last_reply: float = 0.0  # wall clock of the last reply at the fake API
    timed_out: bool = False
    late: int = 0  # paced POSTs that started more than LATE behind their schedule
    callback_seconds: list[float] = field(default_factory=list)  # with --callbacks
    callback_errors: Counter[str] = field(default_factory=Counter)
    callbacks_expected: int = 0  # CALLBACKS_PER_REPLY per reply that arrived

    @property
    def missing(self) -> int:
        return self.customers - len(self.e2e_seconds)

    @property
    def callbacks_missing(self) -> int:
        answered = len(self.callback_seconds) + self.callback_errors.total()
        return max(0, self.callbacks_expected - answered)


def phones(count: int, start: int) -> list[str]:
    """`count` distinct, valid Spanish mobile numbers (+34 6xx xxx xxx) from `start` on."""
    found: list[str] = []
    candidate = start
    while len(found) < count:
        number = f"+346{candidate:08d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            found.append(number)
        candidate += 1
    return found


def plan(
    customers: list[str], per_customer: int, total: int, hubs: list[str], sender: str
) -> list[Planned]:
    """`total` signed webhooks, customers' first messages before any second one.

    Customers are spread over `hubs` (their base URLs) in turn; all the messages of one
    customer go to the same hub.
    """
    planned: list[Planned] = []
    for round_ in range(per_customer):
        for index, phone in enumerate(customers):
            if len(planned) == total:
                return planned
            url = hubs[index % len(hubs)] + INBOUND_PATH
            request = signed_webhook(url, inbound_form(from_=phone, to=sender, body=BODY))
            planned.append(Planned(url, phone, round_ == 0, request.form, request.headers))
    return planned


# -- the hub -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningHub:
    name: str  # hub1, worker1...
    pid: int
    base: str  # where it listens, also its OMNIHUB_PUBLIC_URL


def hub_command(command: str, lift_rate: bool, responder: str) -> list[str]:
    launcher = _LAUNCHER.format(
        rate=LIFTED_RATE if lift_rate else None,
        responder=None if responder == PRODUCT_RESPONDER else responder,
        repo=str(REPOSITORY),
    )
    return [sys.executable, "-c", launcher, command]


@contextlib.asynccontextmanager
async def running_hub(
    settings: dict[str, str],
    lift_rate: bool,
    responder: str,
    log_path: Path,
    command: str = "serve",
    nice: int = 0,
    public_url: str | None = None,
) -> AsyncIterator[RunningHub]:
    """`omnihub serve` (or `worker`) on a free port with `settings`, stopped on exit;
    run under `nice -n NICE` when `nice` is set. Its OMNIHUB_PUBLIC_URL is its own
    address unless `public_url` says otherwise (a worker, which serves nothing, gives
    the providers a serving hub's address, as behind a real load balancer)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OMNIHUB_", "TWILIO_", "TELEGRAM_"))
    }
    env |= settings | {
        "OMNIHUB_HOST": "127.0.0.1",
        "OMNIHUB_PORT": str(port),
        "OMNIHUB_PUBLIC_URL": public_url or base,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *(["nice", "-n", str(nice)] if nice else []),
            *hub_command(command, lift_rate, responder),
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        if command == "serve":
            await _wait_ready(base, process, log_path)
        else:
            await _wait_logged(WORKER_READY, process, log_path)
        yield RunningHub(log_path.stem, process.pid, base)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_WITHIN)
            except TimeoutError:
                print(f"  the hub did not stop within {STOP_WITHIN:.0f} s: killed", file=sys.stderr)
                process.kill()
                await process.wait()


async def _wait_ready(base: str, process: asyncio.subprocess.Process, log_path: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise SystemExit(f"the hub exited with {process.returncode}:\n{_tail(log_path)}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{base}/readyz", timeout=aiohttp.ClientTimeout(1)) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise SystemExit(f"the hub was not ready within {READY_WITHIN:.0f} s:\n{_tail(log_path)}")


async def _wait_logged(line: str, process: asyncio.subprocess.Process, log_path: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise SystemExit(f"a worker exited with {process.returncode}:\n{_tail(log_path)}")
        if _logged(log_path, line):
            return
        await asyncio.sleep(0.05)
    raise SystemExit(f"a worker did not start within {READY_WITHIN:.0f} s:\n{_tail(log_path)}")


def _logged(path: Path, line: str) -> bool:
    return line in path.read_text(errors="replace")


def _print_logs(directory: Path) -> None:
    for log in sorted(directory.glob("*.log")):
        print(f"  {log.stem} log (last lines):\n{_tail(log, 15)}", file=sys.stderr)


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# -- firing and collecting ----------------------------------------------------------------


class Provider:
    """The fake Twilio API in its own process (benchmarks/provider.py), and the
    wall-clock arrival of each customer's first reply there."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self._process = process
        self.base_url = base_url
        self.arrived: dict[str, float] = {}  # customer phone -> first reply's arrival
        self.replies = 0  # every reply that arrived, first or not
        # With --callbacks: each status callback's answer time, and what went wrong.
        self.callback_seconds: list[float] = []
        self.callback_errors: Counter[str] = Counter()
        self._reader = asyncio.create_task(self._read())

    def environment(self) -> dict[str, str]:
        return {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "OMNIHUB_TWILIO_API_URL": self.base_url,
        }

    async def _read(self) -> None:
        assert self._process.stdout is not None
        async for line in self._process.stdout:
            to, _, at = line.decode().rstrip("\n").partition("\t")
            if to == "callback":
                answer, _, seconds = at.partition("\t")
                if answer == "200":
                    self.callback_seconds.append(float(seconds))
                else:
                    self.callback_errors[answer] += 1
                continue
            self.replies += 1
            self.arrived.setdefault(to, float(at))

    async def stop(self) -> None:
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGTERM)
            await self._process.wait()
        await self._reader


@contextlib.asynccontextmanager
async def provider(number: str, callbacks: bool) -> AsyncIterator[Provider]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPOSITORY / "benchmarks" / "provider.py"),
        number,
        *(["--callbacks"] if callbacks else []),
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    first = await asyncio.wait_for(process.stdout.readline(), READY_WITHIN)
    if not first:
        raise SystemExit("the fake Twilio API process did not start")
    running = Provider(process, first.decode().strip())
    try:
        yield running
    finally:
        await running.stop()


async def fire(
    session: aiohttp.ClientSession,
    replies: Provider,
    planned: list[Planned],
    load: Load,
    deadline: float,
    callbacks_per_reply: int = 0,
) -> Phase:
    """Send `planned` as `load` says, then wait for the replies (and for as many status
    callbacks per reply to be answered).

    `deadline` is a time.monotonic() after which sending and waiting stop.
    """
    replies_before, called_before = replies.replies, len(replies.callback_seconds)
    errors_before = replies.callback_errors.copy()
    customers = {p.phone for p in planned if p.first}
    phase = Phase(planned=len(planned), customers=len(customers))
    sent_at: dict[str, float] = {}  # phone -> wall clock of its first message's POST

    async def post(item: Planned) -> None:
        wall, began = time.time(), time.perf_counter()
        if item.first:
            sent_at[item.phone] = wall
        try:
            async with session.post(item.url, data=item.form, headers=item.headers) as answer:
                await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            phase.errors[type(exc).__name__] += 1
            return
        if status != 200:
            phase.errors[f"HTTP {status}"] += 1
            return
        phase.ack_seconds.append(time.perf_counter() - began)
        phase.last_ack = max(phase.last_ack, time.time())

    phase.started = time.time()
    if load.rate is None:
        queue = iter(planned)

        async def in_turn() -> None:
            for item in queue:
                if time.monotonic() >= deadline:
                    phase.unsent += 1
                    continue
                await post(item)

        await asyncio.gather(*(in_turn() for _ in range(load.concurrency)))
    else:
        await _paced(planned, load.rate, load.concurrency, deadline, post, phase)
    while time.monotonic() < deadline:
        if customers <= replies.arrived.keys():
            break
        await asyncio.sleep(POLL)
    while callbacks_per_reply and time.monotonic() < deadline:
        answered = len(replies.callback_seconds) - called_before
        answered += (replies.callback_errors - errors_before).total()
        if answered >= callbacks_per_reply * (replies.replies - replies_before):
            break
        await asyncio.sleep(POLL)
    phase.callback_seconds = replies.callback_seconds[called_before:]
    phase.callback_errors = replies.callback_errors - errors_before
    phase.callbacks_expected = callbacks_per_reply * (replies.replies - replies_before)
    for phone in customers:
        if phone in replies.arrived and phone in sent_at:
            arrival = replies.arrived[phone]
            phase.e2e_seconds.append(arrival - sent_at[phone])
            phase.last_reply = max(phase.last_reply, arrival)
    phase.timed_out = phase.unsent > 0 or phase.missing > 0 or phase.callbacks_missing > 0
    return phase


async def _paced(
    planned: list[Planned],
    rate: float,
    concurrency: int,
    deadline: float,
    post: Callable[[Planned], Awaitable[None]],
    phase: Phase,
) -> None:
    """POST `planned` at `rate` per second (open loop), at most `concurrency` in flight.

    A POST that starts behind its schedule (the cap was reached, or this process
    lagged) is counted in `phase.late`, so a rate the hub could not take is visible.
    """
    slots = asyncio.Semaphore(concurrency)
    tasks: list[asyncio.Task[None]] = []

    async def one(item: Planned) -> None:
        try:
            await post(item)
        finally:
            slots.release()

    start = time.perf_counter()
    for index, item in enumerate(planned):
        due = start + index / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        if time.monotonic() >= deadline:
            phase.unsent = len(planned) - index
            break
        await slots.acquire()
        if time.perf_counter() - due > LATE:
            phase.late += 1
        tasks.append(asyncio.create_task(one(item)))
    await asyncio.gather(*tasks)


# -- CPU accounting -------------------------------------------------------------------------


def _cpu_by_process() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds so far (Linux /proc; empty elsewhere).

    Kernel threads (no command line) are named "kernel".
    """
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        name = raw[raw.find("(") + 1 : raw.rfind(")")]
        fields = raw[raw.rfind(")") + 2 :].split()
        with contextlib.suppress(OSError):
            if not (stat.parent / "cmdline").read_bytes():
                name = "kernel"
        found[int(stat.parent.name)] = (name, (int(fields[11]) + int(fields[12])) / ticks)
    return found


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs so far."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = values[3] + values[4]  # idle + iowait
    return float(sum(values) - idle), float(sum(values))


@dataclass
class CpuMeter:
    """CPU used by the hub, this process, PostgreSQL and Redis between start and stop."""

    hub_pids: dict[int, str]  # pid -> name (hub1, worker1...)
    _before: dict[int, tuple[str, float]] = field(default_factory=dict)
    _machine: tuple[float, float] = (0.0, 0.0)
    _began: float = 0.0
    shares: dict[str, float] = field(default_factory=dict)  # group -> cores used
    seconds: dict[str, float] = field(default_factory=dict)  # group -> CPU seconds
    others: list[str] = field(default_factory=list)  # the busiest other processes

    def start(self) -> None:
        self._before, self._machine, self._began = _cpu_by_process(), _machine_busy(), time.time()

    def stop(self) -> None:
        elapsed = max(time.time() - self._began, 1e-9)
        after = _cpu_by_process()
        used: dict[str, float] = {}
        others: Counter[str] = Counter()
        for pid, (name, seconds) in after.items():
            previous = self._before.get(pid)
            delta = seconds - (previous[1] if previous and previous[0] == name else 0.0)
            group = self._group(pid, name)
            used[group] = used.get(group, 0.0) + delta
            if group == "hub" and len(self.hub_pids) > 1:
                used[self.hub_pids[pid]] = delta
            if group == "other" and delta > 0:
                others[name] += round(delta * 1000)
        self.others = [name for name, _ in others.most_common(3)]
        self.seconds = used
        self.shares = {group: seconds / elapsed for group, seconds in used.items()}
        busy, total = _machine_busy()
        if total > self._machine[1]:
            cores = os.cpu_count() or 1
            self.shares["machine"] = cores * (busy - self._machine[0]) / (total - self._machine[1])

    def _group(self, pid: int, name: str) -> str:
        if pid in self.hub_pids:
            return "hub"
        if pid == os.getpid():
            return "bench"
        if name.startswith("postgres"):
            return "postgres"
        if name.startswith("redis"):
            return "redis"
        if name == "kernel":
            return "kernel"
        return "other"

    def describe(self) -> str:
        order = ["hub", *self.hub_pids.values()] if len(self.hub_pids) > 1 else ["hub"]
        order += ["bench", "postgres", "redis", "kernel", "other", "machine"]
        parts = [
            f"{g} {self.shares[g] * 100:.0f}%" for g in order if self.shares.get(g, 0) >= 0.005
        ]
        return ", ".join(parts)


# -- py-spy ---------------------------------------------------------------------------------


@contextlib.contextmanager
def py_spy(processes: dict[str, int], prefix: str | None) -> Iterator[None]:
    """Sample the hub processes (name: pid) with py-spy while inside, if `prefix` is set.

    Writes PREFIX.txt for one process, PREFIX-NAME.txt for several, and prints summaries.
    """
    if prefix is None:
        yield
        return
    spy = Path(sys.executable).with_name("py-spy")
    pids = list(processes.values())
    outputs = [
        Path(f"{prefix}.txt" if len(pids) == 1 else f"{prefix}-{name}.txt") for name in processes
    ]
    record = [str(spy), "record", "--rate", "100", "--format", "raw"]
    recorders = [
        subprocess.Popen(  # noqa: S603
            [*record, "--pid", str(pid), "--output", str(output)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for pid, output in zip(pids, outputs, strict=True)
    ]
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for recorder in recorders:
            try:
                recorder.wait(30)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait()
    for recorder, output in zip(recorders, outputs, strict=True):
        if output.exists():
            print(summarise_profile(output))
        else:
            error = recorder.stderr.read().decode(errors="replace") if recorder.stderr else ""
            print(f"  py-spy wrote no profile: {error.strip()}")


def summarise_profile(path: Path, top: int = 12) -> str:
    """The functions with the most samples on top of the stack, and the project's
    functions with the most samples anywhere in it, from py-spy's raw output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_function(frame) for frame in stack.split(";")[1:]]  # [0] is the thread
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            if name.split(" (", 1)[-1].startswith(("adapters/", "dialogue/", "crm/", "bots/")):
                inclusive[name] += count
    lines = [f"  py-spy: {total} samples in {path}", "  most samples on top of the stack:"]
    lines += [f"    {n / total * 100:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("  project functions, samples anywhere in the stack:")
    lines += [f"    {n / total * 100:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _function(frame: str) -> str:
    """'name (path/file.py:12)' -> 'name (file path below site-packages or the repo)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{REPOSITORY}/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


# -- one backend ----------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    phase: Phase
    cpu: CpuMeter
    extra_replies: int
    concurrency: int


async def run_backend(backend: str, args: argparse.Namespace) -> Result:
    server = args.server_url if backend == "postgres" else None
    redis_url = args.redis_url if backend == "postgres" else None
    total_customers = _customers(args.messages, args.per_customer)
    warm = phones(args.warmup, 0)
    measured = phones(total_customers, 5_000_000)
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(scratch_database(server))
        db = Database(url)
        try:
            await migrate.upgrade(db)
        finally:
            await db.dispose()
        settings = {"OMNIHUB_DATABASE_URL": url, "OMNIHUB_ANSWERING": args.answering}
        if redis_url is not None:
            redis = Redis.from_url(redis_url)
            stack.push_async_callback(redis.aclose)
            await redis.flushdb()
            stack.push_async_callback(redis.flushdb)  # runs after the hub has stopped
            settings["OMNIHUB_REDIS_URL"] = redis_url
        api = await stack.enter_async_context(provider(args.sender, args.callbacks))
        settings |= api.environment() | {"TWILIO_SMS_FROM": args.sender}
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="omnihub-router-")))
        hubs = [
            await stack.enter_async_context(
                running_hub(
                    settings, not args.provider_rate, args.responder, logs / f"hub{n + 1}.log"
                )
            )
            for n in range(args.hubs)
        ]
        bases = [hub.base for hub in hubs]
        hubs += [
            await stack.enter_async_context(
                running_hub(
                    settings,
                    not args.provider_rate,
                    args.responder,
                    logs / f"worker{n + 1}.log",
                    "worker",
                    args.worker_nice,
                    bases[0],
                )
            )
            for n in range(args.workers)
        ]
        replies = api
        load = Load(args.concurrency, args.rate)
        warm_plan = plan(warm, 1, args.warmup, bases, args.sender)
        measured_plan = plan(measured, args.per_customer, args.messages, bases, args.sender)
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            if warm_plan:
                warm_phase = await fire(
                    session,
                    replies,
                    warm_plan,
                    load,
                    time.monotonic() + args.deadline,
                    CALLBACKS_PER_REPLY if args.callbacks else 0,
                )
                if warm_phase.missing or warm_phase.errors:
                    print(
                        f"  warm-up: {warm_phase.missing} replies missing, "
                        f"errors {dict(warm_phase.errors)}",
                        file=sys.stderr,
                    )
            cpu = CpuMeter({hub.pid: hub.name for hub in hubs})
            spied = {hub.name: hub.pid for hub in hubs}
            with py_spy(spied, f"{args.py_spy}-{backend}" if args.py_spy else None):
                cpu.start()
                phase = await fire(
                    session,
                    replies,
                    measured_plan,
                    load,
                    time.monotonic() + args.deadline,
                    CALLBACKS_PER_REPLY if args.callbacks else 0,
                )
                cpu.stop()
        if phase.timed_out or phase.errors:
            _print_logs(logs)
        sent = len(warm_plan) + len(measured_plan)
        extra = replies.replies - sent if args.responder == DEFAULT_RESPONDER else 0
        return Result(backend, phase, cpu, max(extra, 0), args.concurrency)


def _customers(messages: int, per_customer: int) -> int:
    return math.ceil(messages / per_customer)


# -- report ---------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{'-':>9}" if math.isnan(seconds) else f"{seconds * 1000:>9.1f}"


LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL + Redis"}


def report(result: Result) -> None:
    phase = result.phase
    e2e_window = phase.last_reply - phase.started
    ack_window = phase.last_ack - phase.started
    e2e_rate = len(phase.e2e_seconds) / e2e_window if e2e_window > 0 else 0.0
    ack_rate = len(phase.ack_seconds) / ack_window if ack_window > 0 else 0.0
    print(
        f"{LABELS[result.backend]:<20}{e2e_rate:>9.0f}{ack_rate:>9.0f}"
        f"{ms(percentile(phase.ack_seconds, 0.50))}{ms(percentile(phase.ack_seconds, 0.99))}"
        f"{ms(percentile(phase.e2e_seconds, 0.50))}{ms(percentile(phase.e2e_seconds, 0.99))}"
        f"{phase.missing:>9}"
    )
    acked = len(phase.ack_seconds)
    hub_ms = result.cpu.seconds.get("hub", 0.0) / acked * 1000 if acked else math.nan
    notes = [
        f"CPU, % of one core: {result.cpu.describe()}",
        f"hub CPU per acknowledged webhook: {hub_ms:.1f} ms"
        + (" (its status callbacks included)" if phase.callbacks_expected else ""),
    ]
    if result.cpu.shares.get("other", 0.0) > 0.10:
        notes.append(
            f"other processes ({', '.join(result.cpu.others)}) were busy meanwhile: "
            "the figures are pessimistic"
        )
    if phase.callback_seconds or phase.callback_errors:
        notes.append(
            f"status callbacks: {len(phase.callback_seconds)} of {phase.callbacks_expected} "
            "answered 200, acknowledgement as timed by the fake API (its own loop adds to it) "
            f"p50 {ms(percentile(phase.callback_seconds, 0.50)).strip()} ms, "
            f"p99 {ms(percentile(phase.callback_seconds, 0.99)).strip()} ms"
            + (f", failures {dict(phase.callback_errors)}" if phase.callback_errors else "")
        )
    if phase.errors:
        notes.append(f"errors: {dict(phase.errors)}")
    if phase.unsent:
        notes.append(f"{phase.unsent} webhooks not sent before the deadline")
    if phase.missing:
        notes.append(f"stopped at the deadline with {phase.missing} replies missing")
    if phase.callbacks_missing:
        notes.append(f"stopped with {phase.callbacks_missing} status callbacks unanswered")
    if phase.late:
        notes.append(
            f"{phase.late} POSTs started over {LATE * 1000:.0f} ms behind the offered rate "
            f"(--concurrency {result.concurrency} in flight reached, or this process "
            "lagged): the hub did not keep up with it"
        )
    if result.extra_replies:
        notes.append(f"{result.extra_replies} replies more than messages sent (one each)")
    for note in notes:
        print(f"{'':<20}{note}")


def describe_setup(args: argparse.Namespace) -> None:
    from crm.models import Channel
    from dialogue.ratelimit import sender_rate

    real, _ = sender_rate(Channel.SMS, args.sender)
    customers = _customers(args.messages, args.per_customer)
    pace = (
        f"{args.concurrency} in flight (closed loop: the next POST as soon as one is answered)"
        if args.rate is None
        else f"offered at {args.rate:g}/s (open loop, at most {args.concurrency} in flight)"
    )
    hubs = "one hub process" if args.hubs == 1 else f"{args.hubs} hub processes (round robin)"
    if args.workers:
        hubs += f" and {args.workers} `omnihub worker` process(es)"
    print(
        f"router benchmark: {args.messages} inbound SMS webhooks measured after "
        f"{args.warmup} warm-up ones, {pace}, to the SMS sender {args.sender} through {hubs}"
    )
    if args.responder != DEFAULT_RESPONDER:
        print(
            f"  responder: {args.responder}; end-to-end figures count each customer's first reply"
        )
    if args.per_customer == 1:
        print(
            f"  {customers} customers, each a new phone number sending one message: each "
            "message opens a conversation and gets exactly one reply (benchmarks/responders.py "
            "answers every message once)"
        )
    else:
        print(
            f"  {customers} customers, each a new phone number sending up to "
            f"{args.per_customer} messages (all first messages before any second one); "
            "benchmarks/responders.py answers each, but end-to-end latency and messages/s "
            "count first messages and their replies"
        )
    if args.provider_rate:
        print(f"  sender rate limit: the real one, {real:g} segments/s for {args.sender}")
    else:
        print(
            f"  sender rate limit: lifted to {LIFTED_RATE:g}/s in the hub process (the real "
            f"one for {args.sender} is {real:g} segments/s, dialogue.ratelimit.sender_rate); "
            "the limiter still runs for every send. --provider-rate keeps the real one"
        )
    print(
        "  messages/s e2e: replies at the fake API / (first POST to last reply); acks/s: "
        "200s / (first POST to last 200); latencies in ms"
    )
    print(
        f"{'backend':<20}{'msgs/s':>9}{'acks/s':>9}{'ack p50':>9}{'ack p99':>9}"
        f"{'e2e p50':>9}{'e2e p99':>9}{'missing':>9}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=2000, help="measured webhooks")
    parser.add_argument("--concurrency", type=int, default=50, help="webhooks in flight")
    parser.add_argument(
        "--rate",
        type=float,
        help="offer webhooks at this many per second instead (open loop; latency at a load)",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--hubs", type=int, default=1, help="`omnihub serve` processes sharing the webhooks"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="`omnihub worker` processes started beside them"
    )
    parser.add_argument(
        "--answering",
        choices=["serve", "worker"],
        default="serve",
        help="OMNIHUB_ANSWERING: who answers (worker: needs --workers and the postgres backend)",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        help="run the workers under `nice -n N` (acknowledging comes first)",
    )
    parser.add_argument("--warmup", type=int, default=300, help="webhooks sent first, not counted")
    parser.add_argument("--per-customer", type=int, default=1, help="messages per customer")
    parser.add_argument("--sender", default=DEFAULT_SENDER, help="TWILIO_SMS_FROM")
    parser.add_argument(
        "--provider-rate", action="store_true", help="keep the sender's real rate limit"
    )
    parser.add_argument(
        "--callbacks",
        action="store_true",
        help="the fake Twilio API calls back for each reply as Twilio does (sent, delivered)",
    )
    parser.add_argument(
        "--responder",
        default=DEFAULT_RESPONDER,
        help="who answers: a factory as module:attribute, or 'product' for the hub's own "
        f"(default {DEFAULT_RESPONDER}, which answers every message once)",
    )
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds per phase")
    parser.add_argument("--server-url", default=DEFAULT_SERVER, help="PostgreSQL server")
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS, help="Redis (its database is flushed)"
    )
    parser.add_argument(
        "--py-spy", metavar="PREFIX", help="record the hub with py-spy into PREFIX-BACKEND.txt"
    )
    args = parser.parse_args()
    if min(args.messages, args.concurrency, args.per_customer, args.hubs) < 1:
        parser.error("--messages, --concurrency, --per-customer and --hubs must be 1 or more")
    if args.warmup < 0 or args.workers < 0:
        parser.error("--warmup and --workers must be 0 or more")
    if args.rate is not None and not args.rate > 0:
        parser.error("--rate must be a positive number of webhooks per second")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.answering == "worker" and (not args.workers or backends != ["postgres"]):
        parser.error("--answering worker needs --workers 1 or more and --backend postgres")
    describe_setup(args)
    try:
        for backend in backends:
            report(asyncio.run(run_backend(backend, args)))
    except KeyboardInterrupt:
        # asyncio.run cancelled the run: the hubs are stopped and the scratch data gone.
        sys.exit("interrupted")


if __name__ == "__main__":
    main()
