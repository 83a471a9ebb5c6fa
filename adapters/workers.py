"""Background jobs the hub runs beside the web app (or alone, as `omnihub worker`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from adapters.web.keys import DATABASE
from crm.db import Database
from crm.services.reservations import EXPIRY_BATCH, expire_reservations

log = logging.getLogger(__name__)

EXPIRY_INTERVAL = 60.0  # seconds between sweeps for reservations past their hold


async def expire_reservations_forever(db: Database, stop: asyncio.Event) -> None:
    """Give held stock back once a hold runs out; safe to run in several processes."""
    while not stop.is_set():
        try:
            expired = EXPIRY_BATCH
            while expired == EXPIRY_BATCH and not stop.is_set():  # a full batch: more wait
                async with db.transaction() as session:
                    expired = await expire_reservations(session)
                if expired:
                    log.info("expired %d reservations", expired)
        except Exception:
            # A failed sweep (database restarting) must not end the loop; the next one
            # picks up the same reservations, since expiry is idempotent.
            log.exception("reservation expiry sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), EXPIRY_INTERVAL)


async def run_workers(db: Database, stop: asyncio.Event) -> None:
    await asyncio.gather(expire_reservations_forever(db, stop))


async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
    """Runs the workers inside the web process (`omnihub serve`)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(app[DATABASE], stop))
    yield
    stop.set()
    await task
