"""saved addresses and cards: a default of each, and cards deleted but kept for orders

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 12:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import oms.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "addresses",
        sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema="users",
    )
    op.add_column(
        "payment_methods",
        sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema="payments",
    )
    op.add_column(
        "payment_methods",
        sa.Column("deleted_at", oms.db.UtcDateTime(), nullable=True),
        schema="payments",
    )


def downgrade() -> None:
    with op.batch_alter_table("payment_methods", schema="payments") as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("is_default")
    with op.batch_alter_table("addresses", schema="users") as batch:
        batch.drop_column("is_default")
