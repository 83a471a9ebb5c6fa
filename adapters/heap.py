"""The interpreter's heap once a process has started: start-up's objects are frozen
out of the cyclic garbage collector."""

from __future__ import annotations

import gc

from aiohttp import web


def settle() -> None:
    """Collect what start-up left as garbage, then freeze everything still alive.

    A full (generation 2) collection walks every object the collector tracks, and the
    process answers nothing meanwhile. With the embedded NLU engine, the catalogue and
    SQLAlchemy's metadata loaded, one took 230-270 ms here: at 500 webhooks a second,
    that one pause was a whole acknowledgement p99 (benchmarks/router.py). Frozen
    objects are skipped by every later collection; reference counting still frees them
    as usual, so only cycles among start-up's own objects are kept for good.
    """
    gc.collect()
    gc.freeze()


async def settle_on_startup(_: web.Application) -> None:
    """on_startup handler: runs after the app's cleanup contexts have opened the hub."""
    settle()
