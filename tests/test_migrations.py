"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from crm import migrate
from crm.db import Database
from crm.models import Base


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    assert await migrate.is_up_to_date(db)
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
        assert await conn.run_sync(_tables) == set(Base.metadata.tables)


async def test_downgrade_to_base_and_back(db: Database) -> None:
    await migrate.downgrade(db, "base")
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_tables) == set()
    assert not await migrate.is_up_to_date(db)
    await migrate.upgrade(db)
    assert await migrate.is_up_to_date(db)
