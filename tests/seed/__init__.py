"""Helpers the seed tests share: row counts, a fingerprint of the data, a second database."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from crm import migrate
from crm.db import Database
from crm.models import Base

# A fixed moment, so that two seedings can be compared value for value.
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)

# Columns that differ between two otherwise identical seedings: database ids, the
# moment rows were written, and salted password hashes.
_UNSTABLE = {"id", "created_at", "updated_at", "password_hash"}


async def row_counts(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        return {
            table.name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


async def fingerprint(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows without ids or write times; foreign keys become the row referred to.

    Two databases with the same business data have equal fingerprints, whatever ids
    their sequences handed out.
    """
    by_id: dict[str, dict[int, tuple[Any, ...]]] = {}
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            refers = {fk.parent.name: fk.column.table.name for fk in table.foreign_keys}
            rows = (await conn.execute(select(table))).mappings().all()
            values_by_id: dict[int, tuple[Any, ...]] = {}
            for row in rows:
                values = tuple(
                    (
                        name,
                        by_id[refers[name]][value]
                        if name in refers and value is not None
                        else value,
                    )
                    for name, value in row.items()
                    if name not in _UNSTABLE
                )
                values_by_id[row["id"]] = values
            by_id[table.name] = values_by_id
            result[table.name] = sorted(values_by_id.values(), key=repr)
    return result


@asynccontextmanager
async def another_database(
    backend: str, database_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Database]:
    """A second empty, migrated database on the same backend as `database_url`."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "second.db"
        shutil.copy(template, path)
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            yield db
        finally:
            await db.dispose()
        return

    name = f"omnihub_seed_{uuid.uuid4().hex[:12]}"
    admin = Database(database_url)
    try:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
        db = Database(url)
        try:
            await migrate.upgrade(db)
            yield db
        finally:
            await db.dispose()
    finally:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
