"""The router: stored once, answered once and in order, one customer across channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import Database
from crm.models import (
    Channel,
    ChannelIdentity,
    Consent,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    InboundReceipt,
    Message,
    MessageDirection,
    OneTimeCodeEvent,
    VerificationMethod,
    WaitingDeliveryUpdate,
    utcnow,
)
from dialogue.answerer import BOT_FAILED
from dialogue.handoff import HandoffRequest, request_handoff
from dialogue.messages import DeliveryUpdate, Destination, Inbound, Reply, SendReceipt
from dialogue.outbox import CHANNEL_OFF, Backoff, Outbox
from dialogue.ports import RecipientOptedOut, TransientSendError, Turn
from dialogue.ratelimit import InProcessRateLimiter
from dialogue.router import Mode, Router
from tests.router.doubles import CHAT, SMS, EchoResponder, Heard, RecordingSender

ANA = "+34612345678"


@dataclass
class Hub:
    router: Router
    responder: EchoResponder
    senders: dict[Channel, RecordingSender]
    db: Database
    heard: Heard

    async def say(self, inbound: Inbound) -> int:
        message_id = await self.router.accept(inbound)
        await self.router.idle()
        return message_id

    def sent(self, channel: Channel) -> list[str]:
        return [m.text for m in self.senders[channel].sent]


def _hub(db: Database, *, off: frozenset[Channel] = frozenset(), receipts: bool = False) -> Hub:
    senders = {
        Channel.SMS: RecordingSender(Channel.SMS, SMS),
        Channel.WHATSAPP: RecordingSender(Channel.WHATSAPP, SMS),
        Channel.TELEGRAM: RecordingSender(Channel.TELEGRAM, CHAT),
        Channel.WEBCHAT: RecordingSender(Channel.WEBCHAT, CHAT),
    }
    live = {channel: s for channel, s in senders.items() if channel not in off}
    outbox = Outbox(
        db, live, InProcessRateLimiter(), {}, backoff=Backoff(base=0.001, max_attempts=3)
    )
    responder = EchoResponder()
    heard = Heard()
    mode = Mode.RECEIPTS if receipts else Mode.ALONE
    router = Router(db, responder, outbox, mode=mode, listener=heard)
    return Hub(router, responder, senders, db, heard)


@pytest.fixture
async def hub(db: Database) -> AsyncIterator[Hub]:
    hub = _hub(db)
    yield hub
    await hub.router.close()


def sms(text: str, sid: str, phone: str = ANA) -> Inbound:
    return Inbound(Channel.SMS, sid, phone, text, vouched_phone=phone)


def whatsapp(text: str, sid: str, phone: str = ANA) -> Inbound:
    return Inbound(Channel.WHATSAPP, sid, f"whatsapp:{phone}", text, vouched_phone=phone)


def telegram(text: str, update_id: str, user: str = "777", **extra: str) -> Inbound:
    return Inbound(Channel.TELEGRAM, update_id, user, text, **extra)  # type: ignore[arg-type]


async def _count(db: Database, model: type) -> int:
    async with db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _messages(db: Database) -> list[Message]:
    async with db.transaction() as s:
        return list((await s.scalars(select(Message).order_by(Message.id))).all())


async def test_a_message_is_stored_answered_and_its_reply_recorded(hub: Hub) -> None:
    await hub.say(sms("hola", "SM1"))

    assert hub.sent(Channel.SMS) == ["echo: hola"]
    inbound, reply = await _messages(hub.db)
    assert (inbound.direction, inbound.body, inbound.address) == (
        MessageDirection.INBOUND,
        "hola",
        ANA,
    )
    assert inbound.processed_at is not None
    assert (reply.direction, reply.channel, reply.address) == (
        MessageDirection.OUTBOUND,
        Channel.SMS,
        ANA,
    )
    assert reply.delivery_status is DeliveryStatus.QUEUED
    assert reply.provider_message_id == f"P{reply.id}"
    assert reply.conversation_id == inbound.conversation_id


async def test_a_provider_retry_is_stored_and_answered_once(hub: Hub) -> None:
    first = await hub.say(sms("hola", "SM1"))
    again = await hub.say(sms("hola", "SM1"))

    assert first == again
    assert hub.sent(Channel.SMS) == ["echo: hola"]
    assert await _count(hub.db, Message) == 2


async def test_same_phone_on_whatsapp_and_sms_is_one_customer_and_one_conversation(
    hub: Hub,
) -> None:
    await hub.say(sms("hola", "SM1"))
    await hub.say(whatsapp("sigo por aqui", "SM2"))

    assert await _count(hub.db, Customer) == 1
    assert await _count(hub.db, Conversation) == 1
    # The reply goes out on the channel of the customer's latest message.
    assert hub.sent(Channel.WHATSAPP) == ["echo: sigo por aqui"]
    assert [m.channel for m in await _messages(hub.db)] == [
        Channel.SMS,
        Channel.SMS,
        Channel.WHATSAPP,
        Channel.WHATSAPP,
    ]


async def test_a_carrier_vouched_phone_joins_the_shop_customer_with_that_phone(
    hub: Hub,
) -> None:
    async with hub.db.transaction() as s:
        s.add(Customer(external_id="C-1", name="Ana Souza", phone=ANA))
    await hub.say(sms("hola", "SM1"))

    async with hub.db.transaction() as s:
        identity = await s.scalar(select(ChannelIdentity))
        customer = await s.scalar(select(Customer))
    assert identity is not None
    assert customer is not None
    assert (customer.external_id, identity.customer_id) == ("C-1", customer.id)
    assert (identity.verified, identity.verified_by) == (True, VerificationMethod.CARRIER)


async def test_a_shared_family_phone_is_not_proof_of_who_writes(hub: Hub) -> None:
    async with hub.db.transaction() as s:
        s.add_all([Customer(name="Ana", phone=ANA), Customer(name="Luis", phone=ANA)])
    await hub.say(sms("hola", "SM1"))

    assert await _count(hub.db, Customer) == 3  # a profile of its own, not a guess


async def test_an_unverified_telegram_user_is_never_merged_by_name(hub: Hub) -> None:
    await hub.say(telegram("hi", "1", user="100", display_name="Ana"))
    await hub.say(telegram("hi", "2", user="200", display_name="Ana"))

    assert await _count(hub.db, Customer) == 2
    async with hub.db.transaction() as s:
        identities = (await s.scalars(select(ChannelIdentity))).all()
    assert [i.verified for i in identities] == [False, False]


async def test_telegram_user_sharing_their_own_contact_joins_the_phone_customer(
    hub: Hub,
) -> None:
    await hub.say(sms("hola", "SM1"))
    await hub.say(telegram("hello from telegram", "10", user="777"))
    assert await _count(hub.db, Customer) == 2

    await hub.say(telegram("", "11", user="777", vouched_phone="34612345678"))

    async with hub.db.transaction() as s:
        identity = await s.scalar(
            select(ChannelIdentity).where(ChannelIdentity.channel == Channel.TELEGRAM)
        )
        sms_identity = await s.scalar(
            select(ChannelIdentity).where(ChannelIdentity.channel == Channel.SMS)
        )
        open_conversations = (
            await s.scalars(
                select(Conversation).where(Conversation.status != ConversationStatus.RESOLVED)
            )
        ).all()
    assert identity is not None
    assert sms_identity is not None
    assert identity.customer_id == sms_identity.customer_id
    assert identity.verified_by is VerificationMethod.TELEGRAM_CONTACT
    assert len(open_conversations) == 1
    # The whole history, SMS and Telegram, is in that one conversation.
    messages = await _messages(hub.db)
    assert {m.conversation_id for m in messages} == {open_conversations[0].id}


async def test_a_signed_web_chat_visitor_is_that_shop_customer(hub: Hub) -> None:
    async with hub.db.transaction() as s:
        s.add(Customer(external_id="C-9", name="Joana"))
    await hub.say(Inbound(Channel.WEBCHAT, "v1:c1", "visitor-1", "oi", shop_customer_id="C-9"))
    await hub.say(Inbound(Channel.WEBCHAT, "v2:c1", "visitor-2", "oi"))

    async with hub.db.transaction() as s:
        rows = (
            await s.execute(
                select(ChannelIdentity.address, ChannelIdentity.verified, Customer.external_id)
                .join(Customer)
                .order_by(ChannelIdentity.address)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("visitor-1", True, "C-9"), ("visitor-2", False, None)]


async def test_messages_of_one_conversation_are_answered_in_arrival_order(hub: Hub) -> None:
    ids = [await hub.router.accept(sms(f"m{i}", f"SM{i}")) for i in range(20)]
    await hub.router.idle()

    assert [t.message_id for t in hub.responder.turns] == ids
    assert hub.sent(Channel.SMS) == [f"echo: m{i}" for i in range(20)]


async def test_two_routers_on_one_database_keep_the_order(db: Database, database_url: str) -> None:
    """Two hub processes in miniature: separate routers, pools and locks."""
    first, second = _hub(db), _hub(Database(database_url))
    # One record of what both answered and sent, in the order it happened.
    second.responder.turns = first.responder.turns
    second.senders[Channel.SMS].sent = first.senders[Channel.SMS].sent
    try:
        ids = [
            await (first if i % 2 else second).router.accept(sms(f"m{i}", f"SM{i}"))
            for i in range(12)
        ]
        await asyncio.gather(first.router.idle(), second.router.idle())
    finally:
        await second.db.dispose()

    assert [t.message_id for t in first.responder.turns] == ids
    assert first.sent(Channel.SMS) == [f"echo: m{i}" for i in range(12)]


async def test_the_bot_says_nothing_while_an_agent_owns_the_conversation(hub: Hub) -> None:
    await hub.say(sms("hola", "SM1"))
    async with hub.db.transaction() as s:
        conversation = await s.scalar(select(Conversation))
        assert conversation is not None
        conversation.status = ConversationStatus.AGENT
    for channel_message in (sms("sigo", "SM2"), whatsapp("y por aqui", "SM3")):
        await hub.say(channel_message)

    assert hub.sent(Channel.SMS) == ["echo: hola"]
    assert hub.sent(Channel.WHATSAPP) == []
    inbound = [m for m in await _messages(hub.db) if m.direction is MessageDirection.INBOUND]
    assert all(m.processed_at is not None for m in inbound)


async def test_a_crash_while_answering_loses_nothing_and_answers_once(hub: Hub) -> None:
    hub.responder.fail = True
    await hub.say(sms("hola", "SM1"))
    assert hub.sent(Channel.SMS) == []
    (stored,) = await _messages(hub.db)
    assert stored.processed_at is None

    hub.responder.fail = False
    assert await hub.router.recover() == 1
    await hub.router.idle()
    assert await hub.router.recover() == 0

    assert hub.sent(Channel.SMS) == ["echo: hola"]


async def test_a_message_the_bot_always_fails_on_is_set_aside_after_three_tries(
    hub: Hub,
) -> None:
    gave_up = hub.heard.gave_up
    await hub.say(sms("boom", "SM1"))
    assert await hub.router.recover() == 1
    await hub.router.idle()
    assert gave_up == []  # two failures: still to be tried
    assert await hub.router.recover() == 1
    await hub.router.idle()
    (stored,) = await _messages(hub.db)
    assert (stored.processed_at is not None, stored.error_code) == (True, BOT_FAILED)
    assert gave_up == [stored.conversation_id]
    assert await hub.router.recover() == 0  # not retried forever
    # The next message of the conversation is answered as usual.
    await hub.say(sms("hola", "SM2"))
    assert hub.sent(Channel.SMS) == ["echo: hola"]


async def test_a_hanging_bot_is_abandoned_and_its_message_answered_later(hub: Hub) -> None:
    hub.router.answerer.respond_timeout = 0.05
    stuck = asyncio.Event()

    class Hanging:
        async def respond(self, session: object, turn: object) -> list[object]:
            await stuck.wait()
            return []

    answering = hub.router.answerer.responder
    hub.router.answerer.responder = Hanging()  # type: ignore[assignment]
    await hub.say(sms("hola", "SM1"))
    # Not stuck for good: the database is free again for everyone else.
    await hub.say(sms("hola", "SM2", phone="+34699999999"))
    assert all(m.processed_at is None for m in await _messages(hub.db))

    hub.router.answerer.responder = answering
    assert await hub.router.recover() == 2
    await hub.router.idle()
    assert sorted(hub.sent(Channel.SMS)) == ["echo: hola", "echo: hola"]


async def test_a_transient_send_failure_is_retried_and_sent_once(hub: Hub) -> None:
    hub.senders[Channel.SMS].failures = [TransientSendError("429", code="20429")]
    await hub.say(sms("hola", "SM1"))

    assert hub.sent(Channel.SMS) == ["echo: hola"]
    reply = (await _messages(hub.db))[-1]
    assert (reply.attempts, reply.delivery_status) == (2, DeliveryStatus.QUEUED)


async def test_later_replies_wait_for_an_earlier_one_that_is_retried(hub: Hub) -> None:
    hub.senders[Channel.SMS].failures = [TransientSendError("503")]
    await hub.router.accept(sms("uno", "SM1"))
    await hub.router.accept(sms("dos", "SM2"))
    await hub.router.idle()

    assert hub.sent(Channel.SMS) == ["echo: uno", "echo: dos"]


async def test_a_retry_that_keeps_failing_ends_as_failed(hub: Hub) -> None:
    hub.senders[Channel.SMS].failures = [TransientSendError("500", code="500")] * 3
    await hub.say(sms("hola", "SM1"))

    reply = (await _messages(hub.db))[-1]
    assert (reply.delivery_status, reply.error_code, reply.attempts) == (
        DeliveryStatus.FAILED,
        "500",
        3,
    )


async def test_a_recipient_who_sent_stop_is_recorded_as_opted_out(hub: Hub) -> None:
    hub.senders[Channel.SMS].failures = [RecipientOptedOut("STOP", code="21610")]
    await hub.say(sms("hola", "SM1"))

    reply = (await _messages(hub.db))[-1]
    assert (reply.delivery_status, reply.error_code) == (DeliveryStatus.FAILED, "21610")
    async with hub.db.transaction() as s:
        consent = await s.scalar(select(Consent))
    assert consent is not None
    assert (consent.channel, consent.granted) == (Channel.SMS, False)


async def test_a_reply_on_a_switched_off_channel_is_kept_as_failed(db: Database) -> None:
    hub = _hub(db, off=frozenset({Channel.TELEGRAM}))
    await hub.say(telegram("hi", "1"))

    reply = (await _messages(db))[-1]
    assert (reply.delivery_status, reply.error_code) == (DeliveryStatus.FAILED, CHANNEL_OFF)


async def test_sms_choices_are_numbered_and_a_number_answers_them(hub: Hub) -> None:
    await hub.say(sms("menu", "SM1"))
    (offer,) = hub.sent(Channel.SMS)
    assert "1) Order status" in offer
    assert "2) Store hours" in offer
    assert hub.senders[Channel.SMS].sent[0].buttons == ()

    await hub.say(sms(" 2 ", "SM2"))
    assert hub.sent(Channel.SMS)[-1] == "chose: store_info"


async def test_telegram_choices_stay_buttons(hub: Hub) -> None:
    await hub.say(telegram("menu", "1"))

    (offer,) = hub.senders[Channel.TELEGRAM].sent
    assert [b.payload for b in offer.buttons] == ["order_status", "store_info"]
    assert "1)" not in offer.text


async def test_delivery_callbacks_move_status_forward_only(hub: Hub) -> None:
    await hub.say(sms("hola", "SM1"))
    reply = (await _messages(hub.db))[-1]
    assert reply.provider_message_id is not None
    for status in (DeliveryStatus.DELIVERED, DeliveryStatus.SENT):  # out of order
        await hub.router.delivery(DeliveryUpdate(Channel.SMS, reply.provider_message_id, status))

    assert (await _messages(hub.db))[-1].delivery_status is DeliveryStatus.DELIVERED


async def test_concurrent_first_messages_of_a_new_sender_make_one_customer(
    hub: Hub, database_url: str
) -> None:
    others = [_hub(Database(database_url)) for _ in range(4)]
    try:
        await asyncio.gather(
            *(h.router.accept(sms(f"m{i}", f"SM{i}")) for i, h in enumerate(others))
        )
        await asyncio.gather(*(h.router.idle() for h in others))
    finally:
        for other in others:
            await other.db.dispose()

    assert await _count(hub.db, Customer) == 1
    assert await _count(hub.db, Conversation) == 1
    assert await _count(hub.db, ChannelIdentity) == 1


# -- many messages at once: one transaction stores them, another answers them ---------
#
# Webhooks that arrive together (here: accepted concurrently) are stored in one
# transaction, and their conversations answered in one, with several messages of a
# conversation one after the other in it.


async def _together(hub: Hub, *inbounds: Inbound) -> list[int]:
    ids = await asyncio.gather(*(hub.router.accept(i) for i in inbounds))
    await hub.router.idle()
    return list(ids)


async def test_messages_arriving_together_are_each_stored_and_answered_once(hub: Hub) -> None:
    phones = [f"+3461234500{i}" for i in range(6)]
    ids = await _together(
        hub,
        *(sms(f"hola {i}", f"SM{i}", phone) for i, phone in enumerate(phones)),
        sms("hola 0", "SM0", phones[0]),  # a provider's retry, in the same batch
    )

    assert ids[-1] == ids[0]
    assert len(set(ids)) == 6
    assert sorted(hub.sent(Channel.SMS)) == [f"echo: hola {i}" for i in range(6)]
    assert await _count(hub.db, Customer) == 6
    assert await _count(hub.db, Conversation) == 6
    assert await _count(hub.db, Message) == 12


async def test_a_new_senders_messages_arriving_together_make_one_conversation_in_order(
    hub: Hub,
) -> None:
    ids = await _together(
        hub,
        sms("uno", "SM1"),
        whatsapp("dos", "SM2"),  # the same phone, on another channel
        sms("tres", "SM3"),
    )

    assert await _count(hub.db, Customer) == 1
    assert await _count(hub.db, Conversation) == 1
    assert await _count(hub.db, ChannelIdentity) == 2
    assert [t.message_id for t in hub.responder.turns] == ids
    # Replies go out on the channel of the customer's latest message.
    assert hub.sent(Channel.SMS) == ["echo: uno", "echo: dos", "echo: tres"]


async def test_a_numbered_answer_in_the_same_batch_reads_the_choices_just_offered(
    hub: Hub,
) -> None:
    await _together(hub, sms("menu", "SM1"), sms("2", "SM2"))

    assert hub.sent(Channel.SMS)[-1] == "chose: store_info"


async def test_signed_visitors_arriving_together_are_one_new_shop_customer(hub: Hub) -> None:
    await _together(
        hub,
        Inbound(Channel.WEBCHAT, "v1:c1", "visitor-1", "oi", shop_customer_id="C-9"),
        Inbound(Channel.WEBCHAT, "v2:c1", "visitor-2", "oi", shop_customer_id="C-9"),
    )

    async with hub.db.transaction() as s:
        customers = (await s.scalars(select(Customer))).all()
        identities = (await s.scalars(select(ChannelIdentity))).all()
    assert [c.external_id for c in customers] == ["C-9"]
    assert [(i.customer_id, i.verified) for i in identities] == [(customers[0].id, True)] * 2
    assert await _count(hub.db, Conversation) == 1


async def test_a_contact_shared_among_other_messages_still_joins_the_phone_customer(
    hub: Hub,
) -> None:
    await hub.say(sms("hola", "SM1"))
    await hub.say(telegram("hello from telegram", "10", user="777"))

    await _together(
        hub,
        telegram("", "11", user="777", vouched_phone="34612345678"),
        sms("otra persona", "SM2", phone="+34699999999"),
    )

    async with hub.db.transaction() as s:
        owners = (
            await s.execute(
                select(ChannelIdentity.address, ChannelIdentity.customer_id).order_by(
                    ChannelIdentity.id
                )
            )
        ).all()
    (ana, telegram_user, other) = owners
    assert telegram_user.customer_id == ana.customer_id
    assert other.customer_id != ana.customer_id


async def test_the_bot_says_nothing_after_asking_for_a_person_in_the_same_batch(
    db: Database,
) -> None:
    """The responder hands the conversation over; the next message in the same
    transaction finds it no longer the bot's."""

    class HandingOver(EchoResponder):
        async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]:
            replies = await super().respond(session, turn)
            if turn.inbound.text == "agent":
                conversation = await session.get_one(Conversation, turn.conversation_id)
                await request_handoff(
                    session, conversation, HandoffRequest(reason="asked"), utcnow()
                )
            return replies

    hub = _hub(db)
    hub.router.answerer.responder = hub.responder = HandingOver()
    await _together(hub, sms("hola", "SM1"), sms("agent", "SM2"), sms("sigo", "SM3"))

    assert hub.sent(Channel.SMS) == ["echo: hola", "echo: agent"]
    inbound = [m for m in await _messages(hub.db) if m.direction is MessageDirection.INBOUND]
    assert all(m.processed_at is not None for m in inbound)
    async with hub.db.transaction() as s:
        conversation = await s.scalar(select(Conversation))
    assert conversation is not None
    assert conversation.status is ConversationStatus.QUEUED


async def test_what_the_responder_keeps_on_the_conversation_carries_to_the_next_message(
    db: Database,
) -> None:
    class Counting:
        async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]:
            conversation = await session.get_one(Conversation, turn.conversation_id)
            count = (conversation.bot_state or {}).get("count", 0) + 1
            conversation.bot_state = {"count": count}
            return [Reply(f"message {count}")]

    hub = _hub(db)
    hub.router.answerer.responder = Counting()
    await _together(hub, *(sms(f"m{i}", f"SM{i}") for i in range(3)))
    await hub.say(sms("m3", "SM3"))

    assert hub.sent(Channel.SMS) == [f"message {i}" for i in range(1, 5)]


async def test_one_failing_responder_does_not_keep_the_others_from_being_answered(
    hub: Hub,
) -> None:
    ids = await _together(
        hub,
        sms("hola", "SM1", phone="+34612345001"),
        sms("boom", "SM2", phone="+34612345002"),
        sms("hola", "SM3", phone="+34612345003"),
    )

    assert hub.sent(Channel.SMS) == ["echo: hola", "echo: hola"]
    unanswered = [
        m.id
        for m in await _messages(hub.db)
        if m.direction is MessageDirection.INBOUND and m.processed_at is None
    ]
    assert unanswered == [ids[1]]


async def test_a_hanging_responder_holds_up_only_its_own_message(hub: Hub) -> None:
    hub.router.answerer.respond_timeout = 0.05
    echo = hub.responder

    class HangingOnce:
        async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]:
            if turn.inbound.text == "hang":
                await asyncio.Event().wait()
            return await echo.respond(session, turn)

    hub.router.answerer.responder = HangingOnce()
    ids = await _together(
        hub,
        sms("hola", "SM1", phone="+34612345001"),
        sms("hang", "SM2", phone="+34612345002"),
        sms("adios", "SM3", phone="+34612345003"),
    )

    assert sorted(hub.sent(Channel.SMS)) == ["echo: adios", "echo: hola"]
    unanswered = [
        m.id
        for m in await _messages(hub.db)
        if m.direction is MessageDirection.INBOUND and m.processed_at is None
    ]
    assert unanswered == [ids[1]]


async def test_a_conversation_with_more_messages_than_one_transaction_takes_is_finished(
    db: Database,
) -> None:
    hub = _hub(db)
    hub.router = Router(
        db, hub.responder, hub.router.outbox, listener=hub.heard, messages_per_transaction=3
    )
    ids = await _together(hub, *(sms(f"m{i}", f"SM{i}") for i in range(8)))

    assert [t.message_id for t in hub.responder.turns] == ids
    assert hub.sent(Channel.SMS) == [f"echo: m{i}" for i in range(8)]


async def test_a_reply_addressed_elsewhere_goes_there_once_and_is_no_message(
    db: Database,
) -> None:
    class CodeBySms:
        async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]:
            record = OneTimeCodeEvent(
                customer_id=turn.customer_id,
                kind="sent",
                body="code sent to ··78",
                delivery_status=DeliveryStatus.PENDING,
            )
            session.add(record)
            await session.flush()
            return [Reply("your code: 123456", to=Destination(Channel.SMS, ANA, record.id))]

    hub = _hub(db)
    hub.router.answerer.responder = CodeBySms()
    await hub.say(telegram("my code please", "1"))

    assert hub.sent(Channel.SMS) == ["your code: 123456"]
    assert hub.senders[Channel.TELEGRAM].sent == []
    assert all(m.direction is MessageDirection.INBOUND for m in await _messages(db))
    async with db.transaction() as session:
        record = await session.scalar(select(OneTimeCodeEvent))
        assert record is not None
        assert record.delivery_status is DeliveryStatus.QUEUED
        assert record.provider_message_id is not None
        assert record.body == "code sent to ··78"
        provider_id = record.provider_message_id
    # The provider's status callbacks find it.
    await hub.router.delivery(DeliveryUpdate(Channel.SMS, provider_id, DeliveryStatus.DELIVERED))
    async with db.transaction() as session:
        record = await session.scalar(select(OneTimeCodeEvent))
        assert record is not None
        assert record.delivery_status is DeliveryStatus.DELIVERED
    assert await _count(db, WaitingDeliveryUpdate) == 0


async def test_two_routers_storing_the_same_retry_at_once_store_it_once(
    db: Database, database_url: str
) -> None:
    first, second = _hub(db), _hub(Database(database_url))
    second.senders[Channel.SMS].sent = first.senders[Channel.SMS].sent
    try:
        await asyncio.gather(
            first.router.accept(sms("hola", "SM1")),
            first.router.accept(sms("hola", "SMA", phone="+34612345001")),
            second.router.accept(sms("hola", "SM1")),
            second.router.accept(sms("hola", "SMB", phone="+34612345002")),
        )
        await asyncio.gather(first.router.idle(), second.router.idle())
    finally:
        await second.db.dispose()

    assert sorted(first.sent(Channel.SMS)) == ["echo: hola"] * 3
    assert await _count(db, Message) == 6


async def test_storing_a_message_does_not_wait_while_its_conversation_is_answered(
    hub: Hub, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has one writer: storing waits for any transaction")
    answering, release = asyncio.Event(), asyncio.Event()
    echo = hub.responder

    class Slow:
        async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]:
            if turn.inbound.text == "slow":
                answering.set()
                await release.wait()
            return await echo.respond(session, turn)

    hub.router.answerer.responder = Slow()
    await hub.router.accept(sms("slow", "SM1"))
    async with asyncio.timeout(10):  # guards against a deadlock, measures nothing
        await answering.wait()
        # The conversation's row is held by the answering transaction meanwhile.
        await hub.router.accept(sms("hola", "SM2"))
    release.set()
    await hub.router.idle()

    assert hub.sent(Channel.SMS) == ["echo: slow", "echo: hola"]


async def test_a_contact_joining_a_conversation_being_answered_does_not_wait_for_it(
    hub: Hub, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has one writer: storing waits for any transaction")
    await hub.say(telegram("hello from telegram", "10", user="777"))
    answering, release = asyncio.Event(), asyncio.Event()
    echo = hub.responder

    class Slow:
        async def respond(self, session: AsyncSession, turn: Turn) -> Sequence[Reply]:
            if turn.inbound.text == "slow":
                answering.set()
                await release.wait()
            return await echo.respond(session, turn)

    hub.router.answerer.responder = Slow()
    await hub.router.accept(sms("slow", "SM1"))
    async with asyncio.timeout(10):  # guards against a deadlock, measures nothing
        await answering.wait()
        # The SMS conversation's row is held by the answering transaction meanwhile;
        # the Telegram user's identity moves to that customer, into that conversation.
        await hub.router.accept(telegram("", "11", user="777", vouched_phone="34612345678"))
    release.set()
    await hub.router.idle()

    async with hub.db.transaction() as s:
        (conversation,) = (
            await s.scalars(
                select(Conversation).where(Conversation.status != ConversationStatus.RESOLVED)
            )
        ).all()
    assert {
        m.conversation_id for m in await _messages(hub.db) if m.body != "hello from telegram"
    } == {conversation.id}
    # Replies go where the customer wrote last.
    assert (conversation.last_channel, conversation.last_address) == (Channel.TELEGRAM, "777")
    assert hub.sent(Channel.SMS) == ["echo: slow"]


async def test_a_status_callback_overtaking_the_record_of_its_send_is_kept(hub: Hub) -> None:
    """The provider calls back as soon as it has the message, before the hub has
    written down that it sent it."""
    callbacks: list[asyncio.Task[None]] = []

    def call_back(receipt: SendReceipt) -> None:
        delivered = DeliveryUpdate(Channel.SMS, receipt.provider_id, DeliveryStatus.DELIVERED)
        callbacks.append(asyncio.create_task(hub.router.delivery(delivered)))

    hub.senders[Channel.SMS].on_receipt = call_back
    await hub.say(sms("hola", "SM1"))
    await asyncio.gather(*callbacks)

    reply = (await _messages(hub.db))[-1]
    assert reply.delivery_status is DeliveryStatus.DELIVERED


# -- received through webhooks: a receipt first, stored as a message right after ------------


@pytest.mark.parametrize("receipts", [False, True], ids=["stored-at-once", "receipts"])
async def test_received_messages_are_answered_once_each_and_in_order(
    db: Database, receipts: bool
) -> None:
    hub = _hub(db, receipts=receipts)
    try:
        await _receive_in_order(hub)
    finally:
        await hub.router.close()


async def _receive_in_order(hub: Hub) -> None:
    inbounds = [sms(f"m{i}", f"SM{i}") for i in range(12)]
    # Twilio retrying two of them while the first deliveries are still being received.
    await asyncio.gather(*(hub.router.receive(i) for i in [*inbounds, inbounds[3], inbounds[7]]))
    await hub.router.idle()

    assert hub.sent(Channel.SMS) == [f"echo: m{i}" for i in range(12)]
    async with hub.db.transaction() as session:
        stored = (await session.scalars(select(Message.body).order_by(Message.id))).all()
        assert await session.scalar(select(func.count()).select_from(InboundReceipt)) == 0
    assert [b for b in stored if not b.startswith("echo")] == [f"m{i}" for i in range(12)]


async def _leave_receipts(db: Database, *rows: dict[str, object]) -> None:
    """Receipts as a process leaves them when it dies right after acknowledging."""
    async with db.transaction() as session:
        session.add_all(InboundReceipt(payload=None, **row) for row in rows)  # type: ignore[arg-type]


def _receipt(text: str, sid: str, address: str = ANA) -> dict[str, object]:
    return {"channel": Channel.SMS, "provider_message_id": sid, "address": address, "body": text}


@pytest.fixture
async def receiving(db: Database, backend: str) -> AsyncIterator[Hub]:
    """A hub that writes receipts (`serve` with OMNIHUB_ANSWERING=worker)."""
    if backend == "sqlite":
        pytest.skip("receipts are written on PostgreSQL only")
    hub = _hub(db, receipts=True)
    yield hub
    await hub.router.close()


async def test_a_receipt_left_by_a_crash_is_stored_and_answered_at_recovery(
    receiving: Hub,
) -> None:
    hub = receiving
    await _leave_receipts(hub.db, _receipt("hola", "SM1"), _receipt("sigo aquí", "SM2"))

    await hub.router.recover()
    await hub.router.idle()

    assert hub.sent(Channel.SMS) == ["echo: hola", "echo: sigo aquí"]
    # Recovering again (another process, the next sweep) answers nothing twice.
    await hub.router.recover()
    await hub.router.idle()
    assert hub.sent(Channel.SMS) == ["echo: hola", "echo: sigo aquí"]


async def test_a_receipt_that_cannot_be_stored_waits_and_holds_up_no_other(
    receiving: Hub,
) -> None:
    hub = receiving
    before = utcnow()
    await _leave_receipts(
        hub.db,
        _receipt("primero", "SM1"),
        _receipt("???", "SM2", address="not a phone"),
        _receipt("tercero", "SM3", address="+34698765432"),
    )

    await hub.router.recover()
    await hub.router.idle()

    assert sorted(hub.sent(Channel.SMS)) == ["echo: primero", "echo: tercero"]
    async with hub.db.transaction() as session:
        (kept,) = (await session.scalars(select(InboundReceipt))).all()
    assert (kept.provider_message_id, kept.attempts) == ("SM2", 1)
    assert kept.next_attempt_at is not None
    assert kept.next_attempt_at > before
    # Not due yet: the next sweep leaves it alone.
    await hub.router.recover()
    await hub.router.idle()
    async with hub.db.transaction() as session:
        assert await session.scalar(select(InboundReceipt.attempts)) == 1
