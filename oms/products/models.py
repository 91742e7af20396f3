"""The products schema: the catalogue, stock on hand, and stock held for orders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from oms.bus import message_tables
from oms.db import MoneyType, UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData(schema="products")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    price: Mapped[Decimal] = mapped_column(MoneyType())
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    inventory: Mapped[Inventory] = relationship(lazy="joined", innerjoin=True)


class Inventory(Base):
    """Units on hand that no order holds."""

    __tablename__ = "inventory"

    product_id: Mapped[str] = mapped_column(ForeignKey(Product.id), primary_key=True)
    available: Mapped[int] = mapped_column(Integer)


class StockHold(Base):
    """What one order holds: `reserved`, `released` (given back, or cancelled before
    it was reserved) or `refused` (not enough stock). One row per order, ever."""

    __tablename__ = "stock_holds"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    items: Mapped[list[StockHoldItem]] = relationship(lazy="selectin", cascade="all")


class StockHoldItem(Base):
    __tablename__ = "stock_hold_items"

    order_id: Mapped[str] = mapped_column(ForeignKey(StockHold.order_id), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey(Product.id), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)


class StockMovement(Base):
    """Every change of a product's available units, with its cause: the ledger that
    `available` must always add up to (`oms audit` checks it)."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(ForeignKey(Product.id), index=True)
    delta: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # initial, restock, write_off, hold, release
    order_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


MESSAGES = message_tables(Base.metadata)
