"""People take conversations from the bot and give them back (dialogue.inbox).

Through the real router, chatbot and outbox (tests/bots/harness.py): a customer asks
for a person, agents claim, reply, transfer, resolve; the customer sees what a
customer would, and the bot never speaks while a person owns the conversation.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm.db import Database
from crm.models import (
    Agent,
    AgentRole,
    CannedResponse,
    Channel,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Customer,
    Language,
    Message,
    utcnow,
)
from dialogue.inbox import (
    AlreadyTaken,
    IllegalTransition,
    InboxEvent,
    NotFound,
    NotOwner,
    OutsideWindow,
    SupportHours,
)
from dialogue.messages import Template
from dialogue.ports import NluEngine
from tests.bots.harness import Chat
from tests.conversations import world

ANA = world.PEOPLE["ana"]
EMMA = world.PEOPLE["emma"]


@pytest.fixture
async def chat(db: Database, nlu: NluEngine) -> Chat:
    async with db.transaction() as session:
        await world.build(session, utcnow())
    return Chat(db, nlu)


async def _agent(
    db: Database, name: str, *, available: bool = False, capacity: int = 5, teams: list[str] = ()
) -> int:
    async with db.transaction() as session:
        agent = Agent(
            email=f"{name.lower()}@shop.example",
            name=name,
            role=AgentRole.AGENT,
            password_hash="-",
            available=available,
            capacity=capacity,
            teams=list(teams),
        )
        session.add(agent)
        await session.flush()
        return agent.id


async def _conversation_of(db: Database, phone: str) -> Conversation:
    async with db.transaction() as session:
        conversation = await session.scalar(
            select(Conversation)
            .join(Customer, Customer.id == Conversation.customer_id)
            .where(Customer.phone == phone)
            .order_by(Conversation.id.desc())
            .limit(1)
        )
    assert conversation is not None
    return conversation


async def _queued(chat: Chat, phone: str = ANA.phone) -> int:
    said = await chat.sms("quiero hablar con una persona", phone)
    assert said.has("Te paso con una persona")
    return (await _conversation_of(chat.db, phone)).id


async def test_a_handoff_goes_to_the_free_agent_and_the_customer_hears_it_is_soon(
    chat: Chat, db: Database
) -> None:
    marta = await _agent(db, "Marta", available=True)
    events: list[InboxEvent] = []

    async def listen() -> None:
        async for event in chat.inbox.events():
            events.append(event)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)  # let it subscribe
    said = await chat.sms("quiero hablar con una persona", ANA.phone)
    assert said.has("Te escribirá aquí mismo enseguida")
    conversation = await _conversation_of(db, ANA.phone)
    assert (conversation.status, conversation.assigned_agent_id) == (
        ConversationStatus.AGENT,
        marta,
    )
    assert conversation.handoff is not None
    assert conversation.handoff["reason"] == "asked"
    listener.cancel()
    assert [e.kind for e in events] == ["queued", "assigned"]


async def test_nobody_free_the_customer_waits_and_a_newly_available_agent_gets_it(
    chat: Chat, db: Database
) -> None:
    said = await chat.sms("quiero hablar con una persona", ANA.phone)
    assert said.has("te escribirán aquí en cuanto haya alguien libre")
    await chat.sms("hablar con un humano por favor", EMMA.phone)
    conversation = await _conversation_of(db, EMMA.phone)
    assert conversation.status is ConversationStatus.QUEUED

    luis = await _agent(db, "Luis", capacity=1)
    await chat.inbox.set_availability(luis, True)
    first = await _conversation_of(db, ANA.phone)
    second = await _conversation_of(db, EMMA.phone)
    # The oldest first, and no more than his capacity.
    assert (first.status, first.assigned_agent_id) == (ConversationStatus.AGENT, luis)
    assert (second.status, second.assigned_agent_id) == (ConversationStatus.QUEUED, None)


async def test_outside_the_teams_hours_the_customer_is_told_when_they_are_back(
    db: Database, nlu: NluEngine
) -> None:
    async with db.transaction() as session:
        await world.build(session, utcnow())
    now = datetime.now(UTC)
    # Open one hour a week, from 10:00 in two days: closed now, whatever the day and
    # hour (an hour taken from now's would wrap past midnight when run at 23:xx).
    opens = (now + timedelta(days=2)).replace(hour=10, minute=0)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[opens.weekday()]
    support = SupportHours.parse(f"{day} 10:00-10:59")
    chat = Chat(db, nlu, support=support)
    said = await chat.sms("quiero hablar con una persona", ANA.phone)
    assert said.has("Ahora no hay nadie: volvemos el", f"a las {opens:%H}:00")


async def test_two_agents_claiming_at_once_exactly_one_gets_it(chat: Chat, db: Database) -> None:
    conversation_id = await _queued(chat)
    marta, luis = await _agent(db, "Marta"), await _agent(db, "Luis")
    results = await asyncio.gather(
        chat.inbox.claim(conversation_id, marta),
        chat.inbox.claim(conversation_id, luis),
        return_exceptions=True,
    )
    winners = [r for r in results if r is None]
    losers = [r for r in results if isinstance(r, AlreadyTaken)]
    assert (len(winners), len(losers)) == (1, 1)
    owner = (await _conversation_of(db, ANA.phone)).assigned_agent_id
    assert losers[0].by_agent_id == owner
    async with db.transaction() as session:
        claims = (
            await session.scalars(
                select(ConversationEvent.kind).where(
                    ConversationEvent.conversation_id == conversation_id
                )
            )
        ).all()
    assert claims.count("claimed") == 1


async def test_the_agent_answers_on_the_channel_the_customer_uses_now(
    chat: Chat, db: Database
) -> None:
    conversation_id = await _queued(chat)
    marta = await _agent(db, "Marta")
    await chat.inbox.claim(conversation_id, marta)
    # The customer goes on over WhatsApp: same phone, same conversation, the bot silent.
    assert (await chat.whatsapp("sigo por aqui", ANA.phone)).texts == []
    await chat.inbox.reply(conversation_id, marta, "Hola Ana, soy Marta. ¿En qué te ayudo?")
    said = await chat.settled()
    assert said.texts == ["Hola Ana, soy Marta. ¿En qué te ayudo?"]
    assert chat.senders[Channel.WHATSAPP].sent[-1].text == said.texts[0]
    conversation = await _conversation_of(db, ANA.phone)
    assert conversation.id == conversation_id
    assert conversation.first_response_at is not None

    luis = await _agent(db, "Luis")
    with pytest.raises(NotOwner):
        await chat.inbox.reply(conversation_id, luis, "me cuelo")


async def test_a_private_note_is_kept_and_never_sent(chat: Chat, db: Database) -> None:
    conversation_id = await _queued(chat)
    marta = await _agent(db, "Marta")
    await chat.inbox.claim(conversation_id, marta)
    note_id = await chat.inbox.note(conversation_id, marta, "Cliente VIP, tratar con cariño")
    assert (await chat.settled()).texts == []
    async with db.transaction() as session:
        note = await session.get_one(Message, note_id)
    assert (note.private, note.body) == (True, "Cliente VIP, tratar con cariño")


async def test_whatsapp_past_24_hours_takes_no_free_text(chat: Chat, db: Database) -> None:
    await chat.whatsapp("quiero hablar con una persona", ANA.phone)
    conversation = await _conversation_of(db, ANA.phone)
    marta = await _agent(db, "Marta")
    await chat.inbox.claim(conversation.id, marta)
    async with db.transaction() as session:
        stored = await session.get_one(Conversation, conversation.id)
        stored.last_inbound_at = utcnow() - timedelta(hours=25)
    with pytest.raises(OutsideWindow):
        await chat.inbox.reply(conversation.id, marta, "¿Sigues ahí?")
    assert (await chat.settled()).texts == []


async def test_resolving_asks_for_a_score_and_the_answer_is_kept(chat: Chat, db: Database) -> None:
    conversation_id = await _queued(chat)
    marta = await _agent(db, "Marta")
    await chat.inbox.claim(conversation_id, marta)
    await chat.inbox.resolve(conversation_id, by=marta)
    said = await chat.settled()
    assert said.has("¿Qué tal te hemos atendido?", "1) 1", "5) 5")

    assert (await chat.sms("4", ANA.phone)).has("Gracias por tu valoración")
    async with db.transaction() as session:
        resolved = await session.get_one(Conversation, conversation_id)
    assert (resolved.status, resolved.csat_score) == (ConversationStatus.RESOLVED, 4)
    # The next message is the bot's again, in a new conversation.
    assert (await chat.sms("hola", ANA.phone)).has("Hola Ana")
    assert (await _conversation_of(db, ANA.phone)).id != conversation_id


async def test_handed_back_the_bot_answers_again(chat: Chat, db: Database) -> None:
    conversation_id = await _queued(chat)
    marta = await _agent(db, "Marta")
    await chat.inbox.claim(conversation_id, marta)
    await chat.inbox.hand_back(conversation_id, by=marta)
    assert (await chat.settled()).has("Vuelves a hablar con el asistente")
    said = await chat.sms("horario de las tiendas de madrid", ANA.phone)
    assert said.has("Rumbo Serrano", "Rumbo Gran Vía")


async def test_illegal_moves_change_nothing(chat: Chat, db: Database) -> None:
    await chat.sms("hola", ANA.phone)
    conversation = await _conversation_of(db, ANA.phone)
    marta = await _agent(db, "Marta")
    with pytest.raises(IllegalTransition):
        await chat.inbox.claim(conversation.id, marta)  # the bot's: queue it first
    with pytest.raises(NotOwner):
        await chat.inbox.unassign(conversation.id, by=marta)  # not hers to let go
    assert (await _conversation_of(db, ANA.phone)).status is ConversationStatus.BOT


async def test_only_the_owner_or_a_supervisor_moves_a_conversation_on(
    chat: Chat, db: Database
) -> None:
    conversation_id = await _queued(chat)
    marta, luis = await _agent(db, "Marta"), await _agent(db, "Luis")
    await chat.inbox.claim(conversation_id, marta)
    for act in (chat.inbox.resolve, chat.inbox.hand_back, chat.inbox.unassign):
        with pytest.raises(NotOwner):
            await act(conversation_id, by=luis)
    async with db.transaction() as session:
        boss = Agent(email="boss@shop.example", name="Boss", role=AgentRole.SUPERVISOR,
                     password_hash="-")  # fmt: skip
        session.add(boss)
        await session.flush()
        boss_id = boss.id
    await chat.inbox.transfer(conversation_id, by=boss_id, to_agent=luis)
    assert (await _conversation_of(db, ANA.phone)).assigned_agent_id == luis


async def test_the_least_loaded_agent_of_the_team_gets_the_transfer(
    chat: Chat, db: Database
) -> None:
    busy = await _agent(db, "Busy", available=True, teams=["returns"])
    first = await _queued(chat)
    assert (await _conversation_of(db, ANA.phone)).assigned_agent_id == busy
    free = await _agent(db, "Free", available=True, teams=["returns"])
    other_team = await _agent(db, "Other", available=True, teams=["stock"])
    await chat.inbox.transfer(first, by=busy, to_team="returns")
    conversation = await _conversation_of(db, ANA.phone)
    # Busy has nothing now either; ties go to who waited longest for a conversation.
    assert conversation.assigned_agent_id == free
    assert other_team != conversation.assigned_agent_id
    assert conversation.team == "returns"


@pytest.mark.parametrize("channel", ["sms", "whatsapp", "telegram", "webchat"])
async def test_the_bot_says_nothing_while_an_agent_owns_the_conversation(
    chat: Chat, db: Database, channel: str
) -> None:
    send = {
        "sms": lambda text: chat.sms(text, ANA.phone),
        "whatsapp": lambda text: chat.whatsapp(text, ANA.phone),
        "telegram": lambda text: chat.telegram(text, "5001", contact=ANA.phone),
        "webchat": lambda text: chat.webchat(text, "v_ana", shop_customer_id="ana-ext"),
    }[channel]
    if channel == "webchat":
        async with db.transaction() as session:
            ana = await session.scalar(select(Customer).where(Customer.phone == ANA.phone))
            assert ana is not None
            ana.external_id = "ana-ext"
    assert (await send("quiero hablar con una persona")).has("Te paso con una persona")
    conversation = await _conversation_of(db, ANA.phone)
    await chat.inbox.claim(conversation.id, await _agent(db, "Marta"))
    for text in ("hola?", "quiero hablar con una persona", "BAJA", "tienes zapatillas?"):
        assert (await send(text)).texts == [], text


async def test_past_the_window_an_approved_template_goes_with_the_customers_name(
    chat: Chat, db: Database
) -> None:
    async with db.transaction() as session:
        session.add_all(
            CannedResponse(
                shortcut="follow_up",
                language=language,
                title="Follow up",
                body=body,
                whatsapp_content_sid=sid,
            )
            for language, body, sid in (
                (Language.ES, "Hola {{1}}, seguimos con tu consulta.", "HX" + "a" * 32),
                (Language.EN, "Hi {{1}}, we're following up.", "HX" + "b" * 32),
            )
        )
    await chat.whatsapp("quiero hablar con una persona", ANA.phone)
    conversation = await _conversation_of(db, ANA.phone)
    marta = await _agent(db, "Marta")
    await chat.inbox.claim(conversation.id, marta)
    await chat.settled()
    async with db.transaction() as session:
        stored = await session.get_one(Conversation, conversation.id)
        stored.last_inbound_at = utcnow() - timedelta(hours=30)

    await chat.inbox.send_template(conversation.id, marta, "follow_up", {})
    await chat.settled()
    sent = chat.senders[Channel.WHATSAPP].sent[-1]
    assert sent.text == "Hola Ana, seguimos con tu consulta."  # her language, her name
    assert sent.template == Template("HX" + "a" * 32, {"1": "Ana"})
    with pytest.raises(NotFound):
        await chat.inbox.send_template(conversation.id, marta, "no_such_template", {})


async def test_when_the_bot_keeps_failing_on_a_message_a_person_takes_over(
    chat: Chat, db: Database
) -> None:
    class Broken:
        async def respond(self, session: object, turn: object) -> list[object]:
            raise RuntimeError("the bot is broken")

    working = chat.router.answerer.responder
    chat.router.answerer.responder = Broken()  # type: ignore[assignment]
    await chat.sms("donde esta mi pedido", ANA.phone)
    for _ in range(2):
        await chat.router.recover()
        await chat.router.idle()
    chat.router.answerer.responder = working
    said = await chat.settled()
    assert said.has("Te paso con una persona")
    conversation = await _conversation_of(db, ANA.phone)
    assert conversation.status is ConversationStatus.QUEUED
    assert conversation.handoff is not None
    assert conversation.handoff["reason"] == "bot_failed"


async def test_a_visitor_who_proves_to_be_a_customer_with_an_agent_gets_no_bot_answer(
    chat: Chat, db: Database
) -> None:
    conversation_id = await _queued(chat)  # Ana, by SMS, now with Marta
    marta = await _agent(db, "Marta")
    await chat.inbox.claim(conversation_id, marta)
    await chat.webchat("donde esta mi pedido", "v-new")
    await chat.webchat("ES-200001", "v-new")
    code = re.findall(r"\b\d{6}\b", chat.sent_to(Channel.SMS, ANA.phone)[-1])[-1]
    said = await chat.webchat(code, "v-new")
    assert said.has("Ya hemos comprobado que eres tú")
    assert not said.has("ES-200001 del")  # no order shown by the bot: Marta has it
    conversation = await _conversation_of(db, ANA.phone)
    assert (conversation.id, conversation.status) == (conversation_id, ConversationStatus.AGENT)
