"""Background jobs the hub runs beside the web app (or alone, as `omnihub worker`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from aiohttp import web
from redis.asyncio import Redis

from adapters.channels import telegram
from adapters.hub import HUB, open_hub
from adapters.settings import Settings
from adapters.web.keys import DATABASE
from crm.db import Database
from crm.services.reservations import EXPIRY_BATCH, expire_reservations
from dialogue.ports import AnswerQueue, Responder
from dialogue.router import Router

log = logging.getLogger(__name__)

WORKER_RUNNING = "omnihub worker running; Ctrl+C to stop"

EXPIRY_INTERVAL = 60.0  # seconds between sweeps for reservations past their hold
RECOVERY_INTERVAL = 15.0  # seconds between sweeps for unanswered messages and unsent replies


async def _every(seconds: float, stop: asyncio.Event, job: Callable[[], Awaitable[None]]) -> None:
    """Run `job` now and then every `seconds` until `stop`; a failed run does not end it."""
    while not stop.is_set():
        try:
            await job()
        except Exception:
            # A failed sweep (the database restarting...) must not end the loop: the
            # next sweep finds the same work, since every job here is idempotent.
            log.exception("background job failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


async def expire_due_reservations(db: Database) -> None:
    """Give held stock back once a hold runs out; safe to run in several processes."""
    expired = EXPIRY_BATCH
    while expired == EXPIRY_BATCH:  # a full batch: more are waiting
        async with db.transaction() as session:
            expired = await expire_reservations(session)
        if expired:
            log.info("expired %d reservations", expired)


async def run_workers(
    db: Database, router: Router, stop: asyncio.Event, answer_queue: AnswerQueue | None = None
) -> None:
    """The sweeps; with `answer_queue`, also answering what `serve` processes store."""
    first = True

    async def recover() -> None:
        nonlocal first
        # At start everything left behind is due; later, only what no live process
        # is still working on (older than one interval).
        older = timedelta(0) if first else timedelta(seconds=RECOVERY_INTERVAL)
        first = False
        if found := await router.recover(older_than=older):
            log.info("recovered %d conversations with unanswered or unsent messages", found)

    jobs = []
    if answer_queue is not None:
        # First: from its first step on, what this process stores it answers itself,
        # recovery included.
        jobs.append(router.answer_from(answer_queue, stop))
    jobs += [
        _every(EXPIRY_INTERVAL, stop, lambda: expire_due_reservations(db)),
        _every(RECOVERY_INTERVAL, stop, recover),
    ]
    await asyncio.gather(*jobs)


async def run_worker(
    settings: Settings,
    db: Database,
    *,
    responder: Responder | None = None,
    on_start: Callable[[], None] | None = None,
) -> None:
    """`omnihub worker`: the hub without the web app, until SIGINT or SIGTERM.

    It sweeps, sends what is left to send and, with OMNIHUB_ANSWERING=worker, answers
    what `serve` processes store. `responder` replaces the product's chatbot (tests).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        redis = None
        if settings.redis_url:
            redis = Redis.from_url(settings.redis_url)
            stack.push_async_callback(redis.aclose)
        bot = None
        if telegram.is_on(settings):
            bot = await stack.enter_async_context(telegram.build_bot(settings))
        hub = await stack.enter_async_context(
            open_hub(settings, db, redis, telegram_bot=bot, responder=responder, worker=True)
        )
        print(WORKER_RUNNING, flush=True)
        if on_start is not None:
            on_start()
        await run_workers(db, hub.router, stop, hub.answer_queue)


async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
    """Runs the workers inside the web process (`omnihub serve`)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(app[DATABASE], app[HUB].router, stop))
    yield
    stop.set()
    await task
