"""Waiting, with a deadline, for state that another process or server changes."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, within: float = 10.0, every: float = 0.01
) -> None:
    """Return once `check()` is true; raise TimeoutError after `within` seconds.

    For what no event can announce (a row another process writes, a request a fake
    provider receives from a subprocess); never a fixed sleep standing in for a wait.
    """
    async with asyncio.timeout(within):
        while True:
            result = check()
            if await result if inspect.isawaitable(result) else result:
                return
            await asyncio.sleep(every)
