"""The payments schema: saved cards, payments of orders, and their refunds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, ForeignKey, MetaData, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from oms.bus import message_tables
from oms.db import MoneyType, UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData(schema="payments")


class PaymentMethod(Base):
    __tablename__ = "payment_methods"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    type: Mapped[str] = mapped_column(String(20))
    token: Mapped[str] = mapped_column(String(120))
    brand: Mapped[str | None] = mapped_column(String(30))
    last4: Mapped[str | None] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A deleted card is hidden from its owner but kept: orders placed with it may still
    # be charged or refunded.
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    amount: Mapped[Decimal] = mapped_column(MoneyType())
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    method: Mapped[dict] = mapped_column(JSON)
    charge_id: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    refunds: Mapped[list[Refund]] = relationship(cascade="all")


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey(Payment.id), index=True)
    amount: Mapped[Decimal] = mapped_column(MoneyType())
    gateway_refund_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CancelledOrder(Base):
    """An order cancelled before payments saw it confirmed: it must never be charged."""

    __tablename__ = "cancelled_orders"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cancelled_at: Mapped[datetime] = mapped_column(UtcDateTime())


MESSAGES = message_tables(Base.metadata)
