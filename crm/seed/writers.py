"""Writing many rows fast: ids handed out up front, then Core executemany or COPY."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from sqlalchemy import JSON, Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

Row = tuple[Any, ...]
Method = Literal["insert", "copy"]


async def allocate_ids(conn: AsyncConnection, table: Table, count: int) -> Sequence[int]:
    """`count` fresh primary keys for `table`, so children can refer to rows not yet written."""
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        # Taken from the table's own sequence, so ordinary inserts later never collide
        # and concurrent writers are safe. The sequence is looked up once (not per row)
        # and the ids come back as one array, not as rows: ten times faster at 50k ids.
        sequence = await conn.scalar(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
        )
        ids = await conn.scalar(
            text(
                "SELECT array_agg(nextval(CAST(:sequence AS regclass))) "
                "FROM generate_series(1, :count)"
            ),
            {"sequence": sequence, "count": count},
        )
        return list(ids)
    # SQLite: the caller's transaction began IMMEDIATE and holds the only write lock,
    # so nobody else can take these ids before we commit.
    last = await conn.scalar(select(func.coalesce(func.max(table.c.id), 0)))
    start = int(last or 0) + 1
    return range(start, start + count)


class RowWriter(Protocol):
    method: Method

    async def write(
        self, conn: AsyncConnection, table: Table, columns: Sequence[str], rows: list[Row]
    ) -> None: ...


class InsertWriter:
    """SQLAlchemy Core insert with executemany: every backend, column types applied."""

    method: Method = "insert"

    async def write(
        self, conn: AsyncConnection, table: Table, columns: Sequence[str], rows: list[Row]
    ) -> None:
        if rows:
            await conn.execute(
                insert(table), [dict(zip(columns, row, strict=True)) for row in rows]
            )


class CopyWriter:
    """PostgreSQL COPY through asyncpg: binary rows in one stream per table."""

    method: Method = "copy"

    async def write(
        self, conn: AsyncConnection, table: Table, columns: Sequence[str], rows: list[Row]
    ) -> None:
        if not rows:
            return
        # COPY skips SQLAlchemy's types: JSON must arrive as text (the asyncpg codec that
        # SQLAlchemy installs for jsonb takes strings), datetimes must be aware already.
        json_at = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
        if json_at:
            rows = [
                tuple(json.dumps(v) if i in json_at else v for i, v in enumerate(row))
                for row in rows
            ]
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))


def writer_for(dialect: str, method: Method | Literal["auto"] = "auto") -> RowWriter:
    if method == "auto":
        # COPY measured several times faster than executemany on PostgreSQL (see
        # benchmarks/seed_bulk.py); SQLite has no COPY.
        method = "copy" if dialect == "postgresql" else "insert"
    if method == "copy":
        if dialect != "postgresql":
            raise ValueError("COPY needs PostgreSQL")
        return CopyWriter()
    return InsertWriter()
