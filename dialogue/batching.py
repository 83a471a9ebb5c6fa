"""Batching: what concurrent callers submit is handled together, by one task at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Handles a batch; answers one result per item, in order: a value, or the exception
# that item's caller gets.
Handler = Callable[[list[T]], Awaitable[Sequence[R | Exception]]]


class Batcher(Generic[T, R]):
    """Collects what concurrent callers submit and hands it to `handle` in batches.

    One task handles one batch at a time; whatever is submitted meanwhile forms the
    next batch. So a lone item is handled at once, and under load batches grow by
    themselves, up to `max_size`, with no timer waiting for them to fill.

    A caller that stops waiting (cancelled) does not take its item out: once
    submitted, an item is handled, and its result is dropped.
    """

    def __init__(self, handle: Handler[T, R], *, max_size: int) -> None:
        self._handle = handle
        self._max_size = max_size
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_size]
                del self._waiting[: self._max_size]
                try:
                    results = await self._handle([item for item, _ in batch])
                except Exception as exc:  # the handler's own failure reaches every caller
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its caller stopped waiting
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._task = None

    @property
    def busy(self) -> bool:
        return self._task is not None

    async def idle(self) -> None:
        """Wait until everything submitted so far has been handled."""
        while self._task is not None:
            await asyncio.wait([self._task])
