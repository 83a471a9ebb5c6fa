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

from sqlalchemy import (
    Table,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crm.db import AutocommitWriter, Database
from crm.models import Channel, DeliveryStatus, Message, OneTimeCodeEvent, WaitingDeliveryUpdate
from dialogue.batching import Batcher
from dialogue.consent import record_opt_out
from dialogue.messages import DeliveryUpdate
from dialogue.outbox import Outbox

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
# A one-time code's SMS is no message: it is recorded on its event row (dialogue.aside).
_codes = cast(Table, OneTimeCodeEvent.__table__)

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
# Guarded in the statement, not only in Python: another transaction (a sweep, another
# process) may have moved the same message on since it was read, and an UPDATE waits
# for that one and then sees its row.
_current_rank = case(
    {status: rank for status, rank in _PROGRESS.items()},
    value=_messages.c.delivery_status,
    else_=0,
)
_NEW_STATUS = bindparam("b_status", type_=_messages.c.delivery_status.type)
_NEW_ERROR = bindparam("b_error", type_=_messages.c.error_code.type)
_UPDATE = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"))
    .values(
        delivery_status=case(
            (_current_rank <= bindparam("b_rank"), _NEW_STATUS), else_=_messages.c.delivery_status
        ),
        error_code=func.coalesce(_NEW_ERROR, _messages.c.error_code),
        updated_at=bindparam("b_now"),
    )
)
# An opt-out is recorded by the one transaction that sets its code on the message.
_SET_OPTED_OUT = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"))
    .where((_messages.c.error_code.is_(None)) | (_messages.c.error_code != OPTED_OUT_CODE))
    .values(error_code=OPTED_OUT_CODE, updated_at=bindparam("b_now"))
    .returning(_messages.c.id)
)
_FIND_CODE = select(_codes.c.channel, _codes.c.provider_message_id).where(
    tuple_(_codes.c.channel, _codes.c.provider_message_id).in_(bindparam("keys", expanding=True))
)
_code_rank = case(
    {status: rank for status, rank in _PROGRESS.items()},
    value=_codes.c.delivery_status,
    else_=0,
)
_UPDATE_CODE = (
    update(_codes)
    .where(
        _codes.c.channel == bindparam("b_channel"),
        _codes.c.provider_message_id == bindparam("b_provider_id"),
    )
    .values(
        delivery_status=case(
            (_code_rank <= bindparam("b_rank"), bindparam("b_status", type_=_NEW_STATUS.type)),
            else_=_codes.c.delivery_status,
        ),
        error_code=func.coalesce(bindparam("b_error", type_=_NEW_ERROR.type), _codes.c.error_code),
        updated_at=bindparam("b_now"),
    )
)
_KEEP = insert(_waiting)
_SENT = or_(
    exists().where(
        _messages.c.channel == _waiting.c.channel,
        _messages.c.provider_message_id == _waiting.c.provider_message_id,
    ),
    exists().where(
        _codes.c.channel == _waiting.c.channel,
        _codes.c.provider_message_id == _waiting.c.provider_message_id,
    ),
)
# The kept updates whose message is now recorded: those still unplaced are not read
# again and again (they may be many: callbacks for messages sent from elsewhere).
_PLACEABLE = (
    select(
        _waiting.c.id,
        _waiting.c.channel,
        _waiting.c.provider_message_id,
        _waiting.c.status,
        _waiting.c.error_code,
    )
    .where(_waiting.c.id > bindparam("after"), _SENT)
    .order_by(_waiting.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_FORGET = delete(_waiting).where(_waiting.c.id.in_(bindparam("ids", expanding=True)))
_EXPIRE = (
    delete(_waiting)
    .where(_waiting.c.received_at <= bindparam("old"), ~_SENT)
    .returning(
        _waiting.c.channel,
        _waiting.c.provider_message_id,
        _waiting.c.status,
        _waiting.c.error_code,
    )
)
_FRESH = select(_waiting.c.id).where(_waiting.c.received_at > bindparam("since")).limit(1)

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
    new_error: str | None = None  # the error code this batch brings, if any


class DeliveryRecorder:
    """Records delivery updates in batches; keeps those it cannot place yet."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        clock: Callable[[], datetime],
        *,
        on_changed: Changed | None = None,
        on_kept: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self._on_changed = on_changed
        # Told when updates were kept for later (`keep`): someone should apply them.
        self._on_kept = on_kept or self.apply_soon
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
        self._closed = False

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
        if self._closed:
            return  # the next start's sweep applies them
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
        """Stop applying (what is left waits in the database for a sweep) and let go of
        the writer's connection."""
        self._closed = True
        tasks = [t for t in (self._retry, self._applying) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._writer.close()

    async def apply_waiting(self) -> None:
        """Apply the kept updates whose message is now recorded; look again soon while
        some are fresh (their sends are probably being recorded right now).

        Safe in every process at once: each takes the rows it applies (SKIP LOCKED on
        PostgreSQL; SQLite has one writer), and the statements guard each message's
        status themselves.
        """
        after = 0
        while True:
            now = self.clock()
            async with self.db.transaction() as session:
                conn = await session.connection()
                rows = (
                    await conn.execute(_PLACEABLE, {"after": after, "limit": WAITING_BATCH})
                ).all()
                if not rows:
                    break
                after = rows[-1].id
                updates = [
                    DeliveryUpdate(r.channel, r.provider_message_id, r.status, r.error_code)
                    for r in rows
                ]
                changed, _ = await _apply(session, updates, now)
                await conn.execute(_FORGET, {"ids": [r.id for r in rows]})
            await self._tell(changed)
            if len(rows) < WAITING_BATCH:
                break
        async with self.db.connection() as conn:
            fresh = await conn.execute(_FRESH, {"since": self.clock() - RETRY_WITHIN})
            if fresh.first() is not None:
                self._retry_soon()

    async def forget_expired(self) -> None:
        """Drop the kept updates still unplaced after WAIT_AT_MOST (recovery sweeps)."""
        async with self.db.connection() as conn:
            old = self.clock() - WAIT_AT_MOST
            expired = (await conn.execute(_EXPIRE, {"old": old})).all()
        for row in expired:
            # Most likely a message sent from elsewhere (the provider's console); an
            # opt-out among them is worth a person's look.
            level = logging.ERROR if row.error_code == OPTED_OUT_CODE else logging.WARNING
            log.log(
                level,
                "dropped a %s status callback (error %s) for %s message %s, never sent here",
                row.status,
                row.error_code,
                row.channel,
                row.provider_message_id,
            )

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
        self._on_kept()
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
        if self._retry is None and not self._closed:
            self._retry = asyncio.create_task(self._retry_later())

    async def _retry_later(self) -> None:
        try:
            await asyncio.sleep(WAITING_RETRY)
        finally:
            self._retry = None  # from here on a new retry may be asked for
        self.apply_soon()  # tracked, so that close() stops it

    async def _tell(self, changed: list[tuple[int, int]]) -> None:
        if not changed or self._on_changed is None:
            return
        try:
            await self._on_changed(changed)
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
            message.new_error = update_.error_code
            message.changed = True
    if unplaced:
        unplaced -= await _apply_to_codes(conn, updates, unplaced, now)
    changed = sorted((m for m in found.values() if m.changed), key=lambda m: m.id)
    if changed:
        await conn.execute(_UPDATE, [_update_row(m, now) for m in changed])
    for message in changed:
        if message.new_error != OPTED_OUT_CODE:
            continue
        # Set here, not by a transaction before this one: the opt-out is this one's.
        if await conn.scalar(_SET_OPTED_OUT, {"b_id": message.id, "b_now": now}) is not None:
            source = f"provider:{OPTED_OUT_CODE}"
            await record_opt_out(session, message.conversation_id, message.channel, source, now)
    return [(m.conversation_id, m.id) for m in changed], unplaced


async def _apply_to_codes(
    conn: AsyncConnection, updates: Sequence[DeliveryUpdate], indexes: set[int], now: datetime
) -> set[int]:
    """Apply updates to the SMS of one-time codes; return the indexes of those placed."""
    keys = sorted({(updates[i].channel, updates[i].provider_id) for i in indexes})
    found = {
        (r.channel, r.provider_message_id) for r in await conn.execute(_FIND_CODE, {"keys": keys})
    }
    placed = sorted(i for i in indexes if (updates[i].channel, updates[i].provider_id) in found)
    if placed:
        await conn.execute(
            _UPDATE_CODE,
            [
                {
                    "b_channel": updates[i].channel,
                    "b_provider_id": updates[i].provider_id,
                    "b_status": updates[i].status,
                    "b_rank": _PROGRESS.get(updates[i].status, 0),
                    "b_error": updates[i].error_code,
                    "b_now": now,
                }
                for i in placed
            ],
        )
    return set(placed)


def _update_row(message: _Found, now: datetime) -> dict[str, Any]:
    return {
        "b_id": message.id,
        "b_status": message.status,
        "b_rank": _PROGRESS.get(message.status, 0),
        # Only a code this batch brought: NULL keeps what the message has.
        "b_error": None if message.new_error == OPTED_OUT_CODE else message.new_error,
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
