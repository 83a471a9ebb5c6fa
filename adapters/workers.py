"""Background jobs the hub runs beside the web app (or alone, as `omnihub worker`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from adapters.hub import HUB
from adapters.web.keys import DATABASE
from crm.db import Database
from crm.services.reservations import EXPIRY_BATCH, expire_reservations
from dialogue.router import Router

log = logging.getLogger(__name__)

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


async def run_workers(db: Database, router: Router, stop: asyncio.Event) -> None:
    first = True

    async def recover() -> None:
        nonlocal first
        # At start everything left behind is due; later, only what no live process
        # is still working on (older than one interval).
        older = timedelta(0) if first else timedelta(seconds=RECOVERY_INTERVAL)
        first = False
        if found := await router.recover(older_than=older):
            log.info("recovered %d conversations with unanswered or unsent messages", found)

    await asyncio.gather(
        _every(EXPIRY_INTERVAL, stop, lambda: expire_due_reservations(db)),
        _every(RECOVERY_INTERVAL, stop, recover),
    )


async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
    """Runs the workers inside the web process (`omnihub serve`)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(app[DATABASE], app[HUB].router, stop))
    yield
    stop.set()
    await task
