"""webchat token generations

Revision ID: 1760f78e7b4c
Revises: f039025eafe2
Create Date: 2026-12-07 22:00:26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1760f78e7b4c"
down_revision: str | None = "f039025eafe2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webchat_token_generations",
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("visitor_id", name=op.f("pk_webchat_token_generations")),
    )


def downgrade() -> None:
    op.drop_table("webchat_token_generations")
