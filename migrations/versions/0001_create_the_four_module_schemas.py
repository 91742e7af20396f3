"""create the four module schemas

Revision ID: 0001
Revises:
Create Date: 2026-11-25 09:12:26.784114
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import oms.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


SCHEMAS = ("users", "products", "orders", "payments")


def upgrade() -> None:
    # On SQLite every schema is an attached database file; PostgreSQL needs real schemas.
    if op.get_bind().dialect.name == "postgresql":
        for schema in SCHEMAS:
            op.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("handled_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="users",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="users",
    )
    op.create_index(
        op.f("ix_users_outbox_created_at"), "outbox", ["created_at"], unique=False, schema="users"
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=100), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
        schema="users",
    )
    op.create_table(
        "addresses",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("line1", sa.String(length=200), nullable=False),
        sa.Column("line2", sa.String(length=200), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("postal_code", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="users",
    )
    op.create_index(
        op.f("ix_users_addresses_user_id"), "addresses", ["user_id"], unique=False, schema="users"
    )
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("handled_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="products",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="products",
    )
    op.create_index(
        op.f("ix_products_outbox_created_at"),
        "outbox",
        ["created_at"],
        unique=False,
        schema="products",
    )
    op.create_table(
        "products",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("price", oms.db.MoneyType(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.Column("updated_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sku"),
        schema="products",
    )
    op.create_table(
        "stock_holds",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("updated_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
        schema="products",
    )
    op.create_table(
        "inventory",
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.products.id"],
        ),
        sa.PrimaryKeyConstraint("product_id"),
        schema="products",
    )
    op.create_table(
        "stock_hold_items",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["products.stock_holds.order_id"],
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.products.id"],
        ),
        sa.PrimaryKeyConstraint("order_id", "product_id"),
        schema="products",
    )
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("handled_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="orders",
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("total_amount", oms.db.MoneyType(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("shipping_address", sa.JSON(), nullable=False),
        sa.Column("payment_method", sa.JSON(), nullable=False),
        sa.Column("cancel_reason", sa.String(length=50), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.Column("updated_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "idempotency_key"),
        schema="orders",
    )
    op.create_index(
        op.f("ix_orders_orders_user_id"), "orders", ["user_id"], unique=False, schema="orders"
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="orders",
    )
    op.create_index(
        op.f("ix_orders_outbox_created_at"), "outbox", ["created_at"], unique=False, schema="orders"
    )
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("cause", sa.String(length=50), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="orders",
    )
    op.create_index(
        op.f("ix_orders_order_events_order_id"),
        "order_events",
        ["order_id"],
        unique=False,
        schema="orders",
    )
    op.create_table(
        "order_items",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", oms.db.MoneyType(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.orders.id"],
        ),
        sa.PrimaryKeyConstraint("order_id", "position"),
        schema="orders",
    )
    op.create_table(
        "cancelled_orders",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("cancelled_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
        schema="payments",
    )
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("handled_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="payments",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="payments",
    )
    op.create_index(
        op.f("ix_payments_outbox_created_at"),
        "outbox",
        ["created_at"],
        unique=False,
        schema="payments",
    )
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("token", sa.String(length=120), nullable=False),
        sa.Column("brand", sa.String(length=30), nullable=True),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="payments",
    )
    op.create_index(
        op.f("ix_payments_payment_methods_user_id"),
        "payment_methods",
        ["user_id"],
        unique=False,
        schema="payments",
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("amount", oms.db.MoneyType(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("method", sa.JSON(), nullable=False),
        sa.Column("charge_id", sa.String(length=100), nullable=True),
        sa.Column("failure_reason", sa.String(length=100), nullable=True),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.Column("updated_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id"),
        schema="payments",
    )
    op.create_index(
        op.f("ix_payments_payments_user_id"),
        "payments",
        ["user_id"],
        unique=False,
        schema="payments",
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("payment_id", sa.String(length=36), nullable=False),
        sa.Column("amount", oms.db.MoneyType(), nullable=False),
        sa.Column("gateway_refund_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.payments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="payments",
    )
    op.create_index(
        op.f("ix_payments_refunds_payment_id"),
        "refunds",
        ["payment_id"],
        unique=False,
        schema="payments",
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_payments_refunds_payment_id"), table_name="refunds", schema="payments")
    op.drop_table("refunds", schema="payments")
    op.drop_index(op.f("ix_payments_payments_user_id"), table_name="payments", schema="payments")
    op.drop_table("payments", schema="payments")
    op.drop_index(
        op.f("ix_payments_payment_methods_user_id"), table_name="payment_methods", schema="payments"
    )
    op.drop_table("payment_methods", schema="payments")
    op.drop_index(op.f("ix_payments_outbox_created_at"), table_name="outbox", schema="payments")
    op.drop_table("outbox", schema="payments")
    op.drop_table("inbox", schema="payments")
    op.drop_table("cancelled_orders", schema="payments")
    op.drop_table("order_items", schema="orders")
    op.drop_index(
        op.f("ix_orders_order_events_order_id"), table_name="order_events", schema="orders"
    )
    op.drop_table("order_events", schema="orders")
    op.drop_index(op.f("ix_orders_outbox_created_at"), table_name="outbox", schema="orders")
    op.drop_table("outbox", schema="orders")
    op.drop_index(op.f("ix_orders_orders_user_id"), table_name="orders", schema="orders")
    op.drop_table("orders", schema="orders")
    op.drop_table("inbox", schema="orders")
    op.drop_table("stock_hold_items", schema="products")
    op.drop_table("inventory", schema="products")
    op.drop_table("stock_holds", schema="products")
    op.drop_table("products", schema="products")
    op.drop_index(op.f("ix_products_outbox_created_at"), table_name="outbox", schema="products")
    op.drop_table("outbox", schema="products")
    op.drop_table("inbox", schema="products")
    op.drop_index(op.f("ix_users_addresses_user_id"), table_name="addresses", schema="users")
    op.drop_table("addresses", schema="users")
    op.drop_table("users", schema="users")
    op.drop_index(op.f("ix_users_outbox_created_at"), table_name="outbox", schema="users")
    op.drop_table("outbox", schema="users")
    op.drop_table("inbox", schema="users")
    if op.get_bind().dialect.name == "postgresql":
        for schema in reversed(SCHEMAS):
            op.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
