"""Checking stock with the chatbot: the item, the customer's store or city, and where else."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import Database
from crm.models import Customer, Product, SalesChannel, Store
from dialogue.ports import NluEngine, Understanding
from tests.bots.harness import Chat
from tests.builders import add_customer, add_inventory, add_order, add_product, add_store

ES_PHONE, PT_PHONE = "+34600100200", "+351912345678"
EN_PHONE, BR_PHONE = "+447911123456", "+5511987654321"


class Unparsed:
    """An NLU engine that understands no text: every flow must get by on its buttons and
    on bare answers to its own questions. Tests of what customers write take the
    session's embedded engine, `nlu`."""

    async def parse(self, text: str) -> Understanding:
        return Understanding("out_of_scope", 0.0)


async def store(
    s: AsyncSession,
    code: str,
    name: str,
    city: str,
    at: tuple[float, float],
    *,
    country: str = "ES",
    currency: str = "EUR",
    timezone: str = "Europe/Madrid",
) -> Store:
    shop = await add_store(s, code, name=name, city=city, country=country, currency=currency)
    shop.latitude, shop.longitude, shop.timezone = *at, timezone
    shop.address = f"Calle de {name.split()[-1]} 1"
    return shop


@dataclass(frozen=True)
class World:
    brisa: Product
    sierra: Product
    stores: dict[str, Store]

    def sku(self, size: str, colour: str) -> str:
        return next(v.sku for v in self.brisa.variants if (v.size, v.color) == (size, colour))


async def world(db: Database) -> World:
    """Four stores in Spain, two in Portugal, two in Brazil; the Brisa sneaker in 41 and
    42, white and black; the Sierra trail shoe."""
    async with db.transaction() as s:
        stores = {
            "MAD-FUE": await store(s, "MAD-FUE", "Rumbo Fuencarral", "Madrid", (40.42, -3.70)),
            "MAD-VAG": await store(s, "MAD-VAG", "Rumbo La Vaguada", "Madrid", (40.48, -3.71)),
            "VLC-COL": await store(s, "VLC-COL", "Rumbo Colón", "Valencia", (39.47, -0.37)),
            "BCN-GRA": await store(
                s, "BCN-GRA", "Rumbo Passeig de Gràcia", "Barcelona", (41.39, 2.16)
            ),
            "LIS-CHI": await store(
                s, "LIS-CHI", "Rumbo Chiado", "Lisboa", (38.71, -9.14), country="PT",
                timezone="Europe/Lisbon",
            ),
            "OPO-CAT": await store(
                s, "OPO-CAT", "Rumbo Santa Catarina", "Porto", (41.15, -8.61), country="PT",
                timezone="Europe/Lisbon",
            ),
            "SAO-OSC": await store(
                s, "SAO-OSC", "Rumbo Oscar Freire", "São Paulo", (-23.56, -46.67),
                country="BR", currency="BRL", timezone="America/Sao_Paulo",
            ),
            "SAO-IBI": await store(
                s, "SAO-IBI", "Rumbo Ibirapuera", "São Paulo", (-23.61, -46.66),
                country="BR", currency="BRL", timezone="America/Sao_Paulo",
            ),
        }  # fmt: skip
        brisa = await add_product(
            s,
            "SHO-101",
            names={"es": "Zapatilla urbana Brisa", "pt": "Tênis urbano Brisa",
                   "en": "Brisa city sneaker"},
            variants=[("41", "white"), ("41", "black"), ("42", "white"), ("42", "black")],
            prices={"EUR": 6995, "BRL": 39990},
        )  # fmt: skip
        sierra = await add_product(
            s,
            "SHO-102",
            names={"es": "Zapatilla de trail Sierra", "pt": "Tênis de trilha Sierra",
                   "en": "Sierra trail running shoe"},
            variants=[("42", "grey")],
            prices={"EUR": 8995, "BRL": 54990},
        )  # fmt: skip
        await add_product(
            s,
            "SHO-107",
            names={"es": "Zapatilla de lona Tramo", "pt": "Tênis de lona Tramo",
                   "en": "Tramo canvas sneaker"},
            variants=[("40", "red")],
        )  # fmt: skip
        black_42 = next(v for v in brisa.variants if (v.size, v.color) == ("42", "black"))
        for code, units in {
            "MAD-FUE": 3, "MAD-VAG": 2, "VLC-COL": 1, "BCN-GRA": 8,
            "LIS-CHI": 0, "OPO-CAT": 4, "SAO-OSC": 0, "SAO-IBI": 6,
        }.items():  # fmt: skip
            await add_inventory(s, stores[code], black_42, units)
        white_41 = next(v for v in brisa.variants if (v.size, v.color) == ("41", "white"))
        await add_inventory(s, stores["MAD-FUE"], white_41, 2)
        await add_inventory(s, stores["BCN-GRA"], white_41, 0)
    return World(brisa, sierra, stores)


async def customer(db: Database, phone: str, *, usual: Store | None = None) -> Customer:
    """A known customer; with a purchase in `usual`, that store is their usual one."""
    async with db.transaction() as s:
        person = await add_customer(s, name="Ana", phone=phone)
        if usual is not None:
            socks = {"es": "Calcetines", "pt": "Meias", "en": "Socks"}
            product = await add_product(s, names=socks, variants=[("40", "red")])
            await add_order(
                s, person, [(product.variants[0], 1, 5990)],
                sales_channel=SalesChannel.STORE, store=usual,
            )  # fmt: skip
    return person


def payloads(said: object) -> list[str]:
    return [b.payload for b in getattr(said, "buttons", [])]


# --- Through buttons and bare answers ------------------------------------------------------


async def test_stock_in_the_usual_store_then_the_same_city_then_the_nearest(db: Database) -> None:
    shop = await world(db)
    await customer(db, ES_PHONE, usual=shop.stores["MAD-FUE"])
    chat = Chat(db, Unparsed())

    said = await chat.telegram("", "tg-es", payload="intent:check_stock", contact=ES_PHONE)
    assert said.has("¿Qué producto buscas?")

    said = await chat.telegram("zapatila brisa", "tg-es")  # a typo
    assert said.has("¿Qué talla de Zapatilla urbana Brisa?", "41, 42")
    assert [b.title for b in said.buttons] == ["41", "42"]

    said = await chat.telegram("", "tg-es", payload="check_stock:size=42")
    assert said.has("¿De qué color")
    assert [b.title for b in said.buttons] == ["blanco", "negro"]

    said = await chat.telegram("", "tg-es", payload=said.buttons[1].payload)
    text = said.text
    assert said.has(
        "Zapatilla urbana Brisa, talla 42, negro",
        "Disponibles en Rumbo Fuencarral (Madrid): 3",
        "69,95 €",
    )
    # The same city first, then the nearest stores (Valencia, Porto), whatever they hold:
    # Barcelona has more but is farther, and three alternatives are enough.
    assert (
        text.index("Rumbo La Vaguada (Madrid): 2")
        < text.index("Rumbo Colón (Valencia): 1")
        < text.index("Rumbo Santa Catarina (Porto): 4")
    )
    assert "Barcelona" not in text
    assert [(b.title, b.payload) for b in said.buttons] == [
        ("Reservar", f"reserve_item:item={shop.sku('42', 'black')}@MAD-FUE")
    ]


async def test_stock_in_a_city_the_customer_names_priced_in_its_currency(db: Database) -> None:
    await world(db)
    await customer(db, BR_PHONE)  # no usual store, no city on file
    chat = Chat(db, Unparsed())

    await chat.whatsapp("", BR_PHONE, payload="intent:check_stock")
    said = await chat.whatsapp("tenis brisa preto", BR_PHONE)  # the colour comes along
    assert said.has("Qual tamanho de Tênis urbano Brisa?")
    said = await chat.whatsapp("42", BR_PHONE)
    assert said.has("Em que cidade ou loja")

    said = await chat.whatsapp("sao paulo", BR_PHONE)
    assert said.has(
        "Tênis urbano Brisa, tamanho 42, preto",
        "Disponíveis em São Paulo:",
        "Rumbo Ibirapuera (São Paulo): 6",
        "R$ 399,90",
    )
    assert "Oscar Freire" not in said.text  # none there
    assert said.text.endswith("1) Reservar")  # WhatsApp here: choices come numbered


async def test_a_city_without_stock_points_to_the_nearest_elsewhere(db: Database) -> None:
    await world(db)
    await customer(db, PT_PHONE, usual=None)
    chat = Chat(db, Unparsed())

    await chat.whatsapp("", PT_PHONE, payload="intent:check_stock")
    await chat.whatsapp("brisa", PT_PHONE)
    await chat.whatsapp("", PT_PHONE, payload="check_stock:size=42")
    await chat.whatsapp("preto", PT_PHONE)
    said = await chat.whatsapp("Lisboa", PT_PHONE)
    assert said.has("Neste momento não há nas nossas lojas de Lisboa.", "Onde há:")
    assert said.has("Rumbo Santa Catarina (Porto): 4")


async def test_an_ambiguous_product_is_asked_with_buttons(db: Database) -> None:
    shop = await world(db)
    await customer(db, EN_PHONE, usual=shop.stores["MAD-FUE"])
    chat = Chat(db, Unparsed())

    await chat.telegram("", "tg-1", payload="intent:check_stock", contact=EN_PHONE)
    said = await chat.telegram("sneaker", "tg-1")
    assert said.has("I found several products", "Brisa city sneaker")
    assert "check_stock:product=SHO-101" in payloads(said)
    assert all(len(b.title) <= 20 for b in said.buttons)

    assert "check_stock:product=SHO-107" in payloads(said)
    assert "Sierra" not in said.text

    said = await chat.telegram("", "tg-1", payload="check_stock:product=SHO-107")
    # One size, one colour: nothing to ask.
    assert said.has("Tramo canvas sneaker, size 40, red", "None left at Rumbo Fuencarral")
    assert said.has("sold out in all our stores")
    assert said.buttons == []  # nothing to reserve


async def test_a_size_or_colour_the_product_does_not_come_in(db: Database) -> None:
    shop = await world(db)
    await customer(db, EN_PHONE, usual=shop.stores["MAD-FUE"])
    chat = Chat(db, Unparsed())

    await chat.whatsapp("", EN_PHONE, payload="intent:check_stock")
    await chat.whatsapp("brisa", EN_PHONE)
    said = await chat.whatsapp("47", EN_PHONE)
    assert said.has("Which size of the Brisa city sneaker?")
    said = await chat.whatsapp("42 in red", EN_PHONE)
    assert said.has("doesn't come in red", "Which colour", "white, black")
    said = await chat.whatsapp("black please", EN_PHONE)
    assert said.has("Available at Rumbo Fuencarral (Madrid): 3", "Price: 69.95 €")


async def test_a_stock_check_left_for_something_else_is_resumed(db: Database) -> None:
    shop = await world(db)
    await customer(db, ES_PHONE, usual=shop.stores["MAD-FUE"])
    chat = Chat(db, Unparsed())

    await chat.whatsapp("", ES_PHONE, payload="intent:check_stock")
    await chat.whatsapp("brisa", ES_PHONE)
    said = await chat.whatsapp("", ES_PHONE, payload="intent:store_info")
    assert said.has("Rumbo Fuencarral", "la consulta de stock")  # and offers to go back
    said = await chat.whatsapp("", ES_PHONE, payload="intent:affirm")
    assert said.has("¿Qué talla de Zapatilla urbana Brisa?")


# --- Through the embedded NLU engine -------------------------------------------------------


async def test_typos_and_everything_in_one_message(db: Database, nlu: NluEngine) -> None:
    shop = await world(db)
    await customer(db, BR_PHONE)
    chat = Chat(db, nlu)
    said = await chat.whatsapp("tem o tenis brisa 42 preto em sao paulo?", BR_PHONE)
    assert said.has("Tênis urbano Brisa, tamanho 42, preto", "Rumbo Ibirapuera (São Paulo): 6")
    assert shop.stores["SAO-IBI"].name in said.text


async def test_stock_asked_in_spanish_with_a_typo(db: Database, nlu: NluEngine) -> None:
    shop = await world(db)
    await customer(db, ES_PHONE, usual=shop.stores["MAD-FUE"])
    chat = Chat(db, nlu)
    said = await chat.whatsapp("hay stock de la zapatila brisa?", ES_PHONE)
    assert said.has("¿Qué talla de Zapatilla urbana Brisa?")
    said = await chat.whatsapp("42 negras", ES_PHONE)
    assert said.has("Disponibles en Rumbo Fuencarral (Madrid): 3")


async def test_stock_in_english_in_a_named_store(db: Database, nlu: NluEngine) -> None:
    await world(db)
    await customer(db, EN_PHONE)
    chat = Chat(db, nlu)
    said = await chat.whatsapp(
        "do you have the brisa sneakers in 42 black at La Vaguada?", EN_PHONE
    )
    assert said.has("Available at Rumbo La Vaguada (Madrid): 2", "Also at:", "Rumbo Fuencarral")
