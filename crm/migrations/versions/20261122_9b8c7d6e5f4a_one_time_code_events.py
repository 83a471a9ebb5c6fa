"""one-time code events

Revision ID: 9b8c7d6e5f4a
Revises: 04fdb4ac2d36
Create Date: 2026-11-22 10:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9b8c7d6e5f4a"
down_revision: str | None = "04fdb4ac2d36"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "one_time_code_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_one_time_code_events_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_code_events")),
    )
    with op.batch_alter_table("one_time_code_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_one_time_code_events_customer_id"),
            ["customer_id", "kind", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("one_time_code_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_one_time_code_events_customer_id"))
    op.drop_table("one_time_code_events")
