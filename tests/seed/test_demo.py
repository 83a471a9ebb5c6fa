"""The demo chain: what a person trying omnihub would find, the same every time, seeded once."""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import phonenumbers
import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.db import Database
from crm.models import (
    RECEIVED_STATUSES,
    AgentRole,
    Consent,
    Customer,
    Fulfilment,
    Inventory,
    Language,
    Order,
    OrderStatus,
    Product,
    Reservation,
    ReservationStatus,
    Return,
    ReturnStatus,
    SalesChannel,
    Store,
)
from crm.phones import normalise_phone
from crm.seed import seed_demo
from crm.seed.data import STORES
from crm.services.passwords import PasswordChecks
from crm.services.staff import authenticate_agent
from tests.seed import NOW, another_database, fingerprint, row_counts

PATHS = {
    Fulfilment.DELIVERY: ["pending", "confirmed", "preparing", "shipped", "delivered"],
    Fulfilment.PICKUP: ["pending", "confirmed", "preparing", "ready_for_pickup", "collected"],
    Fulfilment.IN_STORE: ["completed"],
}
CANCELLED_PATH = ["pending", "confirmed", "cancelled"]
MARKET_OF_CURRENCY = {"EUR": {"ES", "PT"}, "BRL": {"BR"}, "MXN": {"MX"}}


async def _orders(db: Database) -> list[Order]:
    async with db.transaction() as session:
        return list(
            await session.scalars(
                select(Order).options(
                    selectinload(Order.items),
                    selectinload(Order.history),
                    selectinload(Order.receipt),
                    selectinload(Order.store),
                    selectinload(Order.pickup_store),
                )
            )
        )


async def test_demo_creates_a_retail_chain_in_four_countries(db: Database) -> None:
    summary = await seed_demo(db, now=NOW)

    assert summary.created
    counts = await row_counts(db)
    assert counts["stores"] == summary.stores
    assert 9 <= summary.stores <= 12
    assert 20 <= counts["products"] == summary.products <= 30
    assert counts["product_variants"] == summary.variants > summary.products
    assert counts["inventory"] == summary.stores * summary.variants
    assert 35 <= counts["customers"] == summary.customers <= 45
    assert counts["orders"] == summary.orders >= 40
    assert counts["order_items"] == summary.order_items
    assert counts["receipts"] == summary.receipts > 0
    assert counts["reservations"] == summary.reservations >= 2
    assert counts["returns"] == summary.returns == 1
    assert counts["agents"] == len(summary.agents) == 4
    assert "stores" in summary.describe()

    async with db.transaction() as session:
        stores = list(await session.scalars(select(Store)))
    assert {s.city for s in stores} >= {
        "Madrid", "Barcelona", "Valencia", "Sevilla", "Lisboa", "Porto",
        "São Paulo", "Rio de Janeiro", "Ciudad de México", "Guadalajara",
    }  # fmt: skip
    by_country = {s.country: (s.timezone, s.currency) for s in stores}
    assert by_country == {
        "ES": ("Europe/Madrid", "EUR"),
        "PT": ("Europe/Lisbon", "EUR"),
        "BR": ("America/Sao_Paulo", "BRL"),
        "MX": ("America/Mexico_City", "MXN"),
    }
    for store in stores:
        assert store.address
        assert store.postal_code
        assert store.latitude
        assert store.longitude
        # Inside the country's rough bounding box: Iberia, Brazil's south-east, Mexico.
        lat, lon = store.latitude, store.longitude
        assert {
            "ES": 36 < lat < 44 and -10 < lon < 4,
            "PT": 36 < lat < 42.5 and -10 < lon < -6,
            "BR": -25 < lat < -20 and -48 < lon < -40,
            "MX": 14 < lat < 33 and -118 < lon < -86,
        }[store.country]


async def test_every_product_is_named_in_three_languages_with_a_price_per_currency(
    db: Database,
) -> None:
    await seed_demo(db, now=NOW)
    async with db.transaction() as session:
        products = list(
            await session.scalars(
                select(Product).options(
                    selectinload(Product.variants), selectinload(Product.prices)
                )
            )
        )
    assert {p.category for p in products} == {"shoes", "clothing", "accessories"}
    skus = [v.sku for p in products for v in p.variants]
    assert len(skus) == len(set(skus))
    for product in products:
        assert set(product.names) == {"es", "pt", "en"}
        assert all(name.strip() for name in product.names.values())
        assert {p.currency: p.amount_minor > 0 for p in product.prices} == {
            "EUR": True, "BRL": True, "MXN": True,
        }  # fmt: skip
        assert product.variants
        for variant in product.variants:
            assert variant.color
            assert variant.barcode is not None
            assert len(variant.barcode) == 13
        if product.category != "accessories":
            assert len({v.size for v in product.variants}) > 1


async def test_opening_hours_are_valid_and_follow_local_custom(db: Database) -> None:
    await seed_demo(db, now=NOW)
    kinds = {s.code: s.kind for s in STORES}
    async with db.transaction() as session:
        stores = list(await session.scalars(select(Store).options(selectinload(Store.hours))))
    open_on_sunday = set()
    for store in stores:
        days: dict[int, list[tuple[time, time]]] = defaultdict(list)
        for row in store.hours:
            assert 0 <= row.weekday <= 6
            assert row.opens < row.closes
            days[row.weekday].append((row.opens, row.closes))
        assert set(range(5)) <= set(days), f"{store.code} must open Monday to Friday"
        for intervals in days.values():
            intervals.sort()
            for (_, closes), (opens, _) in itertools.pairwise(intervals):
                assert closes < opens, f"{store.code} has overlapping hours"
        if 6 in days:
            open_on_sunday.add(store.code)
        if store.country == "ES" and kinds[store.code] == "street":
            # A Spanish street shop: a lunch break Monday to Saturday, closed on Sunday.
            assert 6 not in days
            assert all(len(days[d]) == 2 for d in range(6))
        if kinds[store.code] == "mall":
            assert 6 in days
    assert {s.code for s in stores if kinds[s.code] == "mall"} <= open_on_sunday


async def test_customers_have_valid_phones_emails_and_fitting_languages(db: Database) -> None:
    await seed_demo(db, now=NOW)
    async with db.transaction() as session:
        customers = list(await session.scalars(select(Customer)))
        stores = list(await session.scalars(select(Store)))
    for store in stores:
        assert store.phone is not None
        assert normalise_phone(store.phone) == store.phone
    phones = [c.phone for c in customers]
    assert len(set(phones)) == len(phones)
    for customer in customers:
        assert customer.phone is not None
        assert customer.email is not None
        assert normalise_phone(customer.phone) == customer.phone  # valid, already E.164
        region = phonenumbers.region_code_for_number(phonenumbers.parse(customer.phone))
        assert region == customer.country
        assert re.fullmatch(r"[a-z.']+@example\.(com|org|net)", customer.email)
        assert customer.external_id
        assert customer.name
        assert customer.city
        assert customer.timezone
        country = customer.country
        assert country is not None
        expected = {"ES": "es", "MX": "es", "PT": "pt", "BR": "pt"}.get(country, "en")
        assert customer.language in {expected, "en"}
    languages = Counter(c.language for c in customers)
    assert languages[Language.ES] > 10
    assert languages[Language.PT] > 10
    assert 3 <= languages[Language.EN] <= 8
    locales = {c.attributes["locale"] for c in customers if c.language == "pt"}
    assert {"pt-PT", "pt-BR"} <= locales
    assert {c.funnel_stage for c in customers} == {
        "lead", "prospect", "customer", "repeat", "lapsed",
    }  # fmt: skip
    assert any(c.loyalty_points > 1000 for c in customers)
    assert any(c.tags for c in customers)


async def test_marketing_consent_granted_by_some_and_withdrawn_by_one(db: Database) -> None:
    await seed_demo(db, now=NOW)
    async with db.transaction() as session:
        consents = list(await session.scalars(select(Consent).order_by(Consent.recorded_at)))
    latest = {(c.customer_id, c.channel): c for c in consents}  # the newest row wins
    granted = [c for c in latest.values() if c.granted]
    withdrawn = [c for c in latest.values() if not c.granted]
    assert len(granted) >= 5
    assert all(c.source == "signup_form" for c in granted)
    assert len(withdrawn) == 1
    assert any(c.granted and c.customer_id == withdrawn[0].customer_id for c in consents)


async def test_orders_cover_every_channel_and_have_consistent_histories(db: Database) -> None:
    await seed_demo(db, now=NOW)
    orders = await _orders(db)
    assert {o.sales_channel for o in orders} == set(SalesChannel)
    assert {o.fulfilment for o in orders} == set(Fulfilment)
    assert {o.status for o in orders} >= {
        OrderStatus.PREPARING, OrderStatus.READY_FOR_PICKUP, OrderStatus.SHIPPED,
        OrderStatus.DELIVERED, OrderStatus.COLLECTED, OrderStatus.COMPLETED,
        OrderStatus.CANCELLED,
    }  # fmt: skip
    assert sum(o.status is OrderStatus.CANCELLED for o in orders) >= 1
    for order in orders:
        assert re.fullmatch(r"(ES|PT|BR|MX)-\d{6}", order.number)
        assert order.number[:2] in MARKET_OF_CURRENCY[order.currency]
        assert 1 <= len(order.items) <= 3
        assert order.total_minor == sum(i.quantity * i.unit_price_minor for i in order.items)
        statuses = [change.status for change in order.history]
        path = CANCELLED_PATH if order.status is OrderStatus.CANCELLED else PATHS[order.fulfilment]
        assert statuses == path[: len(statuses)]
        assert statuses[-1] == order.status
        times = [change.changed_at for change in order.history]
        assert times == sorted(times)
        assert times[0] == order.placed_at
        assert times[-1] < NOW
        assert (order.received_at is not None) == (order.status in RECEIVED_STATUSES)
        with_carrier = order.status in {OrderStatus.SHIPPED, OrderStatus.DELIVERED}
        assert (order.tracking_number is not None) == with_carrier
        assert (order.carrier is not None) == with_carrier
        if order.tracking_number is not None:
            assert order.tracking_url
            assert order.tracking_number in order.tracking_url
        if order.fulfilment is Fulfilment.IN_STORE:
            assert order.store is not None
            assert order.pickup_store is None
            assert order.sales_channel is SalesChannel.STORE
            assert order.promised_at is None
        elif order.fulfilment is Fulfilment.PICKUP:
            assert order.pickup_store is not None
            assert order.store is None
        else:
            assert order.store is None
            assert order.pickup_store is None
        shop = order.store or order.pickup_store
        if shop is not None:
            assert shop.currency == order.currency


async def test_some_orders_are_late_whenever_the_demo_is_seeded(db: Database) -> None:
    # Seeded "now" (no fixed moment): the late orders must be late today, not on a
    # date frozen in the data.
    await seed_demo(db)
    now = datetime.now(UTC)
    late = [
        o
        for o in await _orders(db)
        if o.promised_at is not None
        and o.promised_at < now
        and o.status not in RECEIVED_STATUSES
        and o.status is not OrderStatus.CANCELLED
    ]
    assert len(late) >= 3
    assert {o.status for o in late} >= {OrderStatus.SHIPPED, OrderStatus.PREPARING}
    in_transit_on_time = [
        o
        for o in await _orders(db)
        if o.status is OrderStatus.SHIPPED and o.promised_at and o.promised_at > now
    ]
    assert in_transit_on_time


async def test_receipts_exist_for_in_store_sales_only(db: Database) -> None:
    await seed_demo(db, now=NOW)
    orders = await _orders(db)
    for order in orders:
        if order.fulfilment is Fulfilment.IN_STORE:
            receipt = order.receipt
            assert receipt is not None
            assert receipt.store_id == order.store_id
            assert receipt.total_minor == order.total_minor
            assert receipt.currency == order.currency
            assert 0 < receipt.tax_minor < receipt.total_minor // 4
            assert receipt.issued_at == order.placed_at
        else:
            assert order.receipt is None


async def test_held_reservations_are_matched_by_reserved_stock(db: Database) -> None:
    await seed_demo(db, now=NOW)
    async with db.transaction() as session:
        reservations = list(await session.scalars(select(Reservation)))
        inventory = list(await session.scalars(select(Inventory)))
    held = [r for r in reservations if r.status is ReservationStatus.HELD]
    assert len(held) >= 2
    assert len({r.pickup_code for r in reservations}) == len(reservations)
    # The services' code format: six characters that cannot be misread (no 0/O, 1/I/L).
    assert all(re.fullmatch(r"[2-9A-HJKMNP-Z]{6}", r.pickup_code) for r in reservations)
    assert all(r.held_until > NOW for r in held)
    expected: Counter[tuple[int, int]] = Counter()
    for r in held:
        expected[(r.store_id, r.variant_id)] += r.quantity
    assert {(i.store_id, i.variant_id): i.reserved for i in inventory if i.reserved} == expected
    assert all(i.on_hand >= i.reserved for i in inventory)

    # Some shelves are empty, some show their last units, most are comfortable.
    levels = Counter(
        "out" if i.available == 0 else "last" if i.available <= 3 else "ok" for i in inventory
    )
    assert levels["out"] > 0
    assert levels["last"] > 0
    assert levels["ok"] > len(inventory) / 2


async def test_one_requested_return_of_a_delivered_order(db: Database) -> None:
    await seed_demo(db, now=NOW)
    async with db.transaction() as session:
        returns = list(
            await session.scalars(
                select(Return).options(
                    selectinload(Return.items), selectinload(Return.order).selectinload(Order.items)
                )
            )
        )
    [rma] = returns
    assert rma.status is ReturnStatus.REQUESTED
    assert re.fullmatch(r"RMA-[2-9A-HJKMNP-Z]{6}", rma.rma_code)
    assert rma.order.status in RECEIVED_STATUSES
    assert rma.customer_id == rma.order.customer_id
    assert rma.currency == rma.order.currency
    order_items = {item.id for item in rma.order.items}
    assert rma.items
    assert all(item.order_item_id in order_items for item in rma.items)


async def test_demo_agents_can_log_in_one_per_role(db: Database) -> None:
    summary = await seed_demo(db, now=NOW)
    assert {login.role for login in summary.agents} == set(AgentRole)
    checks = PasswordChecks()
    for login in summary.agents:
        assert login.email.endswith("@demo.omnihub.test")
        agent = await authenticate_agent(db, checks, login.email, login.password)
        assert agent.role is login.role


async def test_a_second_seed_writes_nothing_but_still_lists_the_logins(db: Database) -> None:
    first = await seed_demo(db, now=NOW)
    before = await row_counts(db)
    again = await seed_demo(db, now=NOW + timedelta(days=3))
    assert not again.created
    assert again.orders == again.customers == 0
    assert again.agents == first.agents
    assert await row_counts(db) == before


async def test_a_database_with_customers_is_left_alone(db: Database) -> None:
    async with db.transaction() as session:
        session.add(Customer(name="Someone Real", email="someone@example.com"))
    summary = await seed_demo(db, now=NOW)
    assert not summary.created
    assert summary.agents == ()
    counts = await row_counts(db)
    assert counts["customers"] == 1
    assert counts["stores"] == counts["products"] == counts["agents"] == 0


async def test_a_naive_now_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await seed_demo(db, now=datetime(2026, 1, 1))
    assert (await row_counts(db))["stores"] == 0


async def test_two_databases_seeded_at_the_same_moment_hold_the_same_data(
    db: Database,
    backend: str,
    database_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    await seed_demo(db, now=NOW)
    async with another_database(backend, database_url, request, tmp_path) as other:
        await seed_demo(other, now=NOW)
        assert await fingerprint(other) == await fingerprint(db)
