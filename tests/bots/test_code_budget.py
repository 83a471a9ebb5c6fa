"""Wrong codes are counted per asking chat and per customer: a stranger who knows an order
number cannot lock its owner out, and a guesser is stopped in their own chat."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from crm.db import Database
from crm.models import Channel
from dialogue.ports import NluEngine
from tests.bots.harness import Chat
from tests.bots.test_orders import ANA, NOW
from tests.bots.test_verification import _ana_with_orders, code_sent_to, other_than, visitor

CODE = re.compile(r"\b\d{6}\b")


@pytest.fixture
def talk(db: Database, nlu: NluEngine) -> Chat:
    chat = Chat(db, nlu)
    chat.responder.clock = lambda: NOW
    return chat


async def _guess_wrong(talk: Chat, who: str, times: int = 5) -> None:
    """A throwaway chat has a code sent to Ana's phone and types wrong ones."""
    said = await visitor(talk, "mi pedido ES-100235", who)
    assert said.has("Si es tuyo, hemos enviado un código")
    code = code_sent_to(talk, ANA)
    for _ in range(times):
        await visitor(talk, other_than(code), who)


async def test_ten_wrong_codes_from_throwaway_chats_do_not_lock_the_owner_out(
    db: Database, talk: Chat
) -> None:
    await _ana_with_orders(db)
    for n in range(2):
        await _guess_wrong(talk, f"guesser-{n}")

    talk.responder.clock = lambda: NOW + timedelta(hours=1)  # past the hour's 3 codes
    await visitor(talk, "mi pedido ES-100235", "ana-herself")
    said = await visitor(talk, code_sent_to(talk, ANA), "ana-herself")

    assert said.has("Ya hemos comprobado que eres tú", "SEUR")


async def test_a_customer_paused_by_strangers_is_told_on_their_phone_and_their_own_channels_work(
    db: Database, talk: Chat
) -> None:
    await _ana_with_orders(db)
    # Ana once proved her Telegram account with a code.
    await talk.telegram("mi pedido ES-100235", "ana-telegram")
    await talk.telegram(code_sent_to(talk, ANA), "ana-telegram")
    # Strangers spend the customer's whole budget of wrong codes, from four chats.
    for n in range(4):
        talk.responder.clock = lambda n=n: NOW + timedelta(hours=1 + n)  # type: ignore[misc]
        await _guess_wrong(talk, f"guesser-{n}")
    sms_before = len(talk.sent_to(Channel.SMS, ANA))

    stranger = await visitor(talk, "mi pedido ES-100235", "guesser-5")
    owner = await visitor(talk, "mi pedido ES-100235", "ana-on-the-web")

    # Both hear the words anyone hears; no code goes, and Ana's phone is told, once.
    assert stranger.text == owner.text
    assert owner.has("Si es tuyo, hemos enviado un código")
    told = talk.sent_to(Channel.SMS, ANA)[sms_before:]
    assert len(told) == 1
    assert "no enviaremos más hasta" in told[0]
    assert "escríbenos desde este teléfono" in told[0]
    assert not CODE.search(told[0])
    # Her phone and her verified Telegram need no code.
    by_sms = await talk.sms("donde esta mi pedido ES-100235", ANA)
    assert by_sms.has("Pedido ES-100235", "SEUR")
    by_telegram = await talk.telegram("donde esta mi pedido ES-100235", "ana-telegram")
    assert by_telegram.has("Pedido ES-100235", "SEUR")


async def test_a_guesser_is_stopped_in_their_own_chat_whether_or_not_the_order_exists(
    db: Database, talk: Chat
) -> None:
    await _ana_with_orders(db)
    await _guess_wrong(talk, "guesser")
    talk.responder.clock = lambda: NOW + timedelta(hours=1)
    await _guess_wrong(talk, "guesser")
    for _ in range(2):  # the same, about an order that does not exist
        await visitor(talk, "mi pedido ES-999999", "other-guesser")
        for _ in range(5):
            await visitor(talk, "123456", "other-guesser")
    sms_before = len(talk.sent_to(Channel.SMS, ANA))

    again = await visitor(talk, "mi pedido ES-100235", "guesser")
    other = await visitor(talk, "mi pedido ES-100235", "other-guesser")

    assert again.has("demasiados códigos incorrectos en este chat")
    assert again.text == other.text
    assert len(talk.sent_to(Channel.SMS, ANA)) == sms_before
    # Someone else, in another chat, still gets a code for the same order.
    fresh = await visitor(talk, "mi pedido ES-100235", "someone-else")
    assert fresh.has("Si es tuyo, hemos enviado un código")
    assert len(talk.sent_to(Channel.SMS, ANA)) == sms_before + 1
