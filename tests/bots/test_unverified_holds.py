"""Reserving as a visitor nobody vouched for: one unit, one reservation at a time, two
hours, a share of each shelf; said in the customer's language, with the way out."""

from __future__ import annotations

from datetime import timedelta

from adapters.workers import expire_due_reservations
from crm.db import Database
from crm.models import Channel, ReservationStatus, utcnow
from dialogue.ports import NluEngine
from tests.bots.harness import Chat, Said
from tests.bots.test_reservations import reservations, reserved
from tests.bots.test_stock import ES_PHONE, Unparsed, customer, payloads, world
from tests.bots.test_verification import code_sent_to

VISITOR = "visitor-5d1e"


async def visitor(chat: Chat, text: str, *, payload: str | None = None, who: str = VISITOR) -> Said:
    """What the web-chat visitor `who` (never signed in) sees in answer to one message."""
    before = len(chat.sent_to(Channel.WEBCHAT, who))
    said = await chat.webchat(text, who, payload=payload)
    return Said(chat.sent_to(Channel.WEBCHAT, who)[before:], said.buttons)


async def test_an_unverified_visitor_asking_for_two_is_offered_one_for_two_hours(
    db: Database, nlu: NluEngine
) -> None:
    shop = await world(db)
    chat = Chat(db, nlu)

    said = await visitor(chat, "quiero reservar 2 zapatillas brisa en 42 negras en Fuencarral")

    assert said.has(
        "Sin confirmar quién eres solo puedo reservarte 1 unidad",
        "2 horas",
        "Para reservar 2, inicia sesión en tu cuenta de nuestra web o confirma quién eres",
    )
    assert [b.title for b in said.buttons] == ["Reservar 1", "Confirmar que soy yo"]
    assert await reservations(db) == []

    said = await visitor(chat, "", payload=said.buttons[0].payload)
    assert said.has(
        "¿Te reservo 1 × Zapatilla urbana Brisa, talla 42, negro en Rumbo Fuencarral",
        "Te lo guardamos 2 horas",
        "Como no has confirmado quién eres, la reserva dura 2 horas en vez de 48.",
    )
    said = await visitor(chat, "", payload="reserve_item:confirm=yes")
    assert said.has("¡Reservado!")
    [held] = await reservations(db)
    assert held.quantity == 1
    assert held.held_until - held.created_at == timedelta(hours=2)
    assert await reserved(db, shop, "MAD-FUE", "42", "black") == 1


async def test_a_second_hold_is_refused_until_the_first_one_ends(
    db: Database, nlu: NluEngine
) -> None:
    shop = await world(db)
    chat = Chat(db, nlu)
    sku = shop.sku("42", "black")
    said = await visitor(chat, "hello, I want to reserve the brisa sneakers")
    assert said.has("Which size of the Brisa city sneaker")
    await visitor(chat, "", payload=f"reserve_item:item={sku}@MAD-FUE")
    said = await visitor(chat, "", payload="reserve_item:confirm=yes")
    assert said.has("Reserved!")
    [first] = await reservations(db)

    said = await visitor(chat, "", payload=f"reserve_item:item={sku}@BCN-GRA")

    assert said.has(
        f"You already have reservation {first.pickup_code} in progress.",
        "you can have one reservation at a time: cancel that one first or, to reserve more, "
        "sign in to your account on our website",
    )
    assert [b.title for b in said.buttons] == ["Confirm it's me", f"Cancel {first.pickup_code}"]
    assert len(await reservations(db)) == 1
    assert await reserved(db, shop, "BCN-GRA", "42", "black") == 0

    said = await visitor(chat, "", payload=said.buttons[1].payload)
    assert said.has(f"Shall I cancel reservation {first.pickup_code}")
    said = await visitor(chat, "", payload="cancel_reservation:confirm=yes")
    assert said.has("is cancelled")
    said = await visitor(chat, "", payload=f"reserve_item:item={sku}@BCN-GRA")
    assert said.has("Shall I reserve 1 × Brisa city sneaker, size 42, black at Rumbo Passeig")
    said = await visitor(chat, "", payload="reserve_item:confirm=yes")
    assert said.has("Reserved!")
    assert await reserved(db, shop, "BCN-GRA", "42", "black") == 1


async def test_proving_who_they_are_lifts_the_limits(db: Database) -> None:
    shop = await world(db)
    ana = await customer(db, ES_PHONE)  # the shop knows her phone; she has not signed in
    chat = Chat(db, Unparsed())
    sku = shop.sku("42", "black")
    await visitor(chat, "", payload=f"reserve_item:item={sku}@OPO-CAT")
    said = await visitor(chat, "", payload="reserve_item:quantity=2")
    assert said.has("solo puedo reservarte 1 unidad")

    said = await visitor(chat, "", payload="reserve_item:verify=start")
    assert said.has("Para reservar sin esos límites necesito comprobar que eres tú")
    said = await visitor(chat, ES_PHONE)
    assert said.has("hemos enviado un código de 6 cifras por SMS al teléfono de la cuenta")
    said = await visitor(chat, code_sent_to(chat, ES_PHONE))

    assert said.has(
        "Gracias",
        "¿Te reservo 2 × Zapatilla urbana Brisa, talla 42, negro en Rumbo Santa Catarina",
        "Te lo guardamos 48 horas.",
    )
    assert not said.has("no has confirmado")
    said = await visitor(chat, "", payload="reserve_item:confirm=yes")
    assert said.has("¡Reservado!")
    [held] = await reservations(db)
    assert (held.customer_id, held.quantity) == (ana.id, 2)
    assert held.held_until - held.created_at == timedelta(hours=48)
    assert await reserved(db, shop, "OPO-CAT", "42", "black") == 2


async def test_the_last_units_of_a_shelf_wait_for_someone_who_said_who_they_are(
    db: Database, nlu: NluEngine
) -> None:
    shop = await world(db)
    chat = Chat(db, nlu)
    sku = shop.sku("42", "black")
    said = await visitor(chat, "olá, quero reservar um tênis")
    assert said.has("Qual tamanho de Tênis urbano Brisa")

    said = await visitor(chat, "", payload=f"reserve_item:item={sku}@VLC-COL")  # its last one

    assert said.has(
        "Em Rumbo Colón, as unidades deste artigo que ainda estão livres ficam para clientes "
        "que confirmaram quem são. Para reservar, entre na sua conta no nosso site"
    )
    assert payloads(said) == ["reserve_item:verify=start"]
    assert await reserved(db, shop, "VLC-COL", "42", "black") == 0

    # A visitor the shop signed in for is not limited.
    signed = "visitor-signed"
    await chat.webchat("olá, quero reservar um tênis", signed, shop_customer_id="C-1001")
    said = await chat.webchat("", signed, payload=f"reserve_item:item={sku}@VLC-COL")
    assert said.has("Reservo 1 × Tênis urbano Brisa, tamanho 42, preto em Rumbo Colón")
    assert said.has("Guardamos por 48 horas.")
    said = await chat.webchat("", signed, payload="reserve_item:confirm=yes")
    assert said.has("Reservado!")
    assert await reserved(db, shop, "VLC-COL", "42", "black") == 1


async def test_a_telegram_user_who_shared_no_contact_is_limited_too(db: Database) -> None:
    shop = await world(db)
    chat = Chat(db, Unparsed())
    said = await chat.telegram(
        "", "5550001", payload=f"reserve_item:item={shop.sku('42', 'black')}@BCN-GRA"
    )
    said = await chat.telegram("", "5550001", payload="reserve_item:quantity=3")
    assert said.has(
        "Sin confirmar quién eres solo puedo reservarte 1 unidad",
        "Para reservar 3, confirma quién eres con un código",
    )
    assert not said.has("inicia sesión")  # no shop sign-in on Telegram
    assert await reservations(db) == []


async def test_the_expiry_worker_releases_a_short_hold_on_time(db: Database) -> None:
    shop = await world(db)
    chat = Chat(db, Unparsed())
    three_hours_ago = utcnow() - timedelta(hours=3)
    chat.responder.clock = lambda: three_hours_ago
    sku = shop.sku("42", "black")
    await visitor(chat, "", payload=f"reserve_item:item={sku}@MAD-FUE")
    said = await visitor(chat, "", payload="reserve_item:confirm=yes")
    assert said.has("¡Reservado!")
    signed = "visitor-signed"
    await chat.webchat(
        "", signed, payload=f"reserve_item:item={sku}@MAD-FUE", shop_customer_id="C-1"
    )
    said = await chat.webchat("", signed, payload="reserve_item:confirm=yes")
    assert said.has("¡Reservado!")
    assert await reserved(db, shop, "MAD-FUE", "42", "black") == 2

    await expire_due_reservations(db)

    anonymous, known = await reservations(db)
    assert anonymous.status is ReservationStatus.EXPIRED
    assert known.status is ReservationStatus.HELD
    assert await reserved(db, shop, "MAD-FUE", "42", "black") == 1
