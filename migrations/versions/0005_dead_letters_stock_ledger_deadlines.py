"""dead letters per module, the stock ledger, and the saga-deadline index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import oms.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMAS = ("users", "products", "orders", "payments", "webhooks")


def upgrade() -> None:
    for schema in SCHEMAS:
        _create_dead_letters(schema)
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.products.id"]),
        sa.PrimaryKeyConstraint("id"),
        schema="products",
    )
    op.create_index(
        op.f("ix_products_stock_movements_product_id"),
        "stock_movements",
        ["product_id"],
        unique=False,
        schema="products",
    )
    # The ledger starts from the stock on hand today: it adds up from here on.
    op.execute(
        "INSERT INTO products.stock_movements (product_id, delta, kind, order_id, created_at) "
        "SELECT product_id, available, 'initial', NULL, CURRENT_TIMESTAMP "
        "FROM products.inventory WHERE available <> 0"
    )
    op.create_index(
        "ix_orders_status_created_at", "orders", ["status", "created_at"], schema="orders"
    )


def downgrade() -> None:
    op.drop_index("ix_orders_status_created_at", table_name="orders", schema="orders")
    op.drop_index(
        op.f("ix_products_stock_movements_product_id"),
        table_name="stock_movements",
        schema="products",
    )
    op.drop_table("stock_movements", schema="products")
    for schema in SCHEMAS:
        op.drop_index(
            op.f(f"ix_{schema}_dead_letters_retry_at"), table_name="dead_letters", schema=schema
        )
        op.drop_table("dead_letters", schema=schema)


def _create_dead_letters(schema: str) -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=True),
        sa.Column("event_type", sa.String(length=100), nullable=True),
        sa.Column("correlation_id", sa.String(length=100), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_error", sa.Text(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("first_failed_at", oms.db.UtcDateTime(), nullable=False),
        sa.Column("last_failed_at", oms.db.UtcDateTime(), nullable=False),
        sa.Column("retry_at", oms.db.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(
        op.f(f"ix_{schema}_dead_letters_retry_at"),
        "dead_letters",
        ["retry_at"],
        unique=False,
        schema=schema,
    )
