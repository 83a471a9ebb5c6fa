"""The small shop every conversation script plays in: stores, products, customers, orders.

Numbers are fixed so scripts can name them. Ana (Madrid), João (Lisbon), Maria (São
Paulo) and Emma (London) each have orders; Bruno's order is the one nobody else may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import (
    Channel,
    Fulfilment,
    OrderStatus,
    SalesChannel,
    Store,
    StoreHours,
)
from tests.builders import (
    add_customer,
    add_identity,
    add_inventory,
    add_order,
    add_product,
    add_receipt,
    add_store,
)


@dataclass(frozen=True)
class Person:
    key: str
    name: str
    phone: str
    telegram_id: int


PEOPLE = {
    "ana": Person("ana", "Ana García", "+34612345678", 5001),
    "joao": Person("joao", "João Silva", "+351912345678", 5002),
    "maria": Person("maria", "Maria Souza", "+5511987654321", 5003),
    "emma": Person("emma", "Emma Brown", "+447911123456", 5004),
    "bruno": Person("bruno", "Bruno Díaz", "+34699887766", 5005),
}


def _hours(session: AsyncSession, store: Store, opens: time, closes: time) -> None:
    session.add_all(
        StoreHours(store_id=store.id, weekday=d, opens=opens, closes=closes) for d in range(7)
    )


async def build(session: AsyncSession, now: datetime) -> None:
    madrid = await add_store(session, "MAD-01", name="Rumbo Gran Vía", city="Madrid")
    madrid2 = await add_store(session, "MAD-02", name="Rumbo Serrano", city="Madrid")
    lisboa = await add_store(session, "LIS-01", name="Rumbo Chiado", city="Lisboa", country="PT")
    sao_paulo = await add_store(
        session, "SAO-01", name="Rumbo Paulista", city="São Paulo", country="BR", currency="BRL"
    )
    london = await add_store(
        session, "LON-01", name="Rumbo Covent Garden", city="London", country="GB", currency="GBP"
    )
    for store in (madrid, madrid2, lisboa, sao_paulo, london):
        _hours(session, store, time(0, 0), time(23, 59))
    sao_paulo.timezone = "America/Sao_Paulo"
    london.timezone = "Europe/London"
    lisboa.timezone = "Europe/Lisbon"

    brisa = await add_product(
        session,
        "SHO-101",
        names={
            "es": "Zapatilla urbana Brisa",
            "pt": "Tênis urbano Brisa",
            "en": "Brisa city sneaker",
        },
        variants=[("41", "white"), ("42", "white"), ("42", "black"), ("43", "black")],
        prices={"EUR": 6995, "BRL": 39990, "GBP": 5995},
    )
    shirt = await add_product(
        session,
        "CLO-201",
        names={"es": "Camisa de lino", "pt": "Camisa de linho", "en": "Linen shirt"},
        variants=[("M", "white"), ("L", "white"), ("M", "blue")],
        prices={"EUR": 4995, "BRL": 26990, "GBP": 4495},
    )
    w41, w42, b42, b43 = brisa.variants
    shirt_m, shirt_l, shirt_blue = shirt.variants
    for store, levels in (
        (madrid, (3, 0, 2, 1)),
        (madrid2, (1, 4, 0, 0)),
        (lisboa, (2, 2, 2, 2)),
        (sao_paulo, (5, 5, 5, 5)),
        (london, (1, 1, 1, 1)),
    ):
        for variant, on_hand in zip((w41, w42, b42, b43), levels, strict=True):
            await add_inventory(session, store, variant, on_hand)
        for variant in (shirt_m, shirt_l, shirt_blue):
            await add_inventory(session, store, variant, 3)

    customers = {}
    for person in PEOPLE.values():
        customer = await add_customer(session, name=person.name, phone=person.phone)
        await add_identity(session, customer, Channel.SMS, person.phone, verified=True)
        customers[person.key] = customer

    recent = now - timedelta(days=3)
    await add_order(
        session, customers["ana"], [(w42, 1, 6995)], number="ES-200001",
        status=OrderStatus.SHIPPED, placed_at=recent,
    )  # fmt: skip
    ticket = await add_order(
        session, customers["ana"], [(shirt_m, 2, 4995)], number="ES-200002",
        sales_channel=SalesChannel.STORE, status=OrderStatus.COMPLETED, store=madrid,
        placed_at=now - timedelta(days=6),
    )  # fmt: skip
    await add_receipt(session, ticket, madrid)
    pickup = await add_order(
        session, customers["joao"], [(b42, 1, 6995)], number="PT-200003",
        status=OrderStatus.READY_FOR_PICKUP, placed_at=recent,
    )  # fmt: skip
    pickup.fulfilment = Fulfilment.PICKUP
    pickup.pickup_store_id = lisboa.id
    await add_order(
        session, customers["maria"], [(shirt_blue, 1, 26990)], number="BR-200004",
        status=OrderStatus.DELIVERED, currency="BRL", placed_at=now - timedelta(days=8),
    )  # fmt: skip
    await add_order(
        session, customers["emma"], [(w41, 1, 5995)], number="GB-200005",
        status=OrderStatus.DELIVERED, currency="GBP", placed_at=now - timedelta(days=5),
    )  # fmt: skip
    await add_order(
        session, customers["bruno"], [(b43, 1, 6995)], number="ES-200006",
        status=OrderStatus.SHIPPED, placed_at=recent,
    )  # fmt: skip
    await session.flush()
