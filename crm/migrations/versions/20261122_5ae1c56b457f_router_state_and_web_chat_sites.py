"""router state and web-chat sites

Revision ID: 5ae1c56b457f
Revises: 4da12e79af31
Create Date: 2026-11-22 07:03:50.126109
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5ae1c56b457f"
down_revision: str | None = "4da12e79af31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webchat_sites",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("site_key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "allowed_origins",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("identity_secret", sa.String(length=128), nullable=False),
        sa.Column("token_secret", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webchat_sites")),
        sa.UniqueConstraint("site_key", name=op.f("uq_webchat_sites_site_key")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        # Rows from before this revision get an empty address (replies need a new message).
        batch_op.add_column(
            sa.Column("last_address", sa.String(length=128), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "uq_conversations_open_customer",
            ["customer_id"],
            unique=True,
            sqlite_where=sa.text("status != 'resolved'"),
            postgresql_where=sa.text("status != 'resolved'"),
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_messages_channel"), ["channel", "address", "id"], unique=False
        )
        batch_op.create_index(
            "ix_messages_unprocessed",
            ["conversation_id", "id"],
            unique=False,
            sqlite_where=sa.text("direction = 'inbound' AND processed_at IS NULL"),
            postgresql_where=sa.text("direction = 'inbound' AND processed_at IS NULL"),
        )
        batch_op.create_index(
            "ix_messages_unsent",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=sa.text("direction = 'outbound' AND delivery_status = 'pending'"),
            postgresql_where=sa.text("direction = 'outbound' AND delivery_status = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_unsent",
            sqlite_where=sa.text("direction = 'outbound' AND delivery_status = 'pending'"),
            postgresql_where=sa.text("direction = 'outbound' AND delivery_status = 'pending'"),
        )
        batch_op.drop_index(
            "ix_messages_unprocessed",
            sqlite_where=sa.text("direction = 'inbound' AND processed_at IS NULL"),
            postgresql_where=sa.text("direction = 'inbound' AND processed_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_messages_channel"))
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
        batch_op.drop_column("processed_at")
        batch_op.drop_column("address")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_conversations_open_customer",
            sqlite_where=sa.text("status != 'resolved'"),
            postgresql_where=sa.text("status != 'resolved'"),
        )
        batch_op.drop_column("last_inbound_at")
        batch_op.drop_column("last_address")

    op.drop_table("webchat_sites")
