"""Customers played on the simulator reach the real hub, and its replies come back through it."""

from __future__ import annotations

from sqlalchemy import select
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from adapters.channels.telegram import SECRET_HEADER, WEBHOOK_PATH
from adapters.channels.twilio import INBOUND_PATH
from adapters.simulator import customers
from adapters.simulator.events import ChatMessage, Direction, Status, StatusChange
from adapters.simulator.providers import SMS_FROM, WHATSAPP_FROM
from bots.catalogue import say
from crm.db import Database
from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    Customer,
    DeliveryStatus,
    Language,
    Message,
    MessageDirection,
)
from tests.polling import eventually
from tests.router.doubles import EchoResponder
from tests.simulator.conftest import PUBLIC, Simulation, count, simulate

LUCIA = customers.SMS_CUSTOMER.phone
CARLOS = customers.TELEGRAM_CUSTOMER


def _telegram(**action: object) -> dict[str, object]:
    return {
        "channel": "telegram",
        "user_id": CARLOS.id,
        "name": "Carlos Mendoza",
        **action,
    }


async def _status_of(db: Database, provider_id: str) -> DeliveryStatus | None:
    async with db.transaction() as session:
        return await session.scalar(
            select(Message.delivery_status).where(Message.provider_message_id == provider_id)
        )


async def test_an_sms_is_answered_in_spanish_and_its_delivery_recorded(
    simulation: Simulation, db: Database
) -> None:
    status, answer = await simulation.act(
        channel="sms", phone="+34 612 48 93 27", text="Hola, buenas tardes"
    )
    assert (status, answer) == (200, {"customer": LUCIA, "hub_status": 200})

    twilio = simulation.providers.twilio
    await eventually(lambda: len(twilio.messages) == 1)
    (reply,) = twilio.messages
    assert (reply.to, reply.from_) == (LUCIA, SMS_FROM)
    assert (reply.body or "").startswith(say("greet.hello", Language.ES, name=""))
    assert reply.status_callback == PUBLIC + "/webhooks/twilio/status"

    # The signed "delivered" callback reached the hub through its real status webhook.
    async def delivered() -> bool:
        return await _status_of(db, reply.sid) is DeliveryStatus.DELIVERED

    await eventually(delivered)
    async with db.transaction() as session:
        inbound = await session.scalar(
            select(Message).where(Message.direction == MessageDirection.INBOUND)
        )
    assert inbound is not None
    assert (inbound.channel, inbound.address) == (Channel.SMS, LUCIA)
    assert inbound.body == "Hola, buenas tardes"


async def test_the_page_hears_the_whole_exchange(simulation: Simulation) -> None:
    await simulation.act(channel="sms", phone=LUCIA, text="hola")
    events = simulation.providers.events
    await eventually(
        lambda: any(
            isinstance(e.happening, StatusChange) and e.happening.status is Status.DELIVERED
            for e in events.since()
        )
    )

    def statuses(ref: str) -> list[Status]:
        return [
            e.happening.status
            for e in events.since()
            if isinstance(e.happening, ChatMessage | StatusChange) and e.happening.ref == ref
        ]

    said = [e.happening for e in events.since() if isinstance(e.happening, ChatMessage)]
    assert [(m.direction, m.customer, m.channel) for m in said] == [
        (Direction.FROM_CUSTOMER, LUCIA, Channel.SMS),
        (Direction.TO_CUSTOMER, LUCIA, Channel.SMS),
    ]
    question, reply = said
    assert statuses(question.ref) == [Status.SENDING, Status.RECEIVED]
    assert statuses(reply.ref) == [Status.QUEUED, Status.SENT, Status.DELIVERED]
    assert reply.ref == simulation.providers.twilio.messages[0].sid


async def test_whatsapp_from_the_same_phone_continues_the_same_conversation(
    simulation: Simulation, db: Database
) -> None:
    await simulation.act(channel="sms", phone=LUCIA, text="hola")
    await eventually(lambda: len(simulation.providers.twilio.messages) == 1)

    status, answer = await simulation.act(
        channel="whatsapp", phone=LUCIA, name="Lucía F.", text="sigo por WhatsApp"
    )
    assert (status, answer) == (200, {"customer": LUCIA, "hub_status": 200})

    async def answered() -> bool:
        unprocessed = await count(
            db,
            Message,
            Message.direction == MessageDirection.INBOUND,
            Message.processed_at.is_(None),
        )
        return unprocessed == 0 and await count(db, Message) >= 3

    await eventually(answered)
    async with db.transaction() as session:
        inbound = (
            await session.execute(
                select(Message.channel, Message.address, Message.conversation_id)
                .where(Message.direction == MessageDirection.INBOUND)
                .order_by(Message.id)
            )
        ).all()
        conversation = await session.scalar(select(Conversation))
    assert [(row.channel, row.address) for row in inbound] == [
        (Channel.SMS, LUCIA),
        (Channel.WHATSAPP, LUCIA),
    ]
    assert conversation is not None
    assert {row.conversation_id for row in inbound} == {conversation.id}
    assert conversation.last_channel is Channel.WHATSAPP
    assert await count(db, Customer) == 1


async def test_a_whatsapp_reply_goes_back_on_whatsapp(simulation: Simulation, db: Database) -> None:
    lucas = customers.WHATSAPP_CUSTOMER
    await simulation.act(channel="whatsapp", phone=lucas.phone, name=lucas.name, text="Oi!")

    twilio = simulation.providers.twilio
    await eventually(lambda: len(twilio.messages) == 1)
    (reply,) = twilio.messages
    assert (reply.to, reply.from_) == (f"whatsapp:{lucas.phone}", f"whatsapp:{WHATSAPP_FROM}")
    first_name = lucas.name.split()[0]
    assert (reply.body or "").startswith(say("greet.hello", Language.PT, name=f" {first_name}"))

    async def delivered() -> bool:
        return await _status_of(db, reply.sid) is DeliveryStatus.DELIVERED

    await eventually(delivered)


async def test_a_telegram_text_is_answered_through_send_message(
    simulation: Simulation, db: Database
) -> None:
    status, answer = await simulation.act(**_telegram(text="¿Qué horario tiene la tienda?"))
    assert (status, answer) == (200, {"customer": str(CARLOS.id), "hub_status": 200})

    telegram = simulation.providers.telegram
    await eventually(lambda: len(telegram.sent) == 1)
    (reply,) = telegram.sent
    assert reply["chat"]["id"] == CARLOS.id
    # No store is known yet, so the bot asks which one.
    assert reply["text"] == say("store.ask", Language.ES)
    async with db.transaction() as session:
        identity = await session.scalar(select(ChannelIdentity))
    assert identity is not None
    assert (identity.channel, identity.address) == (Channel.TELEGRAM, str(CARLOS.id))
    assert identity.display_name == "Carlos Mendoza"


async def test_telegram_inline_buttons_can_be_pressed(database_url: str, db: Database) -> None:
    async with simulate(database_url, responder=EchoResponder()) as simulation:
        telegram = simulation.providers.telegram
        await simulation.act(**_telegram(text="menu"))
        await eventually(lambda: len(telegram.sent) == 1)
        offer = telegram.sent[0]
        shown = [
            e.happening
            for e in simulation.providers.events.since()
            if isinstance(e.happening, ChatMessage)
            and e.happening.direction is Direction.TO_CUSTOMER
        ]
        assert [[b.data for b in row] for row in shown[0].buttons] == [
            ["order_status"],
            ["store_info"],
        ]

        status, _ = await simulation.act(
            **_telegram(kind="press", message_id=offer["message_id"], data="store_info")
        )
        assert status == 200
        await eventually(lambda: len(telegram.sent) == 2)
        assert telegram.sent[1]["text"] == "chose: store_info"
        # The hub stopped the button's spinner, answering the query the press carried.
        await eventually(lambda: len(telegram.answered_callbacks) == 1)
        presses = [
            e.happening
            for e in simulation.providers.events.since()
            if isinstance(e.happening, ChatMessage) and e.happening.detail == "press"
        ]
        assert [p.text for p in presses] == ["Store hours"]

        status, answer = await simulation.act(
            **_telegram(kind="press", message_id=offer["message_id"], data="not_offered")
        )
        assert (status, answer) == (404, {"error": "unknown_button"})


async def test_a_shared_own_contact_links_the_telegram_user_to_the_phone(
    simulation: Simulation, db: Database
) -> None:
    phone = customers.TELEGRAM_CUSTOMER_PHONE
    await simulation.act(channel="sms", phone=phone, text="hola")
    await eventually(lambda: len(simulation.providers.twilio.messages) == 1)

    status, _ = await simulation.act(**_telegram(kind="contact", phone=phone))
    assert status == 200

    async def linked() -> bool:
        async with db.transaction() as session:
            identities = (await session.scalars(select(ChannelIdentity))).all()
        owners = {identity.channel: identity.customer_id for identity in identities}
        return Channel.TELEGRAM in owners and owners[Channel.TELEGRAM] == owners[Channel.SMS]

    await eventually(linked)
    assert await count(db, Customer) == 1


async def test_generated_webhooks_carry_valid_signatures(
    simulation: Simulation, db: Database
) -> None:
    twilio = simulation.providers.twilio
    token = simulation.settings.twilio_auth_token
    webhook = twilio.inbound_webhook(Channel.SMS, LUCIA, "hola")
    assert webhook.url == PUBLIC + INBOUND_PATH
    assert RequestValidator(token).validate(webhook.url, webhook.form, webhook.signature)

    tampered = {**webhook.form, "Body": "hola, soy otra persona"}
    response = await simulation.hub.post(INBOUND_PATH, data=tampered, headers=webhook.headers)
    assert response.status == 403
    assert await count(db, Message) == 0

    response = await simulation.hub.post(INBOUND_PATH, data=webhook.form, headers=webhook.headers)
    assert response.status == 200
    assert await count(db, Message, Message.direction == MessageDirection.INBOUND) == 1


async def test_a_telegram_update_with_another_secret_is_refused(
    simulation: Simulation, db: Database
) -> None:
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1,
            "from": CARLOS.to_json(),
            "chat": CARLOS.chat(),
            "text": "hola",
        },
    }
    secret = simulation.providers.telegram.credentials.webhook_secret
    assert simulation.settings.telegram_webhook_secret == secret
    response = await simulation.hub.post(
        WEBHOOK_PATH, json=update, headers={SECRET_HEADER: secret + "x"}
    )
    assert response.status == 403
    assert await count(db, Message) == 0
