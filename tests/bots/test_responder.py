"""The chatbot's common behaviour, whatever the flow: menu, language, consent, people."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.db import Database
from crm.models import (
    Channel,
    Consent,
    Conversation,
    ConversationStatus,
    Customer,
    Language,
    utcnow,
)
from dialogue.ports import NluEngine
from tests.bots.harness import Chat
from tests.conversations import world

ANA = world.PEOPLE["ana"].phone
JOAO = world.PEOPLE["joao"].phone


@pytest.fixture
async def chat(db: Database, nlu: NluEngine) -> Chat:
    async with db.transaction() as session:
        await world.build(session, utcnow())
    return Chat(db, nlu)


async def _conversation(db: Database, phone: str) -> Conversation:
    async with db.transaction() as session:
        conversation = await session.scalar(
            select(Conversation)
            .join(Customer, Customer.id == Conversation.customer_id)
            .where(Customer.phone == phone)
        )
        assert conversation is not None
        return conversation


async def test_a_greeting_gets_the_menu_by_name_in_the_customers_language(chat: Chat) -> None:
    said = await chat.sms("hola buenas", ANA)
    assert said.has("Hola Ana")
    assert said.has("1) Mi pedido", "6) Hablar con una persona")

    said = await chat.sms("ola, bom dia", JOAO)
    assert said.has("Olá João", "Meu pedido")


async def test_a_numbered_answer_picks_from_the_menu_on_sms(chat: Chat) -> None:
    await chat.sms("hola", ANA)
    said = await chat.sms("5", ANA)  # Tiendas y horarios
    assert said.has("Rumbo Gran Vía")  # Ana's usual store: where she bought last


async def test_store_hours_for_a_city_written_with_a_typo(chat: Chat) -> None:
    said = await chat.sms("horario de las tiendas de madird", ANA)
    assert said.has("Rumbo Gran Vía", "Rumbo Serrano", "Hoy abre")


async def test_an_opt_out_keyword_is_recorded_for_every_channel_and_confirmed(
    chat: Chat, db: Database
) -> None:
    said = await chat.sms("BAJA", ANA)
    assert said.has("no te enviaremos más mensajes promocionales", "ALTA")
    async with db.transaction() as session:
        decisions = (await session.scalars(select(Consent))).all()
    assert {(c.channel, c.granted) for c in decisions} == {(ch, False) for ch in Channel}

    said = await chat.whatsapp("ALTA", ANA)
    assert said.has("Volverás a recibir")


async def test_an_opt_out_in_the_middle_of_a_flow_is_not_lost(chat: Chat, db: Database) -> None:
    await chat.sms("horario de tienda", JOAO)  # João's usual store is known: answered
    await chat.sms("tienes la zapatilla brisa?", ANA)  # asks for the size or colour
    said = await chat.sms("STOP", ANA)
    assert said.has("no te enviaremos")
    async with db.transaction() as session:
        assert await session.scalar(select(Consent.granted).limit(1)) is False


async def test_asking_for_a_person_queues_the_conversation_and_the_bot_goes_quiet(
    chat: Chat, db: Database
) -> None:
    said = await chat.sms("quiero hablar con una persona", ANA)
    assert said.has("Te paso con una persona")
    conversation = await _conversation(db, ANA)
    assert conversation.status is ConversationStatus.QUEUED
    assert conversation.handoff is not None
    assert conversation.handoff["reason"] == "asked"

    assert (await chat.sms("hola??", ANA)).texts == []
    assert (await chat.whatsapp("sigo esperando", ANA)).texts == []


async def test_two_messages_not_understood_in_a_row_bring_a_person(
    chat: Chat, db: Database
) -> None:
    said = await chat.sms("asdf qwerty zxcv", ANA)
    assert said.has("no te he entendido", "Hablar con una persona")
    said = await chat.sms("blorp glarp", ANA)
    assert said.has("Te paso con una persona")
    conversation = await _conversation(db, ANA)
    assert conversation.handoff is not None
    assert conversation.handoff["reason"] == "not_understood"


async def test_understanding_in_between_resets_the_count(chat: Chat, db: Database) -> None:
    await chat.sms("asdf qwerty zxcv", ANA)
    await chat.sms("hola", ANA)
    said = await chat.sms("blorp glarp", ANA)
    assert said.has("no te he entendido")
    assert (await _conversation(db, ANA)).status is ConversationStatus.BOT


async def test_the_customer_switches_language_and_it_stays(chat: Chat, db: Database) -> None:
    said = await chat.sms("in english please", ANA)
    assert said.has("From now on I'll write in English")
    said = await chat.sms("hola, horario de tiendas en madrid", ANA)  # still English
    assert said.has("Open today")
    async with db.transaction() as session:
        ana = await session.scalar(select(Customer).where(Customer.phone == ANA))
    assert ana is not None
    assert ana.language is Language.EN


async def test_the_language_follows_what_the_customer_writes(chat: Chat) -> None:
    assert (await chat.sms("hola", ANA)).has("Hola Ana")
    assert (await chat.sms("hi there, what are your store hours in madrid?", ANA)).has("Open today")


async def test_cancelling_with_nothing_under_way_says_so(chat: Chat) -> None:
    said = await chat.sms("olvidalo", ANA)
    assert said.has("No había nada en marcha", "Mi pedido")


async def test_cancelling_leaves_the_flow_and_the_next_answer_starts_afresh(chat: Chat) -> None:
    emma = world.PEOPLE["emma"].phone
    # Emma only bought online: the bot asks which store.
    assert (await chat.sms("hi, opening hours of a store?", emma)).has("Which store or city")
    assert (await chat.sms("never mind", emma)).has("let's leave it", "My order")
    said = await chat.sms("opening hours in lisbon", emma)
    assert said.has("Chiado")


async def test_cancelar_in_a_flow_leaves_it_and_still_opts_out(chat: Chat, db: Database) -> None:
    emma = world.PEOPLE["emma"].phone
    assert (await chat.sms("opening hours of a store?", emma)).has("Which store or city")
    said = await chat.sms("CANCELAR", emma)
    assert said.has("we'll leave the store information", "won't send you any more promotional")
    async with db.transaction() as session:
        decisions = (await session.scalars(select(Consent.granted))).all()
    assert decisions
    assert not any(decisions)
    # The question is gone: a city now is not taken as its answer.
    assert not (await chat.sms("london", emma)).has("Covent Garden")
