"""The webhooks schema: endpoints that subscribed, and each event's delivery to each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from oms.bus import message_tables
from oms.db import UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData(schema="webhooks")


class Endpoint(Base):
    """A URL an admin registered for some events, and the secret its deliveries are signed with."""

    __tablename__ = "endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)  # names or patterns such as "order.*"
    description: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    failed_in_a_row: Mapped[int] = mapped_column(
        Integer
    )  # deliveries that gave up, since a success
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Delivery(Base):
    """One event to one endpoint: `pending` (due at `next_attempt_at`), `succeeded` or `failed`."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhooks_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhooks_deliveries_in_order", "endpoint_id", "ordering_key", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey(Endpoint.id))
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(100))
    # Deliveries with one key (the event's correlation id: its order, say) go out in the
    # order their events happened.
    ordering_key: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    envelope: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    attempts_this_round: Mapped[int] = mapped_column(Integer)  # since created or redelivered
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claim: Mapped[str | None] = mapped_column(String(36))  # who is sending it right now
    last_response_code: Mapped[int | None] = mapped_column(Integer)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    history: Mapped[list[Attempt]] = relationship(
        cascade="all", order_by="Attempt.number", lazy="selectin"
    )


class Attempt(Base):
    """One try at a delivery: what the endpoint answered, and how long it took."""

    __tablename__ = "delivery_attempts"

    delivery_id: Mapped[str] = mapped_column(ForeignKey(Delivery.id), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    response_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))


MESSAGES = message_tables(Base.metadata)
