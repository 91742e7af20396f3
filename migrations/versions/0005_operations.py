"""operations: inbox entries name their order; orders are found by status and age

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-30 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMAS = ("users", "products", "orders", "payments")


def upgrade() -> None:
    # The operator console's timeline finds a module's handled events by their order.
    for schema in SCHEMAS:
        op.add_column(
            "inbox",
            sa.Column("correlation_id", sa.String(length=100), nullable=True),
            schema=schema,
        )
        op.create_index(
            op.f(f"ix_{schema}_inbox_correlation_id"), "inbox", ["correlation_id"], schema=schema
        )

    # Stuck orders and the status counts of every metrics scrape.
    op.create_index(
        "ix_orders_status_created_at", "orders", ["status", "created_at"], schema="orders"
    )


def downgrade() -> None:
    op.drop_index("ix_orders_status_created_at", table_name="orders", schema="orders")
    for schema in SCHEMAS:
        op.drop_index(op.f(f"ix_{schema}_inbox_correlation_id"), table_name="inbox", schema=schema)
        op.drop_column("inbox", "correlation_id", schema=schema)
