"""segments, and the indexes their counts need

Revision ID: 6a1f3c9e2b7d
Revises: b71c0de5e7a1
Create Date: 2026-12-07 22:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6a1f3c9e2b7d"
down_revision: str | None = "b71c0de5e7a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "rule",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
    )
    # Orders in the last N days (segments' within_days), read from the index alone.
    not_cancelled = sa.text("status <> 'cancelled'")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_by_date",
            ["placed_at", "customer_id", "id"],
            unique=False,
            postgresql_include=["currency", "total_minor"],
            postgresql_where=not_cancelled,
            sqlite_where=not_cancelled,
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_by_date")
    op.drop_table("segments")
