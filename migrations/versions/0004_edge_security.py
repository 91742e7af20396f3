"""edge security: token versions and sign-in throttles

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import oms.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("token_version", sa.Integer(), server_default="0", nullable=False),
        schema="users",
    )
    op.create_table(
        "throttles",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_started_at", oms.db.UtcDateTime(), nullable=False),
        sa.Column("locked_until", oms.db.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
        schema="users",
    )


def downgrade() -> None:
    op.drop_table("throttles", schema="users")
    with op.batch_alter_table("users", schema="users") as batch:
        batch.drop_column("token_version")
