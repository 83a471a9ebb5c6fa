"""Real hub processes: killed while answering, and two of them sharing one conversation."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from adapters.redis_backends import ANSWER_QUEUE
from crm.db import Database
from crm.models import DeliveryStatus, Message, MessageDirection, WaitingDeliveryUpdate
from tests.fakes.twilio_api import FakeTwilioApi, inbound_form, signed_webhook
from tests.polling import eventually

PUBLIC = "https://hub.example.com"
SMS_FROM = "+34600000001"  # outside +1: about 10 messages/s, not the 1/s of a US long code
ROOT = Path(__file__).resolve().parents[2]
OMNIHUB = Path(sys.executable).with_name("omnihub")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError):
        return False


@pytest.fixture
async def twilio_api() -> AsyncIterator[FakeTwilioApi]:
    async with FakeTwilioApi(numbers=[SMS_FROM]) as api:
        yield api


class HubProcess:
    def __init__(self, command: list[str], env: dict[str, str]):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
        self.process = subprocess.Popen(  # noqa: S603 (our own hub)
            command,
            env=inherited | env | {"OMNIHUB_PORT": str(self.port)},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    async def ready(self) -> None:
        await eventually(
            lambda: self.process.poll() is not None or _answers(self.url + "/readyz"), within=30
        )
        if self.process.poll() is not None:
            pytest.fail(f"the hub exited: {self.process.communicate()[1]}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.communicate(timeout=30)


@contextmanager
def hub(kind: str, env: dict[str, str]) -> Iterator[HubProcess]:
    command = (
        [str(OMNIHUB), "serve"]
        if kind == "serve"
        else [sys.executable, "-m", "tests.e2e.hub_process", *kind.split()]
    )
    process = HubProcess(command, env)
    try:
        yield process
    finally:
        process.stop()


def _environment(
    api: FakeTwilioApi, database_url: str, redis_url: str | None = None
) -> dict[str, str]:
    env = api.environment() | {
        "TWILIO_SMS_FROM": SMS_FROM,
        "OMNIHUB_PUBLIC_URL": PUBLIC,
        "OMNIHUB_DATABASE_URL": database_url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    if redis_url:
        env["OMNIHUB_REDIS_URL"] = redis_url
    return env


async def _send_sms(
    session: aiohttp.ClientSession, hub_url: str, phone: str, body: str, sid: str
) -> None:
    request = signed_webhook(
        PUBLIC + "/webhooks/twilio", inbound_form(from_=phone, to=SMS_FROM, body=body, sid=sid)
    )
    async with session.post(
        hub_url + "/webhooks/twilio", data=request.form, headers=request.headers
    ) as response:
        assert response.status == 200, await response.text()


async def test_a_killed_hub_answers_every_stored_message_once_when_back(
    twilio_api: FakeTwilioApi, db: Database, database_url: str, backend: str
) -> None:
    env = _environment(twilio_api, database_url)
    # The stuck bot holds its conversation's lock; on SQLite that lock is the whole
    # database, so only one message can be stored while it hangs.
    phones = [f"+3461234560{i}" for i in range(1 if backend == "sqlite" else 5)]
    with hub("hang", env) as stuck:
        await stuck.ready()
        twilio_api.forward(PUBLIC, stuck.url)
        async with aiohttp.ClientSession() as session:
            for i, phone in enumerate(phones):
                await _send_sms(session, stuck.url, phone, "hola", f"SM{i:032d}")
        # Every webhook was acknowledged: the messages are stored. Kill, no goodbye.
        stuck.stop(signal.SIGKILL)
    assert twilio_api.messages == []

    with hub("serve", env) as back:
        await back.ready()
        twilio_api.forward(PUBLIC, back.url)
        await eventually(lambda: len(twilio_api.messages) >= len(phones), within=30)
        # Everything recovered was answered once; nothing more is on its way.
        async with aiohttp.ClientSession() as session:
            await _send_sms(session, back.url, "+34699999999", "hola", "SM" + "9" * 32)
        await eventually(lambda: any(m.to == "+34699999999" for m in twilio_api.messages))

    assert sorted(m.to for m in twilio_api.messages) == sorted([*phones, "+34699999999"])
    # The product's chatbot answered each greeting, in Spanish (+34 numbers).
    assert all(m.body.startswith("¡Hola! Soy el asistente") for m in twilio_api.messages)


async def test_two_hub_processes_answer_one_conversation_in_arrival_order(
    twilio_api: FakeTwilioApi, db: Database, database_url: str, backend: str, redis_url: str
) -> None:
    if backend == "sqlite":
        pytest.skip("several hub processes need PostgreSQL and Redis, as in production")
    env = _environment(twilio_api, database_url, redis_url)
    with hub("echo", env) as first, hub("echo", env) as second:
        await first.ready()
        await second.ready()
        twilio_api.forward(PUBLIC, first.url)
        async with aiohttp.ClientSession() as session:
            for i in range(20):
                target = first if i % 2 else second
                await _send_sms(session, target.url, "+34612345678", f"m{i}", f"SM{i:032d}")
        await eventually(lambda: len(twilio_api.messages) >= 20, within=30)

    assert [m.body for m in twilio_api.messages] == [f"echo: m{i}" for i in range(20)]


async def _delivered(db: Database) -> bool:
    """Every reply is recorded as delivered, and no status callback waits."""
    async with db.transaction() as s:
        replies = (
            await s.scalars(
                select(Message.delivery_status).where(
                    Message.direction == MessageDirection.OUTBOUND
                )
            )
        ).all()
        waiting = await s.scalar(select(func.count()).select_from(WaitingDeliveryUpdate))
    return len(replies) == 10 and set(replies) == {DeliveryStatus.DELIVERED} and waiting == 0


async def test_with_answering_in_workers_serve_stores_and_a_worker_answers_in_order(
    twilio_api: FakeTwilioApi, db: Database, database_url: str, backend: str, redis_url: str
) -> None:
    if backend == "sqlite":
        pytest.skip("OMNIHUB_ANSWERING=worker needs Redis, and PostgreSQL for several processes")
    env = _environment(twilio_api, database_url, redis_url) | {"OMNIHUB_ANSWERING": "worker"}
    queue = Redis.from_url(redis_url)
    try:
        await queue.delete(ANSWER_QUEUE)
        with hub("echo", env) as front:
            await front.ready()
            twilio_api.forward(PUBLIC, front.url)
            async with aiohttp.ClientSession() as session:
                for i in range(10):
                    phone = f"+3461234567{i % 2}"
                    await _send_sms(session, front.url, phone, f"m{i}", f"SM{i:032d}")
            # Stored and acknowledged; what to answer waits in Redis for a worker.
            await eventually(lambda: queue.llen(ANSWER_QUEUE), within=10)
            assert twilio_api.messages == []
            with hub("echo worker", env):
                await eventually(lambda: len(twilio_api.messages) >= 10, within=30)
                # Status callbacks reach serve, which keeps them; the worker applies them.
                for reply in twilio_api.messages:
                    assert await twilio_api.deliver(reply.sid) == 200
                await eventually(lambda: _delivered(db), within=30)
            assert await queue.llen(ANSWER_QUEUE) == 0
    finally:
        await queue.aclose()

    for phone, first in (("+34612345670", 0), ("+34612345671", 1)):
        said = [m.body for m in twilio_api.messages if m.to == phone]
        assert said == [f"echo: m{i}" for i in range(first, 10, 2)]
