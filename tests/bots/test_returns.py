"""Returns through the chatbot: a customer, the real router and responder, the database.

Most scripts press buttons (or answer "2" on SMS), so they need no language
understanding: their NLU engine fails the test if it is ever asked. The scripts that
type free text run with the embedded engine (the `nlu` fixture), once it is there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bots.catalogue import text
from bots.flows.returns import reason_from_text
from crm.db import Database
from crm.models import (
    Language,
    Order,
    OrderStatus,
    Return,
    ReturnItem,
    ReturnMethod,
    ReturnReason,
    ReturnStatus,
    SalesChannel,
    Store,
    StoreHours,
)
from crm.services.returns import ReturnLine, start_return
from dialogue.ports import NluEngine, Understanding
from tests.bots.harness import Chat, Said
from tests.builders import T0, add_customer, add_order, add_product, add_receipt, add_store

ANA = "+34600111222"  # Spanish phone: answered in Spanish
JOAO = "+5511988887777"  # Brazilian
KATE = "+447911123456"  # British
RMA = re.compile(r"RMA-[0-9A-Z]+")


class ButtonsOnly:
    """An NLU engine for scripts that only press buttons: being asked is a test failure."""

    async def parse(self, text: str) -> Understanding:
        raise AssertionError(f"this script presses buttons only, yet {text!r} went to the NLU")


@pytest.fixture
def chat(db: Database) -> Chat:
    chat = Chat(db, ButtonsOnly())
    chat.responder.clock = lambda: T0
    return chat


@pytest.fixture
def text_chat(db: Database, nlu: NluEngine) -> Chat:
    """A chat that understands typed text."""
    chat = Chat(db, nlu)
    chat.responder.clock = lambda: T0
    return chat


# -- data ------------------------------------------------------------------------------------


async def shop(db: Database) -> None:
    """Two stores in Madrid and one in Lisbon, open every day 10:00-21:00."""
    async with db.transaction() as s:
        for code, name, city in (
            ("MAD-SOL", "Madrid Sol", "Madrid"),
            ("MAD-SAL", "Madrid Salamanca", "Madrid"),
            ("LIS-CHI", "Lisboa Chiado", "Lisboa"),
        ):
            store = await add_store(s, code, name=name, city=city)
            for weekday in range(7):
                s.add(
                    StoreHours(
                        store_id=store.id,
                        weekday=weekday,
                        opens=datetime.strptime("10:00", "%H:%M").time(),
                        closes=datetime.strptime("21:00", "%H:%M").time(),
                    )
                )


async def customer_with_orders(
    db: Database,
    phone: str,
    *,
    in_store: bool = False,
    quantities: Sequence[int] = (1,),
    received_days_ago: int = 8,
    status: OrderStatus = OrderStatus.DELIVERED,
    number: str = "ES-200001",
    city: str | None = None,
) -> str:
    """A customer with one order of sneakers (size 42, black), then t-shirts."""
    async with db.transaction() as s:
        customer = await add_customer(s, name="Ana", phone=phone)
        customer.city = city
        sneaker = await add_product(
            s,
            names={"es": "Zapatilla urbana", "pt": "Tênis urbano", "en": "City sneaker"},
            variants=(("42", "black"),),
        )
        tee = await add_product(
            s,
            names={"es": "Camiseta básica", "pt": "Camiseta básica", "en": "Basic tee"},
            variants=(("M", "white"),),
            prices={"EUR": 1990},
        )
        variants = [sneaker.variants[0], tee.variants[0]]
        lines = [(variants[n], q, 5990 if n == 0 else 1990) for n, q in enumerate(quantities)]
        store = None
        if in_store:
            store = (await s.scalars(select(Store).where(Store.code == "MAD-SAL"))).one()
        received = T0 - timedelta(days=received_days_ago)
        order = await add_order(
            s,
            customer,
            lines,
            number=number,
            sales_channel=SalesChannel.STORE if in_store else SalesChannel.ONLINE,
            status=status,
            store=store,
            placed_at=received - timedelta(days=2),
            received_at=received if status != OrderStatus.SHIPPED else None,
        )
        if store is not None:
            await add_receipt(s, order, store)
        return order.number


async def returns_of(db: Database, number: str) -> list[Return]:
    async with db.transaction() as s:
        found = await s.scalars(
            select(Return)
            .join(Order, Order.id == Return.order_id)
            .where(Order.number == number)
            .options(
                selectinload(Return.items).selectinload(ReturnItem.order_item),
                selectinload(Return.store),
            )
            .order_by(Return.id)
        )
        return list(found)


def titles(said: Said) -> list[str]:
    return [b.title for b in said.buttons]


def payload(said: Said, title: str) -> str:
    """The payload of the button the customer would press, found by its title."""
    for button in said.buttons:
        if button.title == title:
            return button.payload
    raise AssertionError(f"no button {title!r} in {titles(said)}")


def t(key: str, language: Language) -> str:
    return text(key, language)


class OnTelegram:
    """A customer on Telegram who shared their phone (so Telegram vouches for it)."""

    def __init__(self, chat: Chat, phone: str):
        self.chat, self.phone, self.user = chat, phone, f"tg{phone}"

    async def tap(self, button_payload: str) -> Said:
        return await self.chat.telegram("", self.user, payload=button_payload, contact=self.phone)

    async def start(self) -> Said:
        return await self.tap("intent:start_return")

    async def press(self, said: Said, title: str) -> Said:
        return await self.chat.telegram(
            title, self.user, payload=payload(said, title), contact=self.phone
        )


# -- the scripts -----------------------------------------------------------------------------


async def test_an_in_store_purchase_returned_in_store_in_spanish(db: Database, chat: Chat) -> None:
    """Started on Telegram, answered by number on SMS: all items, a reason, the store."""
    await shop(db)
    number = await customer_with_orders(db, ANA, in_store=True, quantities=(1, 2))

    said = await OnTelegram(chat, ANA).start()
    assert said.has("¿Qué compra quieres devolver?", number, "en Madrid Salamanca")
    assert said.has("Zapatilla urbana", "Camiseta básica")

    said = await chat.sms("1", ANA)
    assert said.has(f"¿Qué artículos del pedido {number} quieres devolver?")
    assert said.has("1 × Zapatilla urbana (42, negro)", "2 × Camiseta básica (M, blanco)")
    assert said.has("1) Zapatilla… 42 negro", "2) Camiseta b… M blanco", "3) Todos")

    said = await chat.sms("3", ANA)  # all of them
    assert said.has("¿Por qué lo devuelves?", "1) Talla incorrecta", "6) Otro motivo")

    said = await chat.sms("1", ANA)
    assert said.has("en una de nuestras tiendas", "1) En tienda", "2) Recogida mensajero")

    said = await chat.sms("1", ANA)
    # Where it was bought comes first.
    assert said.has("¿A qué tienda lo llevarás?", "1) Madrid Salamanca")

    said = await chat.sms("1", ANA)
    assert said.has(
        "Revisa tu devolución:",
        f"Pedido {number}",
        "1 × Zapatilla urbana (42, negro)",
        "2 × Camiseta básica (M, blanco)",
        "Motivo: Talla incorrecta",
        "En tienda: Madrid Salamanca",
        "Reembolso: 99,70 €",
        "1) Confirmar",
    )
    assert await returns_of(db, number) == []

    said = await chat.sms("1", ANA)
    code = RMA.search(said.text)
    assert code is not None, said.text
    assert said.has("¡Listo!", "Lleva los artículos y este código", "Madrid Salamanca")
    assert said.has("10:00–21:00", "Calle Mayor 1, Madrid")

    [rma] = await returns_of(db, number)
    assert rma.rma_code == code.group(0)
    assert rma.method == ReturnMethod.IN_STORE
    assert rma.store is not None
    assert rma.store.code == "MAD-SAL"
    assert rma.reason == ReturnReason.WRONG_SIZE
    assert rma.status == ReturnStatus.REQUESTED
    assert rma.refund_minor == 5990 + 2 * 1990
    assert sorted((i.order_item.line_no, i.quantity) for i in rma.items) == [(1, 1), (2, 2)]


async def test_an_online_order_returned_by_courier_in_portuguese(db: Database, chat: Chat) -> None:
    await shop(db)
    number = await customer_with_orders(db, JOAO)
    joao = OnTelegram(chat, JOAO)

    said = await joao.start()
    assert said.has("Qual compra você quer devolver?", number, "online", "Tênis urbano")
    assert titles(said) == [number]

    said = await joao.press(said, number)
    assert said.has(f"Quais itens do pedido {number}", "1 × Tênis urbano (42, preto)")
    assert titles(said) == ["Tênis urba… 42 preto"]

    said = await joao.press(said, "Tênis urba… 42 preto")
    assert said.has("Por que está devolvendo?")
    said = await joao.press(said, "Com defeito")
    said = await joao.press(said, "Coleta em casa")
    assert said.has(
        "Confira a sua devolução:",
        "Motivo: Com defeito",
        "Coleta pela transportadora no seu endereço",
        "Reembolso: 59,90 €",
    )
    said = await joao.press(said, "Confirmar")
    code = RMA.search(said.text)
    assert code is not None, said.text
    assert said.has("Pronto!", "Embale os itens", "etiqueta da transportadora", "59,90 €")

    [rma] = await returns_of(db, number)
    assert (rma.rma_code, rma.method, rma.store) == (code.group(0), ReturnMethod.COURIER, None)
    assert rma.reason == ReturnReason.DEFECTIVE


async def test_part_of_a_line_in_english(db: Database, chat: Chat) -> None:
    """Three tees bought, two sent back: the quantity is asked, the refund follows."""
    await shop(db)
    number = await customer_with_orders(db, KATE, quantities=(1, 3))
    kate = OnTelegram(chat, KATE)

    said = await kate.press(await kate.start(), number)
    assert titles(said) == ["City sneak… 42 black", "Basic tee M white", "All of them"]
    said = await kate.press(said, "Basic tee M white")
    assert said.has("How many do you want to return? You have 3 × Basic tee (M, white).")
    assert titles(said) == ["1", "2", "3"]
    said = await kate.press(said, "2")
    said = await kate.press(said, "Changed my mind")
    said = await kate.press(said, "Courier pick-up")
    assert said.has("2 × Basic tee (M, white)", "Refund: 39.80 €")
    said = await kate.press(said, "Confirm")
    assert said.has("Done! Your return code is RMA-")

    [rma] = await returns_of(db, number)
    assert [(i.order_item.line_no, i.quantity) for i in rma.items] == [(2, 2)]
    assert rma.refund_minor == 2 * 1990

    # The third tee is still returnable, the other two are not offered again.
    said = await kate.press(await kate.start(), number)
    assert said.has("• 1 × City sneaker (42, black)", "• 1 × Basic tee (M, white)")


async def test_outside_the_window_is_explained_and_a_person_offered(
    db: Database, chat: Chat
) -> None:
    """The order was offered while returnable; the customer comes back too late."""
    await shop(db)
    number = await customer_with_orders(db, ANA, received_days_ago=29)
    ana = OnTelegram(chat, ANA)

    offered = await ana.start()
    assert titles(offered) == [number]

    chat.responder.clock = lambda: T0 + timedelta(days=3)
    said = await ana.press(offered, number)
    deadline = T0 - timedelta(days=29) + timedelta(days=30)
    assert said.has(
        f"El pedido {number} ya no se puede devolver",
        "los 30 días para devolverlo terminaron el",
        f"{deadline:%d/%m/%Y}",
        "una persona de nuestro equipo",
    )
    assert titles(said) == [t("menu.human_handoff", Language.ES)]
    assert await returns_of(db, number) == []

    # And it is no longer among the purchases offered.
    said = await ana.start()
    assert said.has("No veo ninguna compra tuya que se pueda devolver ahora")


async def test_an_order_not_yet_received_cannot_be_returned(db: Database, chat: Chat) -> None:
    await shop(db)
    number = await customer_with_orders(db, KATE, status=OrderStatus.SHIPPED)
    said = await OnTelegram(chat, KATE).tap(f"start_return:order={number}")
    assert said.has(f"Order {number} hasn't reached you yet", "a person on our team can help")
    assert titles(said) == ["Talk to a person"]


async def test_items_already_returned(db: Database, chat: Chat) -> None:
    """Returned at a till while the customer was at the summary: asked to choose again."""
    await shop(db)
    number = await customer_with_orders(db, KATE, quantities=(1, 1))
    kate = OnTelegram(chat, KATE)

    said = await kate.press(await kate.start(), number)
    said = await kate.press(said, "City sneak… 42 black")
    said = await kate.press(said, "Wrong size")
    summary = await kate.press(said, "Courier pick-up")
    assert summary.has("1 × City sneaker (42, black)")

    async with db.transaction() as s:
        order = (await s.scalars(select(Order).where(Order.number == number))).one()
        till = await start_return(
            s,
            order.customer_id,
            number,
            [ReturnLine(1, 1)],
            ReturnReason.WRONG_SIZE,
            ReturnMethod.IN_STORE,
            store_code="MAD-SOL",
            now=T0,
        )
        till_code = till.rma_code

    said = await kate.press(summary, "Confirm")
    assert said.has("Some of those items are already being returned", "choose again")
    assert said.has("1 × Basic tee (M, white)")
    assert not said.has("City sneaker")
    assert titles(said) == ["Basic tee M white"]

    # The reason and the method are kept: straight back to the summary.
    said = await kate.press(said, "Basic tee M white")
    assert said.has("1 × Basic tee (M, white)", "Reason: Wrong size", "Courier pick-up")
    said = await kate.press(said, "Confirm")
    assert said.has("Done! Your return code is")
    said = await kate.tap(f"start_return:order={number}")
    assert said.has(f"Everything in order {number} is already being returned", till_code)
    assert len(await returns_of(db, number)) == 2


async def test_someone_elses_order_reads_as_an_unknown_one(db: Database, chat: Chat) -> None:
    """A crafted button with another customer's order number."""
    await shop(db)
    theirs = await customer_with_orders(db, ANA, number="ES-300001")
    await customer_with_orders(db, KATE, number="ES-300002")
    kate = OnTelegram(chat, KATE)

    other = await kate.tap(f"start_return:order={theirs}")
    unknown = await kate.tap("start_return:order=ES-399999")
    assert other.has(f"I can't find an order {theirs} among your purchases")
    assert other.text.replace(theirs, "N") == unknown.text.replace("ES-399999", "N")
    assert titles(other) == titles(unknown) == ["ES-300002"]  # only her own
    assert await returns_of(db, theirs) == []


async def test_the_reason_corrected_before_confirming(db: Database, chat: Chat) -> None:
    await shop(db)
    number = await customer_with_orders(db, ANA)
    ana = OnTelegram(chat, ANA)

    said = await ana.press(await ana.start(), number)
    said = await ana.press(said, "Zapatilla… 42 negro")
    said = await ana.press(said, "Ya no lo quiero")
    said = await ana.press(said, "Recogida mensajero")
    assert said.has("Motivo: Ya no lo quiero")

    said = await ana.press(said, "Cambiar motivo")
    assert said.has("¿Por qué lo devuelves?")
    said = await ana.press(said, "Defectuoso o roto")
    # The other answers are kept: straight back to the summary.
    assert said.has("Revisa tu devolución:", "Motivo: Defectuoso o roto", "Recogida por mensajero")
    said = await ana.press(said, "Confirmar")
    assert said.has("¡Listo!")

    [rma] = await returns_of(db, number)
    assert rma.reason == ReturnReason.DEFECTIVE


async def test_no_at_the_confirmation_cancels(db: Database, chat: Chat) -> None:
    await shop(db)
    number = await customer_with_orders(db, KATE, city="Madrid")
    kate = OnTelegram(chat, KATE)

    said = await kate.press(await kate.start(), number)
    said = await kate.press(said, "City sneak… 42 black")
    said = await kate.press(said, "Wrong size")
    said = await kate.press(said, "In a store")
    assert titles(said) == ["Madrid Sol", "Madrid Salamanca"]  # stores in her city
    said = await kate.press(said, "Madrid Sol")
    assert said.has("In store: Madrid Sol")
    said = await kate.press(said, "Cancel")
    assert said.has("OK, I haven't registered any return.")
    assert "Check stock" in titles(said)  # the menu
    assert await returns_of(db, number) == []

    # A stale "Confirm" pressed afterwards registers nothing either.
    said = await kate.tap("start_return:confirm=yes")
    assert said.has("Which purchase do you want to return?")
    assert await returns_of(db, number) == []


async def test_left_for_store_hours_and_resumed_where_it_was(db: Database, chat: Chat) -> None:
    await shop(db)
    number = await customer_with_orders(db, ANA, in_store=True)
    ana = OnTelegram(chat, ANA)

    said = await ana.press(await ana.start(), number)
    said = await ana.press(said, "Zapatilla… 42 negro")
    assert said.has("¿Por qué lo devuelves?")

    said = await ana.tap("intent:store_info")
    assert said.has("Madrid Salamanca", "10:00–21:00", "¿Seguimos con tu devolución?")
    said = await ana.press(said, t("answer.yes", Language.ES))
    assert said.has("¿Por qué lo devuelves?")
    said = await ana.press(said, "Talla incorrecta")
    assert said.has("¿Cómo quieres devolverlo")


async def test_a_chat_that_is_not_verified_sees_no_orders(db: Database, chat: Chat) -> None:
    await shop(db)
    await customer_with_orders(db, ANA)
    said = await chat.webchat("", "visitor-1", payload="intent:start_return")
    assert said.has("no puedo ver tus pedidos", "Una persona de nuestro equipo")
    assert titles(said) == [t("menu.human_handoff", Language.ES)]


async def test_every_button_title_is_short(db: Database, chat: Chat) -> None:
    for language in Language:
        for key in (
            "returns.all",
            "returns.confirm",
            "returns.change_items",
            "returns.change_reason",
            "returns.change_method",
            "returns.cancel",
            "returns.method.in_store",
            "returns.method.courier",
            *(f"returns.reason.{r.value}" for r in ReturnReason),
        ):
            assert len(t(key, language)) <= 20, (key, language)


def test_a_reason_in_the_customers_own_words() -> None:
    assert reason_from_text("me quedan pequeñas") is ReturnReason.WRONG_SIZE
    assert reason_from_text("ficou apertado") is ReturnReason.WRONG_SIZE
    assert reason_from_text("the sole came off, it's broken") is ReturnReason.DEFECTIVE
    assert reason_from_text("veio com defeito") is ReturnReason.DEFECTIVE
    assert reason_from_text("no se parece a la foto") is ReturnReason.NOT_AS_DESCRIBED
    assert reason_from_text("I changed my mind") is ReturnReason.CHANGED_MIND
    assert reason_from_text("llegó tardísimo") is ReturnReason.LATE_DELIVERY
    assert reason_from_text("es un regalo repetido") is ReturnReason.OTHER
    assert reason_from_text("I'd like to return it") is ReturnReason.OTHER  # not "torn"


# -- typed (needs the embedded NLU engine) ---------------------------------------------------


async def test_typed_order_number_reason_and_city(db: Database, text_chat: Chat) -> None:
    await shop(db)
    number = await customer_with_orders(db, ANA)
    chat = text_chat

    said = await chat.whatsapp("hola, quiero devolver unas zapatillas", ANA)
    assert said.has("¿Qué compra quieres devolver?")
    said = await chat.whatsapp(f"el pedido {number.lower()}", ANA)
    assert said.has(f"¿Qué artículos del pedido {number}")
    said = await chat.whatsapp("1", ANA)
    said = await chat.whatsapp("me quedan pequeñas", ANA)
    assert said.has("¿Cómo quieres devolverlo")
    said = await chat.whatsapp("en tienda", ANA)
    said = await chat.whatsapp("salamanca", ANA)
    assert said.has("Motivo: Talla incorrecta (me quedan pequeñas)", "En tienda: Madrid Salamanca")
    said = await chat.whatsapp("no, en realidad llegó rota", ANA)
    assert said.has("Motivo: Defectuoso o roto")
    said = await chat.whatsapp("sí", ANA)
    assert said.has("¡Listo!", "RMA-")
    [rma] = await returns_of(db, number)
    assert rma.reason == ReturnReason.DEFECTIVE


async def test_typed_someone_elses_order_and_typed_no(db: Database, text_chat: Chat) -> None:
    await shop(db)
    theirs = await customer_with_orders(db, ANA, number="ES-300001")
    mine = await customer_with_orders(db, KATE, number="ES-300002")
    chat = text_chat

    said = await chat.whatsapp("I want to return something", KATE)
    assert said.has("Which purchase do you want to return?", mine)
    said = await chat.whatsapp(theirs, KATE)
    assert said.has(f"I can't find an order {theirs} among your purchases")
    said = await chat.whatsapp("1", KATE)
    said = await chat.whatsapp("1", KATE)
    said = await chat.whatsapp("wrong size", KATE)
    said = await chat.whatsapp("courier", KATE)
    assert said.has("Shall I confirm it?")
    said = await chat.whatsapp("no", KATE)
    assert said.has("OK, I haven't registered any return.")
    assert await returns_of(db, mine) == []
    assert await returns_of(db, theirs) == []
