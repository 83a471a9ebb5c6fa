"""A small CRM where each customer is built to match some segment conditions and not others."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Channel, ConsentPurpose, FunnelStage, Language, OrderStatus, SalesChannel
from crm.services.consents import record_consent
from tests.builders import T0, add_customer, add_order, add_product, add_store

NOW = T0
MARKETING = ConsentPurpose.MARKETING


async def build_world(s: AsyncSession) -> None:
    """ana, bea, carl and dani (their external ids), as tests/segments/ describe them.

    ana: es, ES, Madrid, tags vip+runner, customer, 120 points, numeric shoe_size 38,
         two online shoe orders in the last 30 days (EUR 50 + 30), WhatsApp granted.
    bea: pt, PT, Lisboa, tags runner, repeat, 40 points, shoe_size "40" (a string),
         one till sale at LIS-01 200 days ago (EUR 90), WhatsApp granted then refused,
         SMS granted.
    carl: no language, country or city, no tags, lead, 0 points, no orders, no consent.
    dani: es, ES, Barcelona, tag "VIP", prospect, 500 points, a cancelled order 10 days
          ago and a bag picked up at MAD-01 60 days ago (BRL 200); Telegram granted, and
          an older refusal imported after it.
    """
    madrid = await add_store(s, "MAD-01")
    lisbon = await add_store(s, "LIS-01", city="Lisboa", country="PT")
    shoes = await add_product(s, "SHOE")
    bag = await add_product(s, "BAG")
    bag.category = "bags"
    shoe, handbag = shoes.variants[0], bag.variants[0]

    ana = await add_customer(s, name="Ana")
    ana.external_id, ana.language, ana.country, ana.city = "ana", Language.ES, "ES", "Madrid"
    ana.tags, ana.funnel_stage, ana.loyalty_points = ["vip", "runner"], FunnelStage.CUSTOMER, 120
    ana.attributes = {
        "shoe_size": 38,
        "tier": "gold",
        "newsletter": True,
        "interests": ["running", "yoga"],
    }
    await add_order(s, ana, [(shoe, 1, 5000)], placed_at=NOW - timedelta(days=5))
    await add_order(s, ana, [(shoe, 1, 2000), (shoe, 1, 1000)], placed_at=NOW - timedelta(days=20))
    await record_consent(s, ana.id, Channel.WHATSAPP, MARKETING, True, "api", now=NOW)

    bea = await add_customer(s, name="Bea")
    bea.external_id, bea.language, bea.country, bea.city = "bea", Language.PT, "PT", "Lisboa"
    bea.tags, bea.funnel_stage, bea.loyalty_points = ["runner"], FunnelStage.REPEAT, 40
    bea.attributes = {"shoe_size": "40", "tier": "silver"}
    await add_order(
        s,
        bea,
        [(shoe, 1, 9000)],
        sales_channel=SalesChannel.STORE,
        status=OrderStatus.COMPLETED,
        store=lisbon,
        placed_at=NOW - timedelta(days=200),
    )
    await record_consent(
        s, bea.id, Channel.WHATSAPP, MARKETING, True, "api", now=NOW - timedelta(days=9)
    )
    await record_consent(s, bea.id, Channel.WHATSAPP, MARKETING, False, "keyword:SAIR", now=NOW)
    await record_consent(s, bea.id, Channel.SMS, MARKETING, True, "api", now=NOW)

    carl = await add_customer(s, name="Carl")
    carl.external_id = "carl"

    dani = await add_customer(s, name="Dani")
    dani.external_id, dani.language, dani.country, dani.city = (
        "dani",
        Language.ES,
        "ES",
        "Barcelona",
    )
    dani.tags, dani.funnel_stage, dani.loyalty_points = ["VIP"], FunnelStage.PROSPECT, 500
    await add_order(
        s,
        dani,
        [(shoe, 1, 4000)],
        status=OrderStatus.CANCELLED,
        placed_at=NOW - timedelta(days=10),
    )
    pickup = await add_order(
        s, dani, [(handbag, 1, 20000)], currency="BRL", placed_at=NOW - timedelta(days=60)
    )
    pickup.pickup_store_id = madrid.id
    await record_consent(
        s, dani.id, Channel.TELEGRAM, MARKETING, True, "api", now=NOW - timedelta(days=2)
    )
    await record_consent(
        s, dani.id, Channel.TELEGRAM, MARKETING, False, "import", now=NOW - timedelta(days=5)
    )
    await s.flush()
