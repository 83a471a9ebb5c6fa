"""Providers' delivery updates (status callbacks), recorded many at a time.

A reply gets two or three status callbacks (queued, sent, delivered, read...), so at a
few hundred replies a second they outnumber the customers' own messages. One webhook
therefore waits for one shared transaction with the others that arrived meanwhile
(`dialogue.batching.Batcher`), whose few Core statements do not grow with the batch:
the messages are found with one IN list and updated with one executemany.

A callback may name a message the hub has not yet recorded as sent with that provider
id: the provider called back before the sending process wrote it down (another
process, or one that crashed in between). Such an update is kept, in the same
transaction, in `waiting_delivery_updates`, and applied once its message is found: by
a retry shortly after, and by every recovery sweep. So an update the provider was told
we have (a 2xx) is never lost, in particular error 21610, which is an opt-out. One
still waiting after WAIT_AT_MOST names a message this hub never sent (one sent from
the provider's console): it is dropped, logged.

With OMNIHUB_ANSWERING=worker on PostgreSQL, `serve` only keeps every callback there,
in one round trip for all those waiting (as it does with inbound receipts), and a
worker applies them after the acknowledgement, told through the answer queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import AutocommitWriter, Database
from crm.models import Channel, DeliveryStatus, Message, WaitingDeliveryUpdate
from dialogue.batching import Batcher
from dialogue.messages import DeliveryUpdate
from dialogue.outbox import Outbox, record_opt_out

log = logging.getLogger(__name__)

# Callbacks recorded per transaction at most.
DELIVERY_BATCH = 256
# Waiting updates looked at per sweep transaction.
WAITING_BATCH = 512
# A waiting update is tried again this long after it was kept (besides every sweep),
# and again as long as it is younger than RETRY_WITHIN.
WAITING_RETRY = 2.0
RETRY_WITHIN = timedelta(seconds=10)
# An update still waiting after this names a message the hub never sent.
WAIT_AT_MOST = timedelta(hours=1)
OPTED_OUT_CODE = "21610"  # Twilio: the recipient sent STOP

# A status callback never moves a message backwards (callbacks arrive out of order).
_PROGRESS = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.READ: 4,
    DeliveryStatus.FAILED: 5,
    DeliveryStatus.UNDELIVERED: 5,
}

_messages = cast(Table, Message.__table__)
_waiting = cast(Table, WaitingDeliveryUpdate.__table__)

_FIND = select(
    _messages.c.id,
    _messages.c.conversation_id,
    _messages.c.channel,
    _messages.c.provider_message_id,
    _messages.c.delivery_status,
    _messages.c.error_code,
).where(
    tuple_(_messages.c.channel, _messages.c.provider_message_id).in_(
        bindparam("keys", expanding=True)
    )
)
_UPDATE = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"))
    .values(
        delivery_status=bindparam("b_status"),
        error_code=bindparam("b_error"),
        updated_at=bindparam("b_now"),
    )
)
_KEEP = insert(_waiting)
_WAITING = (
    select(
        _waiting.c.id,
        _waiting.c.channel,
        _waiting.c.provider_message_id,
        _waiting.c.status,
        _waiting.c.error_code,
        _waiting.c.received_at,
    )
    .where(_waiting.c.id > bindparam("after"))
    .order_by(_waiting.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_FORGET = delete(_waiting).where(_waiting.c.id.in_(bindparam("ids", expanding=True)))

# Told after each commit, with the (conversation id, message id) of every message whose
# status changed (the inbox shows them live).
Changed = Callable[[list[tuple[int, int]]], Awaitable[None]]


@dataclass
class _Found:
    """A message named by a callback, as the batch leaves it."""

    id: int
    conversation_id: int
    channel: Channel
    status: DeliveryStatus
    error_code: str | None
    changed: bool = False


class DeliveryRecorder:
    """Records delivery updates in batches; keeps those it cannot place yet."""

    def __init__(self, db: Database, outbox: Outbox, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.on_changed: Changed | None = None
        # Told when updates were kept for later (`keep`): someone should apply them.
        self.on_kept: Callable[[], None] = self.apply_soon
        self._batcher: Batcher[DeliveryUpdate, None] = Batcher(
            self._record, max_size=DELIVERY_BATCH
        )
        self._writer = AutocommitWriter(db)
        self._keeper: Batcher[DeliveryUpdate, None] = Batcher(
            self._keep_batch, max_size=DELIVERY_BATCH
        )
        self._applying: asyncio.Task[None] | None = None
        self._apply_again = False
        self._retry: asyncio.Task[None] | None = None

    async def record(self, update_: DeliveryUpdate) -> None:
        """Record one update; returns once it is committed (applied, or kept waiting)."""
        await self._batcher.submit(update_)

    async def keep(self, update_: DeliveryUpdate) -> None:
        """Keep one update to be applied later; returns once it is committed.

        One round trip for all the updates waiting (PostgreSQL), so that a busy hub
        acknowledges callbacks quickly (OMNIHUB_ANSWERING=worker); `on_kept` then asks
        for them to be applied (by a worker, or by `apply_soon` here).
        """
        await self._keeper.submit(update_)

    def apply_soon(self) -> None:
        """Apply the waiting updates, in a task of this process (one at a time)."""
        self._apply_again = True
        if self._applying is None:
            self._applying = asyncio.create_task(self._apply_all())

    async def idle(self) -> None:
        """Wait until what was submitted so far is committed, and applied when asked
        (not for the retry)."""
        while True:
            await self._batcher.idle()
            await self._keeper.idle()
            if self._applying is None:
                return
            await asyncio.wait([self._applying])

    async def close(self) -> None:
        """Give up the retry waiting to run (the sweeps apply what it would have) and
        the writer's connection."""
        retry, self._retry = self._retry, None
        if retry is not None:
            retry.cancel()
            await asyncio.gather(retry, return_exceptions=True)
        await self._writer.close()

    async def apply_waiting(self) -> int:
        """Apply the kept updates whose message is now found; drop those too old.

        Returns how many were applied. Safe in every process at once: each takes the
        rows it works on (SKIP LOCKED on PostgreSQL; SQLite has one writer).
        """
        applied, after, fresh = 0, 0, False
        while True:
            now = self.clock()
            async with self.db.transaction() as session:
                conn = await session.connection()
                rows = (
                    await conn.execute(_WAITING, {"after": after, "limit": WAITING_BATCH})
                ).all()
                if not rows:
                    break
                after = rows[-1].id
                updates = [
                    DeliveryUpdate(r.channel, r.provider_message_id, r.status, r.error_code)
                    for r in rows
                ]
                changed, unplaced = await _apply(session, updates, now)
                old = now - WAIT_AT_MOST
                expired = [rows[i].id for i in unplaced if rows[i].received_at <= old]
                fresh |= any(rows[i].received_at > now - RETRY_WITHIN for i in unplaced)
                done = [r.id for i, r in enumerate(rows) if i not in unplaced]
                if done or expired:
                    await conn.execute(_FORGET, {"ids": done + expired})
            for row_id in expired:
                log.warning("dropped a status callback for a message never sent here (%d)", row_id)
            applied += len(done)
            await self._tell(changed)
            if len(rows) < WAITING_BATCH:
                break
        if fresh:  # their sends are probably being recorded right now
            self._retry_soon()
        return applied

    async def _apply_all(self) -> None:
        try:
            while self._apply_again:
                self._apply_again = False
                await self.apply_waiting()
        except Exception:  # the database is away: the sweeps apply them
            log.exception("applying status callbacks failed; the next sweep tries again")
        finally:
            self._applying = None

    async def _keep_batch(self, updates: list[DeliveryUpdate]) -> list[None]:
        now = self.clock()
        await self._writer.write(_KEEP, [_waiting_row(u, now) for u in updates])
        self.on_kept()
        return [None] * len(updates)

    async def _record(self, updates: list[DeliveryUpdate]) -> list[None]:
        # A callback may come before this process has written down its send.
        await asyncio.gather(*(self.outbox.settled(u.channel, u.provider_id) for u in updates))
        now = self.clock()
        async with self.db.transaction() as session:
            changed, unplaced = await _apply(session, updates, now)
            if unplaced:
                conn = await session.connection()
                await conn.execute(_KEEP, [_waiting_row(updates[i], now) for i in sorted(unplaced)])
        if unplaced:
            log.info("kept %d status callbacks for messages not recorded yet", len(unplaced))
            self._retry_soon()
        await self._tell(changed)
        return [None] * len(updates)

    def _retry_soon(self) -> None:
        if self._retry is None:
            self._retry = asyncio.create_task(self._retry_later())

    async def _retry_later(self) -> None:
        try:
            await asyncio.sleep(WAITING_RETRY)
            self._retry = None
            await self.apply_waiting()
        except Exception:  # the sweeps try again
            log.exception("applying waiting status callbacks failed")

    async def _tell(self, changed: list[tuple[int, int]]) -> None:
        if not changed or self.on_changed is None:
            return
        try:
            await self.on_changed(changed)
        except Exception:
            # Committed already: the callback must still be acknowledged, and a live
            # update missed costs the inbox freshness only (it refetches on the next).
            log.exception("could not tell of %d delivery changes", len(changed))


async def _apply(
    session: AsyncSession, updates: Sequence[DeliveryUpdate], now: datetime
) -> tuple[list[tuple[int, int]], set[int]]:
    """Apply `updates` in order to the messages they name, in the session's transaction.

    Returns the (conversation id, message id) of the messages changed, and the indexes
    in `updates` of those whose message was not found.
    """
    conn = await session.connection()
    keys = sorted({(u.channel, u.provider_id) for u in updates})
    found = {
        (row.channel, row.provider_message_id): _Found(
            row.id, row.conversation_id, row.channel, row.delivery_status, row.error_code
        )
        for row in await conn.execute(_FIND, {"keys": keys})
    }
    unplaced: set[int] = set()
    opted_out: list[_Found] = []
    for index, update_ in enumerate(updates):
        message = found.get((update_.channel, update_.provider_id))
        if message is None:
            unplaced.add(index)
            continue
        if _PROGRESS.get(update_.status, 0) >= _PROGRESS.get(message.status, 0):
            message.changed |= update_.status is not message.status
            message.status = update_.status
        if update_.error_code and update_.error_code != message.error_code:
            message.error_code = update_.error_code
            message.changed = True
            if update_.error_code == OPTED_OUT_CODE:
                opted_out.append(message)
    changed = sorted((m for m in found.values() if m.changed), key=lambda m: m.id)
    if changed:
        await conn.execute(_UPDATE, [_update_row(m, now) for m in changed])
    for message in opted_out:
        source = f"provider:{OPTED_OUT_CODE}"
        await record_opt_out(session, message.conversation_id, message.channel, source, now)
    return [(m.conversation_id, m.id) for m in changed], unplaced


def _update_row(message: _Found, now: datetime) -> dict[str, Any]:
    return {
        "b_id": message.id,
        "b_status": message.status,
        "b_error": message.error_code,
        "b_now": now,
    }


def _waiting_row(update_: DeliveryUpdate, now: datetime) -> dict[str, Any]:
    return {
        "channel": update_.channel,
        "provider_message_id": update_.provider_id,
        "status": update_.status,
        "error_code": update_.error_code,
        "received_at": now,
    }
