"""operations: inbox entries name their order

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMAS = ("users", "products", "orders", "payments", "webhooks")


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


def downgrade() -> None:
    for schema in SCHEMAS:
        op.drop_index(op.f(f"ix_{schema}_inbox_correlation_id"), table_name="inbox", schema=schema)
        op.drop_column("inbox", "correlation_id", schema=schema)
