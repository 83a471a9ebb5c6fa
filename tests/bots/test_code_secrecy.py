"""A one-time code reaches the phone it is for, and nothing else keeps or shows it.

The visitor asking may not be the phone's owner: the SMS with the code is no message of
the visitor's conversation (its agents would read it), and its text is never stored:
the database keeps a masked record of it, and a crash or a failed send never sends it
again from what was stored.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.db import Database
from crm.models import (
    Base,
    Channel,
    ChannelIdentity,
    ConversationEvent,
    DeliveryStatus,
    Message,
    OneTimeCodeEvent,
    utcnow,
)
from dialogue.messages import Inbound
from dialogue.ports import NluEngine, TransientSendError
from tests.bots.harness import Chat, Said
from tests.bots.test_orders import ANA, NOW
from tests.bots.test_verification import VISITOR, _ana_with_orders, code_sent_to, visitor
from tests.polling import eventually


@pytest.fixture
def talk(db: Database, nlu: NluEngine) -> Chat:
    chat = Chat(db, nlu)
    chat.responder.clock = lambda: NOW
    return chat


async def _everything_stored(db: Database) -> str:
    """Every value of every row of every table, as text."""
    found = []
    async with db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            for row in await session.execute(select(table)):
                found.extend(repr(value) for value in row)
    return "\n".join(found)


async def _ask_for_a_code(talk: Chat) -> str:
    """The visitor names Ana's order (a button: NoNlu); the code Ana's phone got."""
    await visitor(talk, "", payload="intent:order_status")
    said = await visitor(talk, "ES-100235")
    assert said.has("Si es tuyo, hemos enviado un código")
    return code_sent_to(talk, ANA)


async def test_the_code_is_stored_nowhere_and_not_in_the_visitors_conversation(
    db: Database, talk: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await _ana_with_orders(db)

    code = await _ask_for_a_code(talk)

    assert code not in await _everything_stored(db)
    assert code not in caplog.text
    async with db.transaction() as session:
        visitors = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.address == VISITOR)
        )
        assert visitors is not None
        messages = (await session.scalars(select(Message))).all()
        # Nothing of the SMS in any conversation: not its text, not Ana's phone.
        assert all(m.address != ANA and m.channel is not Channel.SMS for m in messages)
        events = (await session.scalars(select(ConversationEvent))).all()
        assert [(e.kind, e.data) for e in events] == [("verification_requested", None)]
        (record,) = (
            await session.scalars(select(OneTimeCodeEvent).where(OneTimeCodeEvent.kind == "sent"))
        ).all()
        assert record.body == "Código de verificación enviado al teléfono que acaba en ··78"
        assert record.destination == "··78"
        assert record.channel is Channel.SMS
        assert record.delivery_status is DeliveryStatus.QUEUED
        sent = talk.senders[Channel.SMS].sent[-1]
        assert record.provider_message_id == f"P{sent.message_id}"
    # The code is the real one: typed back, it works.
    said = await visitor(talk, code)
    assert said.has("Ya hemos comprobado que eres tú", "Pedido ES-100235")


async def test_a_crash_before_the_send_never_sends_the_code_later(db: Database, talk: Chat) -> None:
    await _ana_with_orders(db)
    await visitor(talk, "", payload="intent:order_status")
    told = len(talk.sent_to(Channel.WEBCHAT, VISITOR))
    stuck = asyncio.Event()
    talk.senders[Channel.SMS].gate = stuck  # the process dies while the SMS waits
    await talk.router.accept(Inbound(Channel.WEBCHAT, "wc-crash", VISITOR, "ES-100235"))

    async def answered() -> bool:
        if len(talk.sent_to(Channel.WEBCHAT, VISITOR)) == told:
            return False
        async with db.transaction() as session:
            return (
                await session.scalar(
                    select(OneTimeCodeEvent.id).where(OneTimeCodeEvent.kind == "sent")
                )
            ) is not None

    await eventually(answered)
    said = Said(talk.sent_to(Channel.WEBCHAT, VISITOR)[-1:])
    assert said.has("Si es tuyo, hemos enviado un código")

    # Another process starts, long after, and sweeps what the first one left.
    after = Chat(db, talk.responder.nlu)
    after.responder.clock = lambda: NOW + timedelta(minutes=6)
    later = lambda: utcnow() + timedelta(minutes=6)  # noqa: E731
    after.router.clock = after.router.outbox.clock = later
    await after.router.recover()
    await after.router.idle()

    assert after.senders[Channel.SMS].sent == []
    async with db.transaction() as session:
        record = await session.scalar(
            select(OneTimeCodeEvent).where(OneTimeCodeEvent.kind == "sent")
        )
        assert record is not None
        assert record.delivery_status is DeliveryStatus.FAILED
        assert record.error_code == "not_sent"
    # The visitor asks for another code, which goes.
    await after.webchat("", VISITOR, payload="order_status:verify=resend")
    assert len(after.sent_to(Channel.SMS, ANA)) == 1
    code = code_sent_to(after, ANA)
    said = await after.webchat(code, VISITOR)
    assert said.has("Ya hemos comprobado que eres tú")
    stuck.set()  # the first process's send, from its memory, may still go: not a resend
    await talk.router.idle()


async def test_a_failed_send_is_not_tried_again_from_what_was_stored(
    db: Database, talk: Chat
) -> None:
    await _ana_with_orders(db)
    talk.senders[Channel.SMS].failures.append(TransientSendError("provider away"))

    await visitor(talk, "", payload="intent:order_status")
    await visitor(talk, "ES-100235")
    await talk.router.recover()
    await talk.router.idle()

    assert talk.sent_to(Channel.SMS, ANA) == []
    async with db.transaction() as session:
        record = await session.scalar(
            select(OneTimeCodeEvent).where(OneTimeCodeEvent.kind == "sent")
        )
        assert record is not None
        assert record.delivery_status is DeliveryStatus.FAILED
