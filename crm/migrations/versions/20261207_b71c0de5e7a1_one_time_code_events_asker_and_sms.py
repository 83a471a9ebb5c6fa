"""one-time code events: the asking chat, pauses, and the masked record of the SMS

Revision ID: b71c0de5e7a1
Revises: 1760f78e7b4c
Create Date: 2026-12-07 22:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b71c0de5e7a1"
down_revision: str | None = "1760f78e7b4c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The SMS with a one-time code was a message of the asking visitor's conversation, code
# and all (issue 11). Those rows go: they were never the visitor's, and their code or
# phone is nobody's to read. These are the three languages' texts the bot sent.
_CODE_SMS = (
    "% es tu código para ver tus pedidos en el chat de la tienda.%",
    "% é o seu código para ver os seus pedidos no chat da loja.%",
    "% is your code to see your orders in the shop's chat.%",
)


def upgrade() -> None:
    messages = sa.table(
        "messages",
        sa.column("direction", sa.String),
        sa.column("channel", sa.String),
        sa.column("author", sa.String),
        sa.column("body", sa.Text),
    )
    op.execute(
        messages.delete().where(
            messages.c.direction == "outbound",
            messages.c.channel == "sms",
            messages.c.author == "bot",
            sa.or_(*(messages.c.body.like(text) for text in _CODE_SMS)),
        )
    )
    with op.batch_alter_table("one_time_code_events", schema=None) as batch_op:
        batch_op.alter_column("customer_id", existing_type=_ID, nullable=True)
        batch_op.add_column(sa.Column("asker_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
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
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("destination", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("provider_message_id", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column(
                "delivery_status",
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
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("error_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_one_time_code_events_asker_id_customers"),
            "customers",
            ["asker_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            batch_op.f("ix_one_time_code_events_asker_id"),
            ["asker_id", "kind", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_one_time_code_events_channel"),
            ["channel", "provider_message_id"],
            unique=False,
        )


def downgrade() -> None:
    op.execute("DELETE FROM one_time_code_events WHERE customer_id IS NULL")
    with op.batch_alter_table("one_time_code_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_one_time_code_events_channel"))
        batch_op.drop_index(batch_op.f("ix_one_time_code_events_asker_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_one_time_code_events_asker_id_customers"), type_="foreignkey"
        )
        for check in ("deliverystatus", "channel"):
            batch_op.drop_constraint(batch_op.f(f"ck_one_time_code_events_{check}"), type_="check")
        for column in (
            "updated_at",
            "error_code",
            "delivery_status",
            "provider_message_id",
            "body",
            "destination",
            "channel",
            "until",
            "asker_id",
        ):
            batch_op.drop_column(column)
        batch_op.alter_column("customer_id", existing_type=_ID, nullable=False)
