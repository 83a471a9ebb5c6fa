"""Reserving for pick-up with the chatbot, and cancelling a reservation."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm.db import Database
from crm.models import Inventory, Reservation, ReservationStatus, Store
from crm.services.reservations import reserve_item
from dialogue.ports import NluEngine
from tests.bots.harness import Chat
from tests.bots.test_stock import (
    BR_PHONE,
    EN_PHONE,
    ES_PHONE,
    PT_PHONE,
    Unparsed,
    World,
    customer,
    payloads,
    world,
)
from tests.builders import add_customer


async def reserved(db: Database, shop: World, store: str, size: str, colour: str) -> int:
    """Units of the Brisa held at `store`, read fresh from the database."""
    async with db.transaction() as s:
        held = await s.scalar(
            select(Inventory.reserved)
            .join(Store, Store.id == Inventory.store_id)
            .where(Store.code == store, Inventory.variant_id == _variant_id(shop, size, colour))
        )
    return int(held or 0)


def _variant_id(shop: World, size: str, colour: str) -> int:
    return next(v.id for v in shop.brisa.variants if (v.size, v.color) == (size, colour))


async def reservations(db: Database) -> list[Reservation]:
    async with db.transaction() as s:
        return list((await s.scalars(select(Reservation).order_by(Reservation.id))).all())


# --- Reserving -----------------------------------------------------------------------------


async def test_reserve_from_a_stock_answer_with_a_pickup_code(db: Database) -> None:
    shop = await world(db)
    await customer(db, ES_PHONE, usual=shop.stores["MAD-FUE"])
    chat = Chat(db, Unparsed())
    await chat.telegram("", "tg-es", payload="intent:check_stock", contact=ES_PHONE)
    await chat.telegram("brisa", "tg-es")
    await chat.telegram("42 negro", "tg-es")
    said = await chat.telegram(
        "", "tg-es", payload=f"reserve_item:item={shop.sku('42', 'black')}@MAD-FUE"
    )
    assert said.has(
        "¿Te reservo 1 × Zapatilla urbana Brisa, talla 42, negro en Rumbo Fuencarral",
        "69,95 €",
        "48 horas",
    )
    assert [b.title for b in said.buttons] == ["Sí, reservar", "No"]
    assert await reserved(db, shop, "MAD-FUE", "42", "black") == 0  # nothing held yet

    said = await chat.telegram("", "tg-es", payload=said.buttons[0].payload)
    [reservation] = await reservations(db)
    local = reservation.held_until.astimezone(ZoneInfo("Europe/Madrid"))
    assert said.has(
        f"Tu código de recogida es {reservation.pickup_code}",
        "Rumbo Fuencarral",
        f"hasta el {local.day} de ",
        f"a las {local:%H:%M} (hora de la tienda)",
    )
    assert reservation.status is ReservationStatus.HELD
    assert reservation.quantity == 1
    assert await reserved(db, shop, "MAD-FUE", "42", "black") == 1


async def test_reserve_from_scratch_choosing_among_the_stores_that_have_it(db: Database) -> None:
    shop = await world(db)
    await customer(db, PT_PHONE)
    chat = Chat(db, Unparsed())

    said = await chat.whatsapp("", PT_PHONE, payload="intent:reserve_item")
    assert said.has("Qual produto")
    said = await chat.whatsapp("tenis brisa 42", PT_PHONE)
    assert said.has("Qual cor de Tênis urbano Brisa?", "1) branco", "2) preto")
    said = await chat.whatsapp("2", PT_PHONE)  # WhatsApp here: a numbered choice
    assert said.has("Onde quer retirar", "Rumbo Santa Catarina (Porto): 4")
    said = await chat.whatsapp("porto", PT_PHONE)
    assert said.has("Reservo 1 × Tênis urbano Brisa, tamanho 42, preto em Rumbo Santa Catarina")
    said = await chat.whatsapp("1", PT_PHONE)
    assert said.has("Reservado! O seu código de retirada é", "(hora da loja)")
    assert await reserved(db, shop, "OPO-CAT", "42", "black") == 1


async def test_a_store_without_enough_offers_the_stores_that_have_it(db: Database) -> None:
    shop = await world(db)
    await customer(db, EN_PHONE, usual=shop.stores["MAD-FUE"])
    chat = Chat(db, Unparsed())
    await chat.telegram("", "tg-en", payload="intent:reserve_item", contact=EN_PHONE)
    await chat.telegram("brisa", "tg-en")
    await chat.telegram("", "tg-en", payload="reserve_item:size=42")
    said = await chat.telegram("black", "tg-en")
    assert said.has("Where would you like to pick up")
    assert payloads(said)[0] == "reserve_item:store=MAD-FUE"  # the usual store first

    said = await chat.telegram("", "tg-en", payload="reserve_item:store=LIS-CHI")
    assert said.has("Rumbo Chiado has 0 available right now.", "These stores have it")
    assert "reserve_item:store=LIS-CHI" not in payloads(said)
    assert "reserve_item:store=OPO-CAT" in payloads(said)


async def test_sold_out_while_confirming_offers_other_stores(db: Database) -> None:
    shop = await world(db)
    await customer(db, ES_PHONE, usual=shop.stores["VLC-COL"])
    chat = Chat(db, Unparsed())
    sku = shop.sku("42", "black")
    said = await chat.telegram(
        "", "tg-es", payload=f"reserve_item:item={sku}@VLC-COL", contact=ES_PHONE
    )
    assert said.has("¿Te reservo 1 × Zapatilla urbana Brisa, talla 42, negro en Rumbo Colón")

    async with db.transaction() as s:  # someone else takes the last one meanwhile
        other = await add_customer(s, name="Bea")
        await reserve_item(s, other.id, "VLC-COL", sku, 1)

    said = await chat.telegram("", "tg-es", payload="reserve_item:confirm=yes")
    assert said.has("Rumbo Colón tiene 0 disponibles ahora mismo.", "¿Dónde quieres recoger")
    assert "reserve_item:store=VLC-COL" not in payloads(said)
    assert said.has("Rumbo Fuencarral (Madrid): 3", "Rumbo Passeig de Gràcia (Barcelona): 8")
    assert "reserve_item:store=MAD-FUE" in payloads(said)
    assert len(await reservations(db)) == 1  # only Bea's
    assert await reserved(db, shop, "VLC-COL", "42", "black") == 1


async def test_corrections_before_confirming_replace_what_was_said(db: Database) -> None:
    shop = await world(db)
    await customer(db, ES_PHONE, usual=shop.stores["MAD-FUE"])
    chat = Chat(db, Unparsed())
    sku = shop.sku("42", "white")
    said = await chat.telegram("", "tg-es", payload=f"reserve_item:item={sku}", contact=ES_PHONE)
    # Nobody has white 42s: nothing to choose, nothing to confirm.
    assert said.has("Zapatilla urbana Brisa, talla 42, blanco está agotado en todas")
    assert said.buttons == []

    await chat.telegram("", "tg-es", payload=f"reserve_item:item={shop.sku('42', 'black')}@MAD-FUE")
    said = await chat.telegram("no, las blancas en 41", "tg-es")
    assert said.has("¿Te reservo 1 × Zapatilla urbana Brisa, talla 41, blanco en Rumbo Fuencarral")
    said = await chat.telegram("mejor negras, y en 42", "tg-es")
    assert said.has("¿Te reservo 1 × Zapatilla urbana Brisa, talla 42, negro en Rumbo Fuencarral")
    said = await chat.telegram("", "tg-es", payload="reserve_item:confirm=yes")
    assert said.has("¡Reservado!")
    assert await reserved(db, shop, "MAD-FUE", "42", "black") == 1
    assert await reserved(db, shop, "MAD-FUE", "41", "white") == 0


async def test_a_sold_out_item_asks_for_another_size_or_colour(db: Database) -> None:
    shop = await world(db)
    await customer(db, ES_PHONE, usual=shop.stores["MAD-FUE"])
    chat = Chat(db, Unparsed())
    await chat.telegram("", "tg-es", payload="intent:reserve_item", contact=ES_PHONE)
    await chat.telegram("brisa", "tg-es")
    said = await chat.telegram("41 negras", "tg-es")
    assert said.has("talla 41, negro está agotado en todas", "¿Quieres otra talla u otro color?")
    said = await chat.telegram("42", "tg-es")
    assert said.has("¿De qué color")
    said = await chat.telegram("negro", "tg-es")
    assert said.has("¿Dónde quieres recoger")
    assert payloads(said)[0] == "reserve_item:store=MAD-FUE"


async def test_no_at_the_confirmation_reserves_nothing(db: Database) -> None:
    shop = await world(db)
    await customer(db, EN_PHONE, usual=shop.stores["MAD-FUE"])
    chat = Chat(db, Unparsed())
    sku = shop.sku("42", "black")
    await chat.telegram("", "tg-en", payload=f"reserve_item:item={sku}@MAD-FUE", contact=EN_PHONE)
    said = await chat.telegram("", "tg-en", payload="reserve_item:confirm=no")
    assert said.has("OK, I haven't reserved anything.")
    assert await reservations(db) == []

    await chat.telegram("", "tg-en", payload=f"reserve_item:item={sku}@MAD-FUE")
    said = await chat.telegram("", "tg-en", payload="intent:cancel_flow")
    assert said.has("let's leave it")
    said = await chat.telegram("", "tg-en", payload="reserve_item:confirm=yes")  # too late
    assert not said.has("Reserved")
    assert await reservations(db) == []
    assert await reserved(db, shop, "MAD-FUE", "42", "black") == 0


# --- Cancelling ----------------------------------------------------------------------------


async def test_cancelling_a_reservation_gives_the_stock_back(db: Database) -> None:
    shop = await world(db)
    ana = await customer(db, BR_PHONE)
    sku = shop.sku("42", "black")
    async with db.transaction() as s:
        held = await reserve_item(s, ana.id, "SAO-IBI", sku, 2)
    assert await reserved(db, shop, "SAO-IBI", "42", "black") == 2
    chat = Chat(db, Unparsed())

    said = await chat.whatsapp("", BR_PHONE, payload="intent:cancel_reservation")
    assert said.has(
        "Qual reserva quer cancelar?",
        f"{held.pickup_code}: 2 × Tênis urbano Brisa, tamanho 42, preto, Rumbo Ibirapuera",
        f"1) {held.pickup_code}",
    )
    said = await chat.sms("1", BR_PHONE)  # on another channel now: the same conversation
    assert said.has(f"Cancelo a reserva {held.pickup_code}", "1) Sim, cancelar")
    said = await chat.sms("1", BR_PHONE)
    assert said.has(f"Pronto: a reserva {held.pickup_code} está cancelada.")
    assert await reserved(db, shop, "SAO-IBI", "42", "black") == 0
    [reservation] = await reservations(db)
    assert reservation.status is ReservationStatus.CANCELLED


async def test_someone_elses_code_is_answered_as_an_unknown_one(db: Database) -> None:
    shop = await world(db)
    ana = await customer(db, ES_PHONE)
    sku = shop.sku("42", "black")
    async with db.transaction() as s:
        bea = await add_customer(s, name="Bea", phone="+34600999888")
        own = await reserve_item(s, ana.id, "MAD-FUE", sku, 1)
        theirs = await reserve_item(s, bea.id, "MAD-VAG", sku, 1)
    chat = Chat(db, Unparsed())

    await chat.telegram("", "tg-es", payload="intent:cancel_reservation", contact=ES_PHONE)
    someone_elses = await chat.telegram(theirs.pickup_code.lower(), "tg-es")
    unknown = await chat.telegram("ZZZ222", "tg-es")
    assert someone_elses.text.replace(theirs.pickup_code, "ZZZ222") == unknown.text
    assert unknown.has("No encuentro ninguna reserva en curso con el código ZZZ222")
    assert payloads(unknown) == [f"cancel_reservation:code={own.pickup_code}"]

    said = await chat.telegram("", "tg-es", payload=f"cancel_reservation:code={theirs.pickup_code}")
    said = await chat.telegram("", "tg-es", payload="cancel_reservation:confirm=yes")
    assert not said.has("anulada")
    assert {r.pickup_code: r.status for r in await reservations(db)} == {
        own.pickup_code: ReservationStatus.HELD,
        theirs.pickup_code: ReservationStatus.HELD,
    }


async def test_keeping_a_reservation_and_having_none(db: Database) -> None:
    shop = await world(db)
    ana = await customer(db, EN_PHONE)
    async with db.transaction() as s:
        held = await reserve_item(s, ana.id, "MAD-FUE", shop.sku("42", "black"), 1)
    chat = Chat(db, Unparsed())
    await chat.telegram("", "tg-en", payload="intent:cancel_reservation", contact=EN_PHONE)
    await chat.telegram("", "tg-en", payload=f"cancel_reservation:code={held.pickup_code}")
    said = await chat.telegram("", "tg-en", payload="cancel_reservation:confirm=no")
    assert said.has(f"OK, reservation {held.pickup_code} stays.")

    await chat.telegram("", "tg-en", payload="intent:cancel_reservation")
    await chat.telegram("", "tg-en", payload=f"cancel_reservation:code={held.pickup_code}")
    said = await chat.telegram("", "tg-en", payload="cancel_reservation:confirm=yes")
    assert said.has("is cancelled")
    said = await chat.telegram("", "tg-en", payload="intent:cancel_reservation")
    assert said.has("You have no reservations in progress.")


# --- Through the embedded NLU engine -------------------------------------------------------


async def test_reserve_and_correct_in_words(db: Database, nlu: NluEngine) -> None:
    shop = await world(db)
    await customer(db, ES_PHONE, usual=shop.stores["MAD-FUE"])
    chat = Chat(db, nlu)
    said = await chat.telegram(
        "quiero reservar las zapatillas brisa en 42", "tg-es", contact=ES_PHONE
    )
    assert said.has("¿De qué color")
    said = await chat.telegram("negras", "tg-es")
    assert said.has("¿Dónde quieres recoger")
    said = await chat.telegram("en Fuencarral", "tg-es")
    assert said.has("¿Te reservo 1 × Zapatilla urbana Brisa, talla 42, negro en Rumbo Fuencarral")
    said = await chat.telegram("mejor en la tienda de Porto", "tg-es")
    assert said.has("en Rumbo Santa Catarina")
    said = await chat.telegram("sí", "tg-es")
    assert said.has("¡Reservado!")
    assert await reserved(db, shop, "OPO-CAT", "42", "black") == 1


async def test_reserve_in_portuguese_and_say_no(db: Database, nlu: NluEngine) -> None:
    shop = await world(db)
    await customer(db, BR_PHONE)
    chat = Chat(db, nlu)
    said = await chat.whatsapp("quero reservar o tenis brisa 42 preto na Oscar Freire", BR_PHONE)
    assert said.has("Rumbo Oscar Freire tem 0 disponíveis neste momento.", "Onde quer retirar")
    said = await chat.whatsapp("em sao paulo", BR_PHONE)  # the one store there that has it
    assert said.has("Reservo 1 × Tênis urbano Brisa, tamanho 42, preto em Rumbo Ibirapuera")
    said = await chat.whatsapp("não", BR_PHONE)
    assert said.has("não reservei nada")
    assert await reserved(db, shop, "SAO-IBI", "42", "black") == 0


async def test_cancel_a_reservation_by_its_code_in_english(db: Database, nlu: NluEngine) -> None:
    shop = await world(db)
    ana = await customer(db, EN_PHONE)
    async with db.transaction() as s:
        held = await reserve_item(s, ana.id, "MAD-FUE", shop.sku("42", "black"), 1)
        held.pickup_code = "EKQWYZ"  # a code without digits reads like a word
    chat = Chat(db, nlu)
    said = await chat.whatsapp("please cancel my reservation ekqwyz", EN_PHONE)
    assert said.has("Shall I cancel reservation EKQWYZ")
    said = await chat.whatsapp("yes", EN_PHONE)
    assert said.has("is cancelled")
    assert await reserved(db, shop, "MAD-FUE", "42", "black") == 0
