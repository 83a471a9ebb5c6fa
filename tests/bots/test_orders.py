"""Order status, purchase history and receipts, as customers see them.

Through the real router, responder and outbox (tests/bots/harness.py). Buttons are
pressed on Telegram (WhatsApp and SMS get numbered lists). Conversations that press
buttons (or answer a numbered list with its number) never reach the NLU: they run
with `NoNlu`, which fails the test if a message does. Those the customer types run
with the embedded engine (the `nlu` fixture of tests/conftest.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from crm.db import Database
from crm.models import (
    Customer,
    Fulfilment,
    Order,
    OrderStatus,
    ProductVariant,
    SalesChannel,
    Store,
    StoreHours,
)
from dialogue.ports import NluEngine, Understanding
from tests.bots.harness import Chat, Said
from tests.builders import add_customer, add_order, add_product, add_receipt, add_store

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday

ANA = "+34612345678"
JOANA = "+351912345678"
JANE = "+447911123456"
BEA = "+34699000111"


class NoNlu:
    """For conversations of buttons only: a message that reaches the NLU fails the test."""

    async def parse(self, text: str) -> Understanding:
        raise AssertionError(f"this conversation presses buttons only, yet {text!r} was parsed")


@pytest.fixture
def chat(db: Database) -> Chat:
    chat = Chat(db, NoNlu())
    chat.responder.clock = lambda: NOW
    return chat


@pytest.fixture
def talk(db: Database, nlu: NluEngine) -> Chat:
    """A chat for typed messages, with the real NLU engine."""
    chat = Chat(db, nlu)
    chat.responder.clock = lambda: NOW
    return chat


# -- data ------------------------------------------------------------------------------


async def a_shoe(db: Database) -> ProductVariant:
    async with db.transaction() as session:
        product = await add_product(
            session,
            names={"es": "Zapatilla urbana", "pt": "Ténis urbano", "en": "City sneaker"},
        )
        return product.variants[0]


async def a_customer(db: Database, phone: str, name: str = "Ana") -> Customer:
    async with db.transaction() as session:
        return await add_customer(session, name=name, phone=phone)


async def an_order(
    db: Database,
    customer: Customer,
    variant: ProductVariant,
    number: str,
    *,
    status: OrderStatus = OrderStatus.SHIPPED,
    placed_at: datetime = NOW - timedelta(days=3),
    price: int = 5990,
    sales_channel: SalesChannel = SalesChannel.ONLINE,
    store: Store | None = None,
    **fields: object,
) -> Order:
    """An order; `fields` sets the columns the builder leaves alone (carrier, promised_at...)."""
    async with db.transaction() as session:
        order = await add_order(
            session,
            customer,
            [(variant, 1, price)],
            number=number,
            status=status,
            placed_at=placed_at,
            sales_channel=sales_channel,
            store=store,
        )
        for name, value in fields.items():
            setattr(order, name, value)
        return order


async def a_shipped_order(
    db: Database, customer: Customer, variant: ProductVariant, number: str
) -> Order:
    return await an_order(
        db,
        customer,
        variant,
        number,
        carrier="SEUR",
        tracking_number="SEU123456",
        tracking_url="https://track.example/SEU123456",
        promised_at=NOW + timedelta(days=3),
    )


async def a_store(db: Database, name: str = "Rumbo Fuencarral") -> Store:
    async with db.transaction() as session:
        store = await add_store(session, name=name)
        # Open Monday to Saturday, 10:00-21:00 (Madrid time).
        for weekday in range(6):
            session.add(
                StoreHours(store_id=store.id, weekday=weekday, opens=time(10), closes=time(21))
            )
        return store


async def tap(chat: Chat, phone: str, payload: str) -> Said:
    """The customer presses a button on Telegram, their own contact shared (so verified)."""
    return await chat.telegram("", f"7{phone[-8:]}", payload=payload, contact=phone)


def _press(said: Said, title: str) -> str:
    """The payload of the button titled `title`, as the customer would press it."""
    for button in said.buttons:
        if button.title == title:
            return button.payload
    raise AssertionError(f"no button {title!r} in {[b.title for b in said.buttons]}")


# -- order status -----------------------------------------------------------------------

LANGUAGES = {
    # phone, what the order's status, date and tracking read like
    "es": (ANA, ("ES-100235", "enviado, en camino", "Lo lleva SEUR", "5 de marzo")),
    "pt": (JOANA, ("ES-100235", "enviado, a caminho", "Está com a SEUR", "5 de março")),
    "en": (JANE, ("ES-100235", "shipped, on its way", "SEUR is delivering it", "5 March")),
}


@pytest.mark.parametrize("language", LANGUAGES)
async def test_order_status_chosen_from_the_recent_orders(
    db: Database, chat: Chat, language: str
) -> None:
    phone, expected = LANGUAGES[language]
    variant = await a_shoe(db)
    customer = await a_customer(db, phone)
    await an_order(db, customer, variant, "ES-100234", status=OrderStatus.DELIVERED,
                 placed_at=NOW - timedelta(days=20))  # fmt: skip
    await a_shipped_order(db, customer, variant, "ES-100235")

    listed = await tap(chat, phone, "intent:order_status")
    assert [b.title for b in listed.buttons] == ["ES-100235", "ES-100234"]
    assert listed.has("ES-100235", "ES-100234", "59,90 €" if language != "en" else "59.90 €")

    said = await tap(chat, phone, _press(listed, "ES-100235"))
    assert said.has(*expected)
    assert said.has("https://track.example/SEU123456")
    assert not said.has("ES-100234")


async def test_the_list_offered_on_whatsapp_answered_by_number_on_sms(
    db: Database, chat: Chat
) -> None:
    variant = await a_shoe(db)
    customer = await a_customer(db, ANA)
    await an_order(db, customer, variant, "ES-100234", status=OrderStatus.DELIVERED,
                 placed_at=NOW - timedelta(days=20))  # fmt: skip
    await a_shipped_order(db, customer, variant, "ES-100235")

    await chat.whatsapp("", ANA, payload="intent:order_status")
    said = await chat.sms("2", ANA)  # 1) ES-100235  2) ES-100234

    assert said.has("Pedido ES-100234", "entregado", "Se entregó el 12 de febrero")


@pytest.mark.parametrize("language", LANGUAGES)
async def test_order_status_by_number(db: Database, talk: Chat, language: str) -> None:
    phone, expected = LANGUAGES[language]
    variant = await a_shoe(db)
    customer = await a_customer(db, phone)
    await an_order(db, customer, variant, "ES-100234", status=OrderStatus.DELIVERED)
    await a_shipped_order(db, customer, variant, "ES-100235")
    question = {
        "es": "donde esta mi pedido ES-100235?",
        "pt": "onde está a minha encomenda ES-100235?",
        "en": "where is my order ES-100235?",
    }[language]

    said = await talk.whatsapp(question, phone)
    assert said.has(*expected)


async def test_someone_elses_order_reads_as_an_order_that_does_not_exist(
    db: Database, chat: Chat
) -> None:
    variant = await a_shoe(db)
    ana = await a_customer(db, ANA)
    bea = await a_customer(db, BEA, "Bea")
    await a_shipped_order(db, ana, variant, "ES-100234")
    await a_shipped_order(db, bea, variant, "ES-200001")

    # A button's payload is whatever the client sends: forged, it names Bea's order.
    others = await tap(chat, ANA, "order_status:order=ES-200001")
    missing = await tap(chat, ANA, "order_status:order=ES-999999")

    assert others.text.replace("ES-200001", "N") == missing.text.replace("ES-999999", "N")
    assert others.buttons == missing.buttons
    assert others.has("No encuentro el pedido ES-200001")
    assert not others.has("SEUR")
    assert not others.has("Bea")


async def test_someone_elses_order_typed_reads_as_a_missing_one(db: Database, talk: Chat) -> None:
    variant = await a_shoe(db)
    ana = await a_customer(db, ANA)
    bea = await a_customer(db, BEA, "Bea")
    await a_shipped_order(db, ana, variant, "ES-100234")
    await a_shipped_order(db, bea, variant, "ES-200001")

    others = await talk.whatsapp("donde esta mi pedido ES-200001", ANA)
    missing = await talk.whatsapp("donde esta mi pedido ES-999999", ANA)

    assert others.text.replace("ES-200001", "N") == missing.text.replace("ES-999999", "N")
    assert not others.has("SEUR")


async def test_pickup_order_ready_with_the_stores_hours_today(db: Database, chat: Chat) -> None:
    variant = await a_shoe(db)
    customer = await a_customer(db, ANA)
    store = await a_store(db)
    await an_order(db, customer, variant, "ES-100240", status=OrderStatus.READY_FOR_PICKUP,
                 fulfilment=Fulfilment.PICKUP, pickup_store_id=store.id,
                 promised_at=NOW + timedelta(days=1))  # fmt: skip

    said = await tap(chat, ANA, "intent:order_status")  # the only order

    assert said.has("Pedido ES-100240", "Rumbo Fuencarral", "Calle Mayor 1")
    assert said.has("Hoy abre 10:00–21:00")
    assert said.has("¡Ya está listo para recoger!")


async def test_pickup_order_not_ready_yet(db: Database, chat: Chat) -> None:
    variant = await a_shoe(db)
    customer = await a_customer(db, JANE)
    store = await a_store(db)
    await an_order(db, customer, variant, "ES-100241", status=OrderStatus.PREPARING,
                 fulfilment=Fulfilment.PICKUP, pickup_store_id=store.id,
                 promised_at=NOW + timedelta(days=2))  # fmt: skip

    said = await tap(chat, JANE, "order_status:order=ES-100241")

    assert said.has("being prepared", "Rumbo Fuencarral", "not ready to collect yet", "4 March")


async def test_a_late_order_says_so_and_offers_a_person(db: Database, chat: Chat) -> None:
    variant = await a_shoe(db)
    customer = await a_customer(db, ANA)
    await an_order(db, customer, variant, "ES-100250", carrier="Correos Express",
                 tracking_number="CEX998877", promised_at=NOW - timedelta(days=2))  # fmt: skip

    said = await tap(chat, ANA, "order_status:order=ES-100250")
    assert said.has("Tenía que llegar el 28 de febrero y va con retraso")
    assert said.has("Correos Express", "CEX998877")

    person = await tap(chat, ANA, _press(said, "Hablar con persona"))
    assert person.has("Te paso con una persona")


async def test_a_wrong_number_corrected_by_choosing_one_of_mine(db: Database, chat: Chat) -> None:
    variant = await a_shoe(db)
    customer = await a_customer(db, ANA)
    await a_shipped_order(db, customer, variant, "ES-100234")
    await a_shipped_order(db, customer, variant, "ES-100235")

    wrong = await tap(chat, ANA, "order_status:order=ES-100239")
    assert wrong.has("No encuentro el pedido ES-100239")

    said = await tap(chat, ANA, _press(wrong, "ES-100235"))
    assert said.has("Pedido ES-100235", "enviado, en camino")


async def test_a_typed_correction_replaces_the_order_number(db: Database, talk: Chat) -> None:
    variant = await a_shoe(db)
    customer = await a_customer(db, ANA)
    await an_order(db, customer, variant, "ES-100234", status=OrderStatus.DELIVERED)
    await a_shipped_order(db, customer, variant, "ES-100235")

    wrong = await talk.whatsapp("mi pedido ES-100239 donde esta", ANA)
    assert wrong.has("No encuentro el pedido ES-100239")

    said = await talk.whatsapp("perdon, no, el otro: ES-100235", ANA)
    assert said.has("Pedido ES-100235", "enviado, en camino")


async def test_thanks_instead_of_a_choice_ends_the_question(db: Database, talk: Chat) -> None:
    variant = await a_shoe(db)
    customer = await a_customer(db, ANA)
    await a_shipped_order(db, customer, variant, "ES-100234")
    await a_shipped_order(db, customer, variant, "ES-100235")

    assert (await tap(talk, ANA, "intent:order_status")).has("¿Cuál quieres consultar?")
    said = await talk.telegram("vale, gracias!", f"7{ANA[-8:]}")

    assert said.has("¡A ti!")
    assert not said.has("ES-100234")


async def test_no_orders(db: Database, chat: Chat) -> None:
    await a_customer(db, ANA)
    said = await tap(chat, ANA, "intent:order_status")
    assert said.has("No encuentro pedidos en tu cuenta")


# -- purchase history and receipts ------------------------------------------------------


async def _purchases(db: Database, customer: Customer) -> Store:
    """An in-store sale with its till receipt, and an online order, one week apart."""
    variant = await a_shoe(db)
    store = await a_store(db, "Rumbo Sol")
    in_store = await an_order(db, customer, variant, "ES-100301", status=OrderStatus.COMPLETED,
                            sales_channel=SalesChannel.STORE, store=store, price=4500,
                            fulfilment=Fulfilment.IN_STORE,
                            placed_at=datetime(2026, 2, 20, 17, 30, tzinfo=UTC))  # fmt: skip
    await an_order(db, customer, variant, "ES-100302", status=OrderStatus.DELIVERED,
                 placed_at=datetime(2026, 2, 27, 9, 0, tzinfo=UTC))  # fmt: skip
    async with db.transaction() as session:
        await add_receipt(session, in_store, store)
    return store


async def test_purchase_history_lists_shop_and_online_purchases(db: Database, chat: Chat) -> None:
    customer = await a_customer(db, ANA)
    await _purchases(db, customer)

    said = await tap(chat, ANA, "intent:purchase_history")

    assert said.has("Tus últimas compras")
    assert said.has("27 de febrero · Tienda online · 59,90 € (ES-100302)")
    assert said.has("20 de febrero · Rumbo Sol · 45,00 € (ES-100301)")
    assert [b.title for b in said.buttons] == ["Ticket ES-100301"]  # online orders have none


async def test_receipt_copy_from_the_history(db: Database, chat: Chat) -> None:
    customer = await a_customer(db, JANE)
    await _purchases(db, customer)

    listed = await tap(chat, JANE, "intent:purchase_history")
    said = await tap(chat, JANE, _press(listed, "Receipt ES-100301"))

    assert said.has("Copy of receipt T-", "(order ES-100301)", "Rumbo Sol, Calle Mayor 1, Madrid")
    assert said.has("20 February, 18:30", "Till 2")  # the store's time (Madrid)
    assert said.has("1 × City sneaker · 45.00 €", "Total: 45.00 €", "Paid by: card")


async def test_receipt_of_an_online_order_or_of_someone_elses(db: Database, chat: Chat) -> None:
    customer = await a_customer(db, ANA)
    await _purchases(db, customer)
    bea = await a_customer(db, BEA, "Bea")
    variant = await a_shoe(db)
    bea_store = await a_store(db, "Rumbo Sierpes")
    beas = await an_order(db, bea, variant, "ES-200301", status=OrderStatus.COMPLETED,
                        sales_channel=SalesChannel.STORE, store=bea_store)  # fmt: skip
    async with db.transaction() as session:
        await add_receipt(session, beas, bea_store)

    online = await tap(chat, ANA, "purchase_history:receipt=ES-100302")
    assert online.has("El pedido ES-100302 se hizo online y no tiene ticket")

    others = await tap(chat, ANA, "purchase_history:receipt=ES-200301")
    missing = await tap(chat, ANA, "purchase_history:receipt=ES-299999")
    assert others.text.replace("ES-200301", "N") == missing.text.replace("ES-299999", "N")
    assert not others.has("Sierpes")


async def test_send_me_the_receipt(db: Database, talk: Chat) -> None:
    customer = await a_customer(db, ANA)
    await _purchases(db, customer)

    said = await talk.whatsapp("mándame el ticket de mi compra en tienda", ANA)

    assert said.has("Copia del ticket T-", "Rumbo Sol", "Total: 45,00 €", "Pago: tarjeta")
