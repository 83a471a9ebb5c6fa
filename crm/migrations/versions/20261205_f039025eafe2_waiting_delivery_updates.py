"""waiting delivery updates

Revision ID: f039025eafe2
Revises: 3e5f7a9b1c2d
Create Date: 2026-12-05 23:36:09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f039025eafe2"
down_revision: str | None = "3e5f7a9b1c2d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "waiting_delivery_updates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "sms",
                "whatsapp",
                "telegram",
                "webchat",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("provider_message_id", sa.String(length=128), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "received",
                "pending",
                "queued",
                "sent",
                "delivered",
                "read",
                "failed",
                "undelivered",
                name="deliverystatus",
                native_enum=False,
                create_constraint=True,
                length=19,
            ),
            nullable=False,
        ),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waiting_delivery_updates")),
    )
    with op.batch_alter_table("waiting_delivery_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_waiting_delivery_updates_channel"),
            ["channel", "provider_message_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("waiting_delivery_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_waiting_delivery_updates_channel"))

    op.drop_table("waiting_delivery_updates")
