"""How fast seed_bulk fills a scratch database, per table.

Usage: python benchmarks/seed_bulk.py [SERVER_URL] [--customers N] [--method auto|insert|copy]
                                      [--batch-size N] [--sqlite]
A scratch database is created on the PostgreSQL server (default
postgresql://postgres@127.0.0.1/test), migrated, seeded with the demo chain (not timed),
filled with N bulk customers (default 100,000) and dropped. --sqlite uses a temporary
SQLite file instead of the server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal, cast

from sqlalchemy import text
from sqlalchemy.engine import make_url

from crm import migrate
from crm.db import Database, async_url
from crm.seed import seed_bulk, seed_demo

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1/test"


async def _admin(server_url: str, statement: str) -> None:
    admin = Database(server_url)
    try:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


@asynccontextmanager
async def scratch_database(server_url: str | None) -> AsyncIterator[str]:
    """The URL of a new, empty database, removed afterwards whatever happens."""
    if server_url is None:
        with tempfile.TemporaryDirectory(prefix="omnihub-bench-") as directory:
            yield f"sqlite:///{Path(directory) / 'bench.db'}"
        return
    server = make_url(async_url(server_url))
    name = f"omnihub_bench_{uuid.uuid4().hex[:10]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run(
    server_url: str | None,
    customers: int,
    method: Literal["auto", "insert", "copy"],
    batch_size: int,
) -> None:
    async with scratch_database(server_url) as url:
        db = Database(url)
        try:
            await migrate.upgrade(db)
            began = time.perf_counter()
            demo = await seed_demo(db)
            print(f"backend: {db.dialect}; demo chain: {time.perf_counter() - began:.1f} s")
            print(f"  {demo.describe()}")

            last = time.perf_counter()

            def progress(done: int) -> None:
                nonlocal last
                if done % (batch_size * 10) == 0 or done == customers:
                    now = time.perf_counter()
                    print(f"  {done:>9,} customers  (+{now - last:.1f} s)", file=sys.stderr)
                    last = now

            summary = await seed_bulk(
                db, customers, progress=progress, batch_size=batch_size, method=method
            )
        finally:
            await db.dispose()

    print(f"seed_bulk({customers:,}) with {summary.method}, batches of {batch_size:,}:")
    print(f"  {'table':<22}{'rows':>12}{'write s':>10}{'rows/s':>12}")
    for table, rows in summary.rows_by_table().items():
        seconds = summary.write_seconds.get(table, 0.0)
        rate = rows / seconds if seconds else 0.0
        print(f"  {table:<22}{rows:>12,}{seconds:>10.2f}{rate:>12,.0f}")
    writing = sum(summary.write_seconds.values())
    print(
        f"  {'all tables':<22}{summary.rows:>12,}{writing:>10.2f}{summary.rows / writing:>12,.0f}"
    )
    print(
        f"total {summary.seconds:.1f} s ({summary.rows / summary.seconds:,.0f} rows/s); "
        f"drawing the data and building rows took {summary.seconds - writing:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("server_url", nargs="?", default=DEFAULT_SERVER)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--method", choices=["auto", "insert", "copy"], default="auto")
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--sqlite", action="store_true", help="use a temporary SQLite file")
    args = parser.parse_args()
    method = cast(Literal["auto", "insert", "copy"], args.method)
    server = None if args.sqlite else args.server_url
    asyncio.run(run(server, args.customers, method, args.batch_size))


if __name__ == "__main__":
    main()
