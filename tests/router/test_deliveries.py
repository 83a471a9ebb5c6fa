"""Status callbacks: recorded together, never lost, also before their send is recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from crm.db import Database
from crm.models import (
    Channel,
    Consent,
    DeliveryStatus,
    Message,
    MessageDirection,
    WaitingDeliveryUpdate,
    utcnow,
)
from dialogue import deliveries
from dialogue.deliveries import WAIT_AT_MOST
from dialogue.messages import DeliveryUpdate
from tests.polling import eventually
from tests.router.test_router import Hub, _hub, sms

ANA = "+34612345678"
BEA = "+34622345678"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def hubs(db: Database) -> AsyncIterator[tuple[Hub, Hub]]:
    """Two hub processes on one database: `sending` answers, `told` gets the callbacks."""
    sending, told = _hub(db), _hub(db)
    yield sending, told
    for hub in (sending, told):
        await hub.router.close()


async def _replies(db: Database) -> list[Message]:
    async with db.transaction() as s:
        query = select(Message).where(Message.direction == MessageDirection.OUTBOUND)
        return list((await s.scalars(query.order_by(Message.id))).all())


async def _waiting(db: Database) -> int:
    async with db.transaction() as s:
        query = select(func.count()).select_from(WaitingDeliveryUpdate)
        return int(await s.scalar(query) or 0)


async def test_a_callback_before_the_sending_process_recorded_the_send_is_applied_later(
    hubs: tuple[Hub, Hub],
) -> None:
    sending, told = hubs
    changed = told.heard.changed
    held, answered = asyncio.Event(), sending.heard.answered_once
    sending.senders[Channel.SMS].gate = held
    answering = asyncio.create_task(sending.say(sms("hola", "SM1")))
    async with asyncio.timeout(10):  # guards against a hang, measures nothing
        await answered.wait()
    (reply,) = await _replies(sending.db)  # written, its send held
    # The fake sender's provider id is "P" + the message id; the provider calls back
    # (at another hub process) before the sending one has written it down.
    update = DeliveryUpdate(Channel.SMS, f"P{reply.id}", DeliveryStatus.DELIVERED)
    await told.router.delivery(update)

    assert await _waiting(told.db) == 1
    assert changed == []

    held.set()
    await answering
    (reply,) = await _replies(sending.db)
    assert (reply.provider_message_id, reply.delivery_status) == (
        f"P{reply.id}",
        DeliveryStatus.QUEUED,
    )

    await told.router.recover()

    (reply,) = await _replies(told.db)
    assert reply.delivery_status is DeliveryStatus.DELIVERED
    assert await _waiting(told.db) == 0
    assert changed == [[(reply.conversation_id, reply.id)]]


async def test_a_callback_for_a_message_never_sent_here_is_dropped_after_a_while(
    db: Database,
) -> None:
    clock = Clock()
    hub = _hub(db)
    hub.router.clock = clock
    try:
        await hub.say(sms("hola", "SM1"))
        await hub.router.delivery(
            DeliveryUpdate(Channel.SMS, "SMnotours", DeliveryStatus.DELIVERED)
        )
        await hub.router.recover()
        assert await _waiting(db) == 1  # it may yet be recorded by another process

        clock.now += WAIT_AT_MOST + timedelta(seconds=1)
        await hub.router.recover()

        assert await _waiting(db) == 0
        (reply,) = await _replies(db)
        assert reply.delivery_status is DeliveryStatus.QUEUED
    finally:
        await hub.router.close()


@pytest.mark.parametrize("receipts", [False, True], ids=["applied-at-once", "kept-first"])
async def test_callbacks_arriving_together_are_applied_in_order_and_an_opt_out_kept(
    db: Database, receipts: bool
) -> None:
    """With receipts (OMNIHUB_ANSWERING=worker, PostgreSQL) a callback is only kept
    before its acknowledgement, and applied right after."""
    hub = _hub(db, receipts=receipts)
    try:
        await _callbacks_together(hub)
    finally:
        await hub.router.close()


async def _callbacks_together(hub: Hub) -> None:
    await hub.say(sms("hola", "SM1"))
    await hub.say(sms("hello", "SM2", phone=BEA))
    ana, bea = await _replies(hub.db)
    assert ana.provider_message_id is not None
    assert bea.provider_message_id is not None
    updates = [
        DeliveryUpdate(Channel.SMS, ana.provider_message_id, DeliveryStatus.SENT),
        DeliveryUpdate(Channel.SMS, ana.provider_message_id, DeliveryStatus.READ),
        DeliveryUpdate(Channel.SMS, ana.provider_message_id, DeliveryStatus.DELIVERED),
        DeliveryUpdate(Channel.SMS, bea.provider_message_id, DeliveryStatus.SENT),
        DeliveryUpdate(Channel.SMS, bea.provider_message_id, DeliveryStatus.UNDELIVERED, "21610"),
        # Twilio may say it again: one opt-out, not two.
        DeliveryUpdate(Channel.SMS, bea.provider_message_id, DeliveryStatus.UNDELIVERED, "21610"),
    ]

    await asyncio.gather(*(hub.router.delivery(u) for u in updates))
    await hub.router.idle()

    ana, bea = await _replies(hub.db)
    assert ana.delivery_status is DeliveryStatus.READ  # never backwards
    assert (bea.delivery_status, bea.error_code) == (DeliveryStatus.UNDELIVERED, "21610")
    async with hub.db.transaction() as s:
        consents = (await s.scalars(select(Consent))).all()
    assert [(c.channel, c.granted, c.source) for c in consents] == [
        (Channel.SMS, False, "provider:21610")
    ]
    assert await _waiting(hub.db) == 0


async def test_two_processes_applying_kept_callbacks_at_once_never_move_a_status_back(
    hubs: tuple[Hub, Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page of kept callbacks is applied by whichever process takes it first; a
    message's `read` and its later-kept `sent` may be applied by different ones."""
    first, second = hubs
    phones = [f"+346123456{n:02d}" for n in range(20)]
    for n, phone in enumerate(phones):
        await first.say(sms("hola", f"SM{n}", phone=phone))
    replies = await _replies(first.db)
    now = utcnow()
    async with first.db.transaction() as s:
        for status in (DeliveryStatus.READ, DeliveryStatus.SENT):
            s.add_all(
                WaitingDeliveryUpdate(
                    channel=Channel.SMS,
                    provider_message_id=reply.provider_message_id,
                    status=status,
                    received_at=now,
                )
                for reply in replies
            )
    monkeypatch.setattr(deliveries, "WAITING_BATCH", 7)  # pages that interleave

    await asyncio.gather(first.router.recover(), second.router.recover())

    assert {r.delivery_status for r in await _replies(first.db)} == {DeliveryStatus.READ}
    assert await _waiting(first.db) == 0


async def test_one_opt_out_when_two_processes_get_the_same_21610_at_once(
    hubs: tuple[Hub, Hub],
) -> None:
    first, second = hubs
    await first.say(sms("hola", "SM1"))
    (reply,) = await _replies(first.db)
    assert reply.provider_message_id is not None
    update = DeliveryUpdate(
        Channel.SMS, reply.provider_message_id, DeliveryStatus.UNDELIVERED, "21610"
    )

    await asyncio.gather(first.router.delivery(update), second.router.delivery(update))

    async with first.db.transaction() as s:
        consents = (await s.scalars(select(Consent))).all()
    assert [(c.granted, c.source) for c in consents] == [(False, "provider:21610")]


async def test_closing_stops_the_retry_of_callbacks_kept_for_later(db: Database) -> None:
    hub = _hub(db)
    await hub.router.delivery(DeliveryUpdate(Channel.SMS, "SMlater", DeliveryStatus.SENT))
    await hub.router.close()

    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert [t.get_coro() for t in left] == []
    assert await _waiting(db) == 1  # for the next start's sweep


async def test_an_older_status_never_overwrites_one_committed_meanwhile(
    hubs: tuple[Hub, Hub],
) -> None:
    """`sent` is read against the message as it was (queued), then waits for the
    transaction applying `read` to the same message, which commits first."""
    hub, _ = hubs
    if hub.db.dialect != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    await hub.say(sms("hola", "SM1"))
    (reply,) = await _replies(hub.db)
    assert reply.provider_message_id is not None
    read, sent = (
        DeliveryUpdate(Channel.SMS, reply.provider_message_id, status)
        for status in (DeliveryStatus.READ, DeliveryStatus.SENT)
    )

    async def apply(update: DeliveryUpdate) -> None:
        async with hub.db.transaction() as session:
            await deliveries._apply(session, [update], utcnow())

    async with hub.db.transaction() as first:
        await deliveries._apply(first, [read], utcnow())  # holds the message's row
        later = asyncio.create_task(apply(sent))
        await eventually(lambda: _waiting_for_a_lock(hub.db))
    await later

    (reply,) = await _replies(hub.db)
    assert reply.delivery_status is DeliveryStatus.READ


async def _waiting_for_a_lock(db: Database) -> bool:
    async with db.transaction() as s:
        query = text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return bool(await s.scalar(query))
