"""How long a segment count takes on PostgreSQL with many customers.

Usage: python benchmarks/segments.py [SERVER_URL] [--customers N] [--database URL]
                                     [--repeat N] [--explain]
Either --database names a database already seeded (`omnihub seed --customers 1000000`),
which is migrated and reused, or a scratch database is created on the server (default
postgresql://postgres@127.0.0.1/test), seeded with the demo chain and N bulk customers
(default 100,000; not timed) and dropped. The bulk seeder records no consents, so the
benchmark adds WhatsApp marketing decisions first (a grant for 60 % of customers, then a
refusal for a sixth of those), as one INSERT ... SELECT each, if there are none.
Each rule is counted once to warm the cache and then --repeat times; the median and the
slowest are printed, with the count and the time of the ten-customer sample.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: benchmarks

from benchmarks.seed_bulk import DEFAULT_SERVER, scratch_database
from crm import migrate
from crm.db import Database
from crm.models import Channel, Consent, ConsentPurpose, Customer, Order
from crm.seed import seed_bulk, seed_demo
from crm.segments.compile import count_of, customer_ids
from crm.segments.rules import RULE
from crm.services.segments import preview_rule

RULES: dict[str, dict[str, Any]] = {
    "ES + tag newsletter + ordered in 90 days": {
        "all": [
            {"field": "country", "op": "eq", "value": "ES"},
            {"field": "tags", "op": "contains", "value": "newsletter"},
            {"field": "orders.count", "op": "gte", "value": 1, "within_days": 90},
        ]
    },
    "es + WhatsApp consent + spent >= 100 EUR in 90 days": {
        "all": [
            {"field": "language", "op": "eq", "value": "es"},
            {"field": "consent.whatsapp", "op": "eq", "value": True},
            {
                "field": "orders.total_minor",
                "op": "gte",
                "value": 10000,
                "within_days": 90,
                "currency": "EUR",
            },
        ]
    },
    "ES/PT + shoes in 90 days + not under 100 points": {
        "all": [
            {"field": "country", "op": "in", "value": ["ES", "PT"]},
            {"field": "orders.category", "op": "eq", "value": "shoes", "within_days": 90},
            {"not": {"field": "loyalty_points", "op": "lt", "value": 100}},
        ]
    },
    "at most one order in 90 days (no orders included)": {
        "field": "orders.count",
        "op": "lte",
        "value": 1,
        "within_days": 90,
    },
}


async def _add_consents(db: Database) -> None:
    async with db.transaction() as s:
        if await s.scalar(select(func.count()).select_from(Consent)) > 1000:
            return
        began = time.perf_counter()
        decisions = [(True, Customer.id % 5 < 3, 1), (False, Customer.id % 10 == 0, 2)]
        for granted, share, days in decisions:
            rows = select(
                Customer.id,
                literal(Channel.WHATSAPP.value),
                literal(ConsentPurpose.MARKETING.value),
                literal(granted),
                literal("bench"),
                Customer.created_at + func.make_interval(0, 0, 0, days),
            ).where(share)
            columns = ["customer_id", "channel", "purpose", "granted", "source", "recorded_at"]
            await s.execute(insert(Consent).from_select(columns, rows))
        await s.execute(text("ANALYZE consents"))
        print(f"added WhatsApp consents in {time.perf_counter() - began:.1f} s")


async def _now(s: AsyncSession) -> datetime:
    newest: datetime | None = await s.scalar(select(func.max(Order.placed_at)))
    return newest or datetime.now().astimezone()


async def _bench(db: Database, repeat: int, explain: bool) -> None:
    async with db.transaction() as s:
        customers = await s.scalar(select(func.count()).select_from(Customer))
        orders = await s.scalar(select(func.count()).select_from(Order))
        now = await _now(s)
    print(f"{customers:,} customers, {orders:,} orders; 'now' = the newest order, {now:%Y-%m-%d}")
    print(f"  {'rule':<54}{'count':>10}{'median s':>10}{'max s':>8}{'sample s':>10}")
    for name, body in RULES.items():
        rule = RULE.validate_python(body)
        query = count_of(customer_ids(rule, now=now))
        times = []
        async with db.transaction() as s:
            count = await s.scalar(query)
            for _ in range(repeat):
                began = time.perf_counter()
                await s.scalar(query)
                times.append(time.perf_counter() - began)
            began = time.perf_counter()
            await preview_rule(s, rule, now=now)
            preview = time.perf_counter() - began - statistics.median(times)
            if explain:
                literal_binds = {"literal_binds": True}
                compiled = query.compile(db.engine.sync_engine, compile_kwargs=literal_binds)
                plan = await s.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))
                print("\n".join(row[0] for row in plan))
        print(
            f"  {name:<54}{count:>10,}{statistics.median(times):>10.3f}"
            f"{max(times):>8.3f}{max(preview, 0.0):>10.3f}"
        )


async def run(args: argparse.Namespace) -> None:
    if args.database:
        db = Database(args.database)
        try:
            await migrate.upgrade(db)
            await _add_consents(db)
            await _bench(db, args.repeat, args.explain)
        finally:
            await db.dispose()
        return
    async with scratch_database(args.server_url) as url:
        db = Database(url)
        try:
            await migrate.upgrade(db)
            await seed_demo(db)
            began = time.perf_counter()
            await seed_bulk(db, args.customers)
            print(f"seeded {args.customers:,} customers in {time.perf_counter() - began:.0f} s")
            async with db.transaction() as s:
                await s.execute(text("ANALYZE"))
            await _add_consents(db)
            await _bench(db, args.repeat, args.explain)
        finally:
            await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("server_url", nargs="?", default=DEFAULT_SERVER)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database", help="an already seeded database to use as it is")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE per rule")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
