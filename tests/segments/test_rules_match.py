"""Each field and operator matches the customers it should, and no others, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, insert, literal, select

from crm.db import Database
from crm.models import Channel, Consent, ConsentPurpose, Customer
from crm.models.base import UTCDateTime
from crm.segments.compile import count_of, customer_ids
from crm.segments.rules import RULE
from tests.segments.world import NOW, build_world


@pytest.fixture
async def world(db: Database) -> Database:
    async with db.transaction() as s:
        await build_world(s)
    return db


async def matching(db: Database, rule: dict[str, Any]) -> set[str]:
    """The external ids the rule matches; checks the count query agrees and none repeats."""
    audience = customer_ids(RULE.validate_python(rule), now=NOW)
    async with db.transaction() as s:
        ids = list(await s.scalars(audience))
        count = await s.scalar(count_of(audience))
        names = await s.scalars(select(Customer.external_id).where(Customer.id.in_(ids)))
        total = await s.scalar(select(func.count()).select_from(Customer))
    assert total == 4
    assert len(ids) == len(set(ids)) == count
    return {name for name in names if name is not None}


def c(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    condition = {"field": field, "op": op, **extra}
    if value is not None:
        condition["value"] = value
    return condition


EVERYONE = {"ana", "bea", "carl", "dani"}

CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("language eq", c("language", "eq", "es"), {"ana", "dani"}),
    ("language ne keeps the unknown", c("language", "ne", "es"), {"bea", "carl"}),
    ("language in", c("language", "in", ["pt", "en"]), {"bea"}),
    ("language exists", c("language", "exists"), {"ana", "bea", "dani"}),
    ("language exists false", c("language", "exists", False), {"carl"}),
    ("country in any case", c("country", "eq", "es"), {"ana", "dani"}),
    ("country ne", c("country", "ne", "ES"), {"bea", "carl"}),
    ("city in", c("city", "in", ["Madrid", "Lisboa"]), {"ana", "bea"}),
    ("tags contains", c("tags", "contains", "vip"), {"ana"}),
    ("tags in: any of", c("tags", "in", ["runner", "VIP"]), {"ana", "bea", "dani"}),
    ("tags exists", c("tags", "exists"), {"ana", "bea", "dani"}),
    ("funnel_stage in", c("funnel_stage", "in", ["customer", "repeat"]), {"ana", "bea"}),
    ("funnel_stage ne", c("funnel_stage", "ne", "lead"), {"ana", "bea", "dani"}),
    ("loyalty_points gte", c("loyalty_points", "gte", 120), {"ana", "dani"}),
    ("loyalty_points lt", c("loyalty_points", "lt", 120), {"bea", "carl"}),
    ("loyalty_points lte", c("loyalty_points", "lte", 40), {"bea", "carl"}),
    ("loyalty_points gt", c("loyalty_points", "gt", 120), {"dani"}),
    ("loyalty_points eq", c("loyalty_points", "eq", 0), {"carl"}),
    ("attribute number gte", c("attributes.shoe_size", "gte", 38), {"ana"}),
    ("attribute number is not a string", c("attributes.shoe_size", "lte", 40), {"ana"}),
    ("attribute string eq", c("attributes.shoe_size", "eq", "40"), {"bea"}),
    (
        "attribute ne keeps the missing",
        c("attributes.shoe_size", "ne", 38),
        {"bea", "carl", "dani"},
    ),
    ("attribute in", c("attributes.tier", "in", ["gold", "silver"]), {"ana", "bea"}),
    ("attribute string order", c("attributes.tier", "gte", "h"), {"bea"}),
    ("attribute boolean", c("attributes.newsletter", "eq", True), {"ana"}),
    ("attribute array contains", c("attributes.interests", "contains", "running"), {"ana"}),
    ("attribute scalar contains nothing", c("attributes.tier", "contains", "gold"), set()),
    ("attribute exists", c("attributes.tier", "exists"), {"ana", "bea"}),
    ("orders.count eq 0 has no orders", c("orders.count", "eq", 0), {"carl"}),
    ("orders.count gte 2", c("orders.count", "gte", 2), {"ana"}),
    ("orders.count lte 1 includes none", c("orders.count", "lte", 1), {"bea", "carl", "dani"}),
    ("orders.count ne 1", c("orders.count", "ne", 1), {"ana", "carl"}),
    (
        "orders.count within 90 days",
        c("orders.count", "gte", 1, within_days=90),
        {"ana", "dani"},
    ),
    ("cancelled orders do not count", c("orders.count", "gte", 1, within_days=30), {"ana"}),
    (
        "orders.count eq 0 within 30 days",
        c("orders.count", "eq", 0, within_days=30),
        {"bea", "carl", "dani"},
    ),
    (
        "orders.total_minor sums per customer",
        c("orders.total_minor", "gte", 8000, currency="EUR"),
        {"ana", "bea"},
    ),
    (
        "orders.total_minor within days",
        c("orders.total_minor", "gte", 8000, currency="EUR", within_days=90),
        {"ana"},
    ),
    (
        "orders.total_minor in another currency",
        c("orders.total_minor", "gt", 0, currency="BRL"),
        {"dani"},
    ),
    (
        "orders.total_minor lte includes no orders",
        c("orders.total_minor", "lte", 8000, currency="EUR"),
        {"ana", "carl", "dani"},
    ),
    ("orders.last_placed_at gte", c("orders.last_placed_at", "gte", "2025-12-02"), {"ana", "dani"}),
    (
        "orders.last_placed_at lte",
        c("orders.last_placed_at", "lte", "2026-01-01T00:00:00+01:00"),
        {"bea"},
    ),
    ("orders.last_placed_at exists", c("orders.last_placed_at", "exists"), {"ana", "bea", "dani"}),
    (
        "orders.last_placed_at exists within days",
        c("orders.last_placed_at", "exists", within_days=30),
        {"ana"},
    ),
    ("orders.category", c("orders.category", "eq", "bags"), {"dani"}),
    ("orders.category ne", c("orders.category", "ne", "shoes"), {"carl", "dani"}),
    ("orders.sku in", c("orders.sku", "in", ["BAG-1", "NOPE"]), {"dani"}),
    ("orders.sku within days", c("orders.sku", "eq", "SHOE-1", within_days=30), {"ana"}),
    ("orders.sales_channel", c("orders.sales_channel", "eq", "store"), {"bea"}),
    (
        "orders.sales_channel in",
        c("orders.sales_channel", "in", ["online", "app"]),
        {"ana", "dani"},
    ),
    ("orders.store by the selling store", c("orders.store", "eq", "LIS-01"), {"bea"}),
    ("orders.store by the pick-up store", c("orders.store", "eq", "MAD-01"), {"dani"}),
    ("consent granted", c("consent.whatsapp", "eq", True), {"ana"}),
    ("consent opted out or never", c("consent.whatsapp", "eq", False), {"bea", "carl", "dani"}),
    ("consent ne", c("consent.whatsapp", "ne", True), {"bea", "carl", "dani"}),
    ("consent decided", c("consent.whatsapp", "exists"), {"ana", "bea"}),
    ("consent per channel", c("consent.sms", "eq", True), {"bea"}),
    ("consent newest by date, not by import", c("consent.telegram", "eq", True), {"dani"}),
    (
        "all",
        {"all": [c("language", "eq", "es"), c("orders.count", "gte", 1, within_days=90)]},
        {"ana", "dani"},
    ),
    (
        "any",
        {"any": [c("city", "eq", "Lisboa"), c("consent.telegram", "eq", True)]},
        {"bea", "dani"},
    ),
    (
        "not of an orders condition includes no orders",
        {"not": c("orders.store", "eq", "LIS-01")},
        {"ana", "carl", "dani"},
    ),
    ("not of a missing value", {"not": c("city", "eq", "Madrid")}, {"bea", "carl", "dani"}),
    (
        "nested",
        {
            "all": [
                {"any": [c("tags", "contains", "vip"), c("loyalty_points", "gte", 400)]},
                {"not": {"all": [c("country", "eq", "ES"), c("orders.category", "eq", "bags")]}},
            ]
        },
        {"ana"},
    ),
    ("not not", {"not": {"not": c("tags", "contains", "runner")}}, {"ana", "bea"}),
    (
        "many matching orders count once",
        {"any": [c("orders.sku", "eq", "SHOE-1"), c("orders.category", "in", ["shoes", "bags"])]},
        {"ana", "bea", "dani"},
    ),
]


@pytest.mark.parametrize(
    ("rule", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
async def test_rule_matches(world: Database, rule: dict[str, Any], expected: set[str]) -> None:
    assert await matching(world, rule) == expected


async def test_a_condition_and_its_not_split_everyone(world: Database) -> None:
    for name, rule, _ in CASES:
        matched, unmatched = await matching(world, rule), await matching(world, {"not": rule})
        assert (name, matched | unmatched, matched & unmatched) == (name, EVERYONE, set())


async def test_an_audience_freezes_with_one_insert_select(world: Database) -> None:
    """What a campaign will do: copy the matching ids into a table in one statement."""
    rule = {
        "any": [
            c("tags", "contains", "vip"),
            c("attributes.interests", "contains", "yoga"),
            c("orders.total_minor", "gt", 0, currency="BRL"),
        ]
    }
    audience = customer_ids(RULE.validate_python(rule), now=NOW).subquery()
    rows = select(
        audience.c.id,
        literal(Channel.SMS.value),
        literal(ConsentPurpose.MARKETING.value),
        literal(False),
        literal("frozen"),
        literal(NOW, UTCDateTime()),
    )
    columns = ["customer_id", "channel", "purpose", "granted", "source", "recorded_at"]
    async with world.transaction() as s:
        await s.execute(insert(Consent).from_select(columns, rows))
        frozen = await s.scalars(
            select(Customer.external_id)
            .join(Consent, Consent.customer_id == Customer.id)
            .where(Consent.source == "frozen")
        )
        assert sorted(name or "" for name in frozen) == ["ana", "dani"]
