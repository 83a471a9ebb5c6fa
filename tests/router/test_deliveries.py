"""Status callbacks: recorded together, never lost, also before their send is recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

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
from dialogue.deliveries import WAIT_AT_MOST
from dialogue.messages import DeliveryUpdate
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
    changed: list[list[tuple[int, int]]] = []

    async def seen(batch: list[tuple[int, int]]) -> None:
        changed.append(batch)

    told.router.on_delivery = seen
    held, answered = asyncio.Event(), asyncio.Event()

    async def committed(conversation_ids: list[int]) -> None:
        answered.set()

    sending.senders[Channel.SMS].gate = held
    sending.router.on_answered = committed
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
