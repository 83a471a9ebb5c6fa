"""One-time codes: a visitor nobody vouches for proves who they are before seeing orders.

The code is read where a customer would read it: in the SMS to the phone on file
(the router sends a Reply with `to` on that channel and address). What the visitor
sees is what reached the visitor's own web chat. Typed messages need the `nlu` fixture.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.db import Database
from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    OrderStatus,
    VerificationMethod,
)
from dialogue.ports import NluEngine
from tests.bots.harness import Chat, Said
from tests.bots.test_orders import (
    ANA,
    BEA,
    NOW,
    NoNlu,
    a_customer,
    a_shipped_order,
    a_shoe,
    an_order,
)

VISITOR = "visitor-7f3a"
STRANGER = "+34600111222"  # nobody's phone


@pytest.fixture
def chat(db: Database) -> Chat:
    chat = Chat(db, NoNlu())
    chat.responder.clock = lambda: NOW
    return chat


@pytest.fixture
def talk(db: Database, nlu: NluEngine) -> Chat:
    chat = Chat(db, nlu)
    chat.responder.clock = lambda: NOW
    return chat


async def visitor(chat: Chat, text: str, who: str = VISITOR, payload: str | None = None) -> Said:
    """What the web-chat visitor `who` sees in answer to one message of theirs."""
    before = len(chat.sent_to(Channel.WEBCHAT, who))
    said = await chat.webchat(text, who, payload=payload)
    return Said(chat.sent_to(Channel.WEBCHAT, who)[before:], said.buttons)


def code_sent_to(chat: Chat, phone: str) -> str:
    texts = chat.sent_to(Channel.SMS, phone)
    assert texts, f"no SMS went to {phone}"
    found = re.search(r"\b(\d{6})\b", texts[-1])
    assert found is not None, texts[-1]
    return found.group(1)


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def _ana_with_orders(db: Database) -> None:
    variant = await a_shoe(db)
    ana = await a_customer(db, ANA)
    await an_order(db, ana, variant, "ES-100234", status=OrderStatus.DELIVERED,
                 placed_at=NOW - timedelta(days=20))  # fmt: skip
    await a_shipped_order(db, ana, variant, "ES-100235")


# -- who is asked, who is not ------------------------------------------------------------


async def test_an_unverified_web_chat_visitor_is_asked_who_they_are(
    db: Database, chat: Chat
) -> None:
    await _ana_with_orders(db)

    said = await chat.webchat("", VISITOR, payload="intent:order_status")

    assert said.has("necesito comprobar que eres tú", "teléfono de tu cuenta", "número de pedido")
    assert not said.has("ES-100234")
    history = await chat.webchat("", VISITOR, payload="intent:purchase_history")
    assert history.has("necesito comprobar que eres tú")


async def test_a_telegram_user_without_a_shared_contact_is_asked_too(
    db: Database, chat: Chat
) -> None:
    await _ana_with_orders(db)

    said = await chat.telegram("", "5550001", payload="intent:order_status")

    assert said.has("necesito comprobar que eres tú")
    assert not said.has("ES-100235")


async def test_a_button_naming_an_order_proves_nothing(db: Database, chat: Chat) -> None:
    await _ana_with_orders(db)

    said = await chat.webchat("", VISITOR, payload="order_status:order=ES-100235")

    assert said.has("necesito comprobar que eres tú")
    assert not said.has("SEUR")
    assert not said.has("en camino")


async def test_a_visitor_the_shop_signed_for_sees_their_orders_at_once(
    db: Database, chat: Chat
) -> None:
    await _ana_with_orders(db)
    async with db.transaction() as session:
        customer = await session.scalar(select(Customer).where(Customer.phone == ANA))
        assert customer is not None
        customer.external_id = "shop-ana"

    said = await chat.webchat(
        "", VISITOR, payload="intent:order_status", shop_customer_id="shop-ana"
    )

    assert said.has("Estos son tus últimos pedidos", "ES-100235", "ES-100234")


# -- the code ------------------------------------------------------------------------------


async def test_the_code_goes_by_sms_to_the_phone_on_file(db: Database, talk: Chat) -> None:
    await _ana_with_orders(db)

    await visitor(talk, "quiero ver mi pedido")
    # A phone typed along with the order number is not where the code goes.
    said = await visitor(talk, f"es el ES-100234, mi movil {STRANGER}")

    assert said.has("Si es tuyo, hemos enviado un código de 6 cifras por SMS")
    assert talk.sent_to(Channel.SMS, STRANGER) == []
    code = code_sent_to(talk, ANA)
    assert code not in said.text


async def test_wrong_code_then_right_code_then_the_orders(db: Database, talk: Chat) -> None:
    await _ana_with_orders(db)

    await visitor(talk, "donde esta mi pedido ES-100235")
    code = code_sent_to(talk, ANA)

    wrong = await visitor(talk, other_than(code))
    assert wrong.has("Ese código no es correcto. Te quedan 4 intentos.")
    assert not wrong.has("SEUR")

    right = await visitor(talk, code)
    assert right.has("Ya hemos comprobado que eres tú")
    assert right.has("Pedido ES-100235", "enviado, en camino", "SEUR")

    # From now on the visitor is Ana: no more codes.
    again = await visitor(talk, "", payload="intent:order_status")
    assert again.has("Estos son tus últimos pedidos", "ES-100234")
    async with talk.db.transaction() as session:
        identity = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.address == VISITOR)
        )
        assert identity is not None
        assert identity.verified
        assert identity.verified_by is VerificationMethod.ONE_TIME_CODE


async def test_an_expired_code_is_refused(db: Database, talk: Chat) -> None:
    await _ana_with_orders(db)

    await visitor(talk, "mi pedido ES-100235")
    code = code_sent_to(talk, ANA)
    talk.responder.clock = lambda: NOW + timedelta(minutes=11)

    said = await visitor(talk, code)

    assert said.has("Ese código ha caducado")
    assert not said.has("SEUR")


async def test_five_wrong_codes_void_the_code(db: Database, talk: Chat) -> None:
    await _ana_with_orders(db)

    await visitor(talk, "mi pedido ES-100235")
    code = code_sent_to(talk, ANA)
    for left in (4, 3, 2, 1):
        said = await visitor(talk, other_than(code))
        assert said.has(f"Te quedan {left} intentos")
    said = await visitor(talk, other_than(code))
    assert said.has("Demasiados intentos fallidos")

    late = await visitor(talk, code)
    assert not late.has("SEUR")


async def test_the_same_words_whether_or_not_the_order_exists(db: Database, talk: Chat) -> None:
    await _ana_with_orders(db)

    real = await visitor(talk, "donde esta mi pedido ES-100235")
    unknown = await visitor(talk, "donde esta mi pedido ES-999999", "visitor-other")
    await visitor(talk, "quiero ver mis pedidos", "visitor-third")
    nobodys_phone = await visitor(talk, f"mi telefono es {STRANGER}", "visitor-third")

    assert real.text == unknown.text == nobodys_phone.text
    assert real.buttons == unknown.buttons == nobodys_phone.buttons
    code_sent_to(talk, ANA)
    assert talk.sent_to(Channel.SMS, STRANGER) == []


async def test_a_correction_while_verifying_shows_the_corrected_order(
    db: Database, talk: Chat
) -> None:
    await _ana_with_orders(db)

    await visitor(talk, "donde esta mi pedido ES-100234")
    await visitor(talk, "no, perdon, el otro: ES-100235")
    code = code_sent_to(talk, ANA)  # the newest code; the first one is void

    said = await visitor(talk, code)

    assert said.has("Pedido ES-100235", "enviado, en camino")


async def test_verifying_joins_the_conversation_the_customer_already_has(
    db: Database, talk: Chat
) -> None:
    await _ana_with_orders(db)
    await talk.sms("hola", ANA)  # Ana's own conversation, still open

    await visitor(talk, "mi pedido ES-100235")
    said = await visitor(talk, code_sent_to(talk, ANA))
    assert said.has("Pedido ES-100235")

    after = await visitor(talk, "", payload="intent:purchase_history")
    assert after.has("Tus últimas compras", "ES-100234")
    async with talk.db.transaction() as session:
        open_ = (
            await session.scalars(
                select(Conversation).where(Conversation.status != ConversationStatus.RESOLVED)
            )
        ).all()
        assert len(open_) == 1
        assert open_[0].last_channel is Channel.WEBCHAT


async def test_codes_are_not_sent_without_end(db: Database, talk: Chat) -> None:
    await _ana_with_orders(db)

    said = await visitor(talk, "mi pedido ES-100235")
    resend = next(b.payload for b in said.buttons if b.title == "Enviar otro código")
    for _ in range(2):
        said = await visitor(talk, "", payload=resend)
        assert said.has("hemos enviado un código")
    said = await visitor(talk, "", payload=resend)

    assert said.has("Ya te hemos enviado varios códigos")


async def test_someone_elses_phone_on_sms_is_not_a_way_in(db: Database, chat: Chat) -> None:
    """Bea writes from her own phone: she is verified as Bea, and sees none of Ana's."""
    await _ana_with_orders(db)
    await a_customer(db, BEA, "Bea")

    said = await chat.telegram("", "5550002", payload="order_status:order=ES-100235", contact=BEA)

    assert said.has("No encuentro el pedido ES-100235")


async def test_the_phone_of_the_account_typed_gets_the_code(db: Database, talk: Chat) -> None:
    await _ana_with_orders(db)

    await visitor(talk, "quiero ver mis pedidos")
    said = await visitor(talk, "mi movil es 612 34 56 78")  # Ana's, written the Spanish way
    assert said.has("Si es tuyo, hemos enviado un código")

    right = await visitor(talk, code_sent_to(talk, ANA))
    assert right.has("Ya hemos comprobado que eres tú", "Estos son tus últimos pedidos")


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("where is my order ES-100235?", "If it's yours, we've sent a 6-digit code by SMS"),
        ("onde está a minha encomenda ES-100235?", "Se for seu, enviámos um código de 6 dígitos"),
    ],
)
async def test_the_visitor_is_answered_in_their_language(
    db: Database, talk: Chat, question: str, answer: str
) -> None:
    await _ana_with_orders(db)

    said = await visitor(talk, question)

    assert said.has(answer)


async def test_new_chats_buy_no_more_codes_for_the_same_customer(db: Database, talk: Chat) -> None:
    await _ana_with_orders(db)
    answers = []
    for n in range(5):
        answers.append(await visitor(talk, "donde esta mi pedido ES-100235", f"visitor-{n}"))
    # Three codes reached Ana's phone, then once the word that codes are paused (and that
    # writing from her phone needs none); the later chats heard the same words as ever.
    texts = talk.sent_to(Channel.SMS, ANA)
    assert len(texts) == 4
    assert all(re.search(r"\b\d{6}\b", text) for text in texts[:3])
    assert "no enviaremos más hasta hoy a las 11:00" in texts[3]
    assert "escríbenos desde este teléfono" in texts[3]
    assert not re.search(r"\b\d{6}\b", texts[3])
    assert all(a.has("Si es tuyo, hemos enviado un código de 6 cifras por SMS") for a in answers)
