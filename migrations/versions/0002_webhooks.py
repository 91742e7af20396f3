"""the webhooks module's schema: endpoints, deliveries and their attempts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 12:34:17.129918
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import oms.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # On SQLite the schema is an attached database file; PostgreSQL needs a real schema.
    if op.get_bind().dialect.name == "postgresql":
        op.execute('CREATE SCHEMA IF NOT EXISTS "webhooks"')
    op.create_table(
        "endpoints",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        sa.Column("failed_in_a_row", sa.Integer(), nullable=False),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.Column("updated_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="webhooks",
    )
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("handled_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="webhooks",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="webhooks",
    )
    op.create_index(
        op.f("ix_webhooks_outbox_created_at"),
        "outbox",
        ["created_at"],
        unique=False,
        schema="webhooks",
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("endpoint_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("ordering_key", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", oms.db.UtcDateTime(), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("attempts_this_round", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", oms.db.UtcDateTime(), nullable=True),
        sa.Column("claim", sa.String(length=36), nullable=True),
        sa.Column("last_response_code", sa.Integer(), nullable=True),
        sa.Column("last_duration_ms", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", oms.db.UtcDateTime(), nullable=False),
        sa.Column("updated_at", oms.db.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhooks.endpoints.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint_id", "event_id"),
        schema="webhooks",
    )
    op.create_index(
        "ix_webhooks_deliveries_due",
        "deliveries",
        ["status", "next_attempt_at"],
        unique=False,
        schema="webhooks",
    )
    op.create_index(
        "ix_webhooks_deliveries_in_order",
        "deliveries",
        ["endpoint_id", "ordering_key", "status"],
        unique=False,
        schema="webhooks",
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", oms.db.UtcDateTime(), nullable=False),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhooks.deliveries.id"],
        ),
        sa.PrimaryKeyConstraint("delivery_id", "number"),
        schema="webhooks",
    )


def downgrade() -> None:
    op.drop_table("delivery_attempts", schema="webhooks")
    op.drop_index("ix_webhooks_deliveries_in_order", table_name="deliveries", schema="webhooks")
    op.drop_index("ix_webhooks_deliveries_due", table_name="deliveries", schema="webhooks")
    op.drop_table("deliveries", schema="webhooks")
    op.drop_index(op.f("ix_webhooks_outbox_created_at"), table_name="outbox", schema="webhooks")
    op.drop_table("outbox", schema="webhooks")
    op.drop_table("inbox", schema="webhooks")
    op.drop_table("endpoints", schema="webhooks")
    if op.get_bind().dialect.name == "postgresql":
        op.execute('DROP SCHEMA IF EXISTS "webhooks"')
