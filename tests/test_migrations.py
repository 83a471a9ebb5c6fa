"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from crm import migrate
from crm.db import Database
from crm.models import Base
from tests.builders import T0


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


_OLD_CUSTOMER = text(
    "INSERT INTO customers (id, tags, attributes, funnel_stage, loyalty_points, created_at,"
    " updated_at) VALUES (1, '[]', '{}', 'lead', 0, :t, :t)"
)
_OLD_CONVERSATION = text(
    "INSERT INTO conversations (id, customer_id, status, last_channel, last_address,"
    " created_at, updated_at) VALUES (1, 1, 'bot', 'webchat', 'visitor', :t, :t)"
)
_OLD_MESSAGE = text(
    "INSERT INTO messages (id, conversation_id, direction, author, channel, body, private,"
    " delivery_status, attempts, created_at, updated_at)"
    " VALUES (:id, 1, 'outbound', 'bot', :channel, :body, false, 'delivered', 1, :t, :t)"
)


async def test_code_sms_kept_as_messages_of_the_visitors_conversation_are_deleted(
    db: Database,
) -> None:
    """Before b71c0de5e7a1 the SMS with a one-time code was a message, code included."""
    await migrate.downgrade(db, "1760f78e7b4c")
    bodies = [
        "580728 es tu código para ver tus pedidos en el chat de la tienda. Caduca en 10 minutos.",
        "580729 is your code to see your orders in the shop's chat. It expires in 10 minutes.",
        "Si es tuyo, hemos enviado un código de 6 cifras por SMS al teléfono de la cuenta.",
    ]
    async with db.engine.begin() as conn:
        await conn.execute(_OLD_CUSTOMER, {"t": T0})
        await conn.execute(_OLD_CONVERSATION, {"t": T0})
        for n, (channel, body) in enumerate(zip(("sms", "sms", "webchat"), bodies, strict=True)):
            await conn.execute(
                _OLD_MESSAGE, {"id": n + 1, "channel": channel, "body": body, "t": T0}
            )

    await migrate.upgrade(db)

    async with db.engine.connect() as conn:
        left = (await conn.execute(text("SELECT body FROM messages"))).scalars().all()
    assert left == [bodies[2]]
