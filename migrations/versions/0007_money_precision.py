"""money columns as wide as the largest amount OMS accepts (oms.money.PRECISION)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from oms.money import PRECISION

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY_COLUMNS = (
    ("products", "products", "price"),
    ("orders", "orders", "total_amount"),
    ("orders", "order_items", "unit_price"),
    ("payments", "payments", "amount"),
    ("payments", "refunds", "amount"),
)
EARLIER_PRECISION = 12


def upgrade() -> None:
    _set_precision(PRECISION)


def downgrade() -> None:
    _set_precision(EARLIER_PRECISION)


def _set_precision(precision: int) -> None:
    if op.get_bind().dialect.name == "sqlite":  # amounts are text there: nothing to change
        return
    for schema, table, column in MONEY_COLUMNS:
        op.alter_column(table, column, type_=sa.Numeric(precision, 2), schema=schema)
