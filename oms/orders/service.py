"""Use cases of the orders module: placing, following, cancelling and shipping orders.

The rules of an order live in `oms.orders.domain`; each use case here loads an order,
calls one of its methods, stores it and publishes what it announced, in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from oms.bus import Event, UnitOfWork, events
from oms.db import Page, read_page, utc_now
from oms.errors import NotFound
from oms.orders import settling, store
from oms.orders.domain import (
    CANCELLED,
    CONFIRMED,
    CUSTOMER_REQUEST,
    IN_FLIGHT,
    PENDING,
    SAGA_DEADLINE,
    STATUSES,
    LineItem,
    Order,
    total_of,
)
from oms.orders.idempotency import replayed_order
from oms.orders.models import MESSAGES
from oms.orders.models import Order as OrderRow
from oms.runtime import Runtime
from oms.telemetry import metrics

DEADLINE_SWEEP_BATCH = 100


@dataclass(frozen=True)
class TimelineEntry:
    type: str
    status: str
    cause: str
    at: datetime


@dataclass(frozen=True)
class OrderView:
    order_id: str
    user_id: str
    status: str
    total_amount: Decimal
    currency: str
    items: list[LineItem]
    shipping_address: dict
    cancel_reason: str | None
    events: list[TimelineEntry]
    created_at: datetime
    updated_at: datetime

    @property
    def item_count(self) -> int:
        return sum(item.quantity for item in self.items)

    @property
    def is_settled(self) -> bool:
        return self.status not in IN_FLIGHT

    @classmethod
    def of(cls, order: OrderRow) -> OrderView:
        return cls.of_rows(order, order.items, order.events)

    @classmethod
    def of_rows(cls, order: Any, items: Iterable[Any], timeline: Iterable[Any]) -> OrderView:
        """From the order's row (or ORM object), its lines and its timeline entries."""
        return cls(
            order_id=order.id,
            user_id=order.user_id,
            status=order.status,
            total_amount=order.total_amount,
            currency=order.currency,
            items=[LineItem(i.product_id, i.quantity, i.unit_price) for i in items],
            shipping_address=order.shipping_address,
            cancel_reason=order.cancel_reason,
            events=[TimelineEntry(e.type, e.status, e.cause, e.created_at) for e in timeline],
            created_at=order.created_at,
            updated_at=order.updated_at,
        )

    def first_settled_status(self) -> tuple[str, str | None]:
        """How the checkout saga ended, whatever happened to the order since."""
        for entry in self.events:
            if entry.status not in IN_FLIGHT:
                reason = self.cancel_reason if entry.status == CANCELLED else None
                return entry.status, reason
        return self.status, None


@dataclass(frozen=True)
class OrderRequest:
    """What a checkout asks for; `fingerprint` identifies the request for idempotency."""

    user_id: str
    items: list[LineItem]
    shipping_address: dict
    payment_method: dict
    idempotency_key: str | None = None
    fingerprint: str | None = None

    @property
    def total_amount(self) -> Decimal:
        return total_of(self.items)


def place_order(rt: Runtime, request: OrderRequest) -> str:
    """Create a pending order, announce it, and return its id; a replayed idempotent
    request creates nothing and returns the first order's id."""
    order = Order.place(
        str(uuid.uuid4()),
        request.user_id,
        request.items,
        rt.settings.currency,
        request.shipping_address,
        request.payment_method,
        utc_now(),
    )
    existing = _replay(rt, request)
    if existing is not None:
        return existing
    try:
        with rt.bus.unit_of_work(MESSAGES) as uow:
            store.add(uow.connection, order, request.idempotency_key, request.fingerprint)
            _announce(uow, order)
    except IntegrityError:  # another request with the same Idempotency-Key came first
        existing = _replay(rt, request)
        if existing is None:
            raise
        return existing
    return order.id


def _replay(rt: Runtime, request: OrderRequest) -> str | None:
    """The order an idempotent request placed before, if this is a replay of it."""
    if not request.idempotency_key:
        return None
    return replayed_order(rt, request.user_id, request.idempotency_key, request.fingerprint)


def get_order(rt: Runtime, order_id: str, owner_id: str | None = None) -> OrderView:
    """The order; with `owner_id`, another user's order is not found (not forbidden)."""
    with rt.database.connect() as connection:
        found = store.read(connection, order_id)
    if found is None or (owner_id is not None and found[0].user_id != owner_id):
        raise NotFound("No such order.")
    return OrderView.of_rows(*found)


def list_orders(rt: Runtime, user_id: str, page: int, page_size: int) -> Page:
    query = (
        select(OrderRow)
        .where(OrderRow.user_id == user_id)
        .options(selectinload(OrderRow.items), selectinload(OrderRow.events))
    )
    order_by = (OrderRow.created_at.desc(), OrderRow.id)
    return read_page(rt.database, query, order_by, page, page_size, OrderView.of)


@dataclass(frozen=True)
class OrderFilter:
    """Which orders an admin (or the operator console) looks for; None means any."""

    status: str | None = None
    user_ids: tuple[str, ...] | None = None
    order_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def search_orders(rt: Runtime, where: OrderFilter, page: int, page_size: int) -> Page:
    """Orders of every customer matching `where`, newest first."""
    query = select(OrderRow).options(selectinload(OrderRow.items), selectinload(OrderRow.events))
    if where.status is not None:
        query = query.where(OrderRow.status == where.status)
    if where.user_ids is not None:
        query = query.where(OrderRow.user_id.in_(where.user_ids))
    if where.order_id is not None:
        query = query.where(OrderRow.id == where.order_id)
    if where.created_from is not None:
        query = query.where(OrderRow.created_at >= where.created_from)
    if where.created_to is not None:
        query = query.where(OrderRow.created_at < where.created_to)
    order_by = (OrderRow.created_at.desc(), OrderRow.id)
    return read_page(rt.database, query, order_by, page, page_size, OrderView.of)


def order_filter(query: dict) -> OrderFilter:
    """The filter of a validated OrderSearchQuery (its page fields aside)."""
    user_id = query.get("user_id")
    return OrderFilter(
        status=query.get("status"),
        user_ids=(str(user_id),) if user_id else None,
        created_from=query.get("created_from"),
        created_to=query.get("created_to"),
    )


def count_orders_by_status(rt: Runtime) -> dict[str, int]:
    with rt.database.reading() as session:
        rows = session.execute(
            select(OrderRow.status, func.count()).group_by(OrderRow.status)
        ).all()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: count for status, count in rows})
    return counts


def stuck_orders(rt: Runtime, older_than_seconds: float, limit: int = 100) -> list[OrderView]:
    """Orders still pending or confirmed `older_than_seconds` after they were placed."""
    cutoff = utc_now() - timedelta(seconds=older_than_seconds)
    query = (
        select(OrderRow)
        .where(OrderRow.status.in_(IN_FLIGHT), OrderRow.created_at < cutoff)
        .options(selectinload(OrderRow.items), selectinload(OrderRow.events))
        .order_by(OrderRow.created_at)
        .limit(limit)
    )
    with rt.database.reading() as session:
        return [OrderView.of(order) for order in session.scalars(query)]


def count_stuck_orders(rt: Runtime, older_than_seconds: float) -> int:
    cutoff = utc_now() - timedelta(seconds=older_than_seconds)
    query = select(func.count()).where(OrderRow.status.in_(IN_FLIGHT), OrderRow.created_at < cutoff)
    with rt.database.reading() as session:
        return session.scalar(query) or 0


def wait_until_settled(rt: Runtime, order_id: str, timeout_seconds: float) -> OrderView:
    """The order once its saga has settled, or as it stands when the wait runs out."""
    settled = settling.wait_for_settlement(rt, order_id, timeout_seconds)
    return get_order(rt, order_id) if settled is None else OrderView.of_rows(*settled)


def cancel_order(rt: Runtime, order_id: str, owner_id: str) -> OrderView:
    with rt.bus.unit_of_work(MESSAGES) as uow:
        order = store.load_for_change(uow.connection, order_id)
        if order is None or order.user_id != owner_id:
            raise NotFound("No such order.")
        order.cancel(CUSTOMER_REQUEST, cause="customer", now=utc_now())
        _store(uow, order)
    return get_order(rt, order_id)


def ship_order(rt: Runtime, order_id: str) -> OrderView:
    with rt.bus.unit_of_work(MESSAGES) as uow:
        order = store.load_for_change(uow.connection, order_id)
        if order is None:
            raise NotFound("No such order.")
        order.ship(cause="admin", now=utc_now())
        _store(uow, order)
    return get_order(rt, order_id)


def cancel_overdue_orders(rt: Runtime) -> int:
    """Cancel the orders whose saga did not settle within the deadline; how many.

    Safe with several sweepers at once: each order is locked and its status checked
    again before it is cancelled, so a second sweeper finds it cancelled already."""
    cutoff = utc_now() - timedelta(seconds=rt.settings.saga_deadline_seconds)
    cancelled = 0
    for order_id in overdue_order_ids(rt, cutoff):
        with rt.bus.unit_of_work(MESSAGES) as uow:
            order = store.load_for_change(uow.connection, order_id)
            if order is not None and order.status in IN_FLIGHT:
                order.cancel(SAGA_DEADLINE, cause="deadline", now=utc_now())
                _store(uow, order)
                cancelled += 1
    return cancelled


@dataclass(frozen=True)
class OrderAudit:
    """One order as the audit sees it."""

    order_id: str
    status: str
    total_amount: Decimal
    created_at: datetime
    updated_at: datetime


def audit_orders(rt: Runtime) -> list[OrderAudit]:
    with rt.database.reading() as session:
        rows = session.execute(
            select(
                OrderRow.id,
                OrderRow.status,
                OrderRow.total_amount,
                OrderRow.created_at,
                OrderRow.updated_at,
            )
        ).all()
    return [OrderAudit(*row) for row in rows]


def overdue_order_ids(rt: Runtime, cutoff: datetime) -> list[str]:
    """Orders still in flight that were placed before `cutoff`, oldest first."""
    with rt.database.reading() as session:
        return list(
            session.scalars(
                select(OrderRow.id)
                .where(OrderRow.status.in_(IN_FLIGHT), OrderRow.created_at < cutoff)
                .order_by(OrderRow.created_at)
                .limit(DEADLINE_SWEEP_BATCH)
            )
        )


def confirm_order(uow: UnitOfWork, event: Event) -> None:
    order = _order_in(uow, event, PENDING)
    if order is not None:
        order.confirm(cause=event.type, now=utc_now(), event_id=event.id)
        _store(uow, order)


def reject_order(uow: UnitOfWork, event: Event, expected: str, reason: str) -> None:
    order = _order_in(uow, event, expected)
    if order is not None:
        order.cancel(reason, cause=event.type, now=utc_now(), event_id=event.id)
        _store(uow, order)


def mark_paid(uow: UnitOfWork, event: Event) -> None:
    order = _order_in(uow, event, CONFIRMED)
    if order is not None:
        order.mark_paid(cause=event.type, now=utc_now(), event_id=event.id)
        _store(uow, order)


def record_refund(uow: UnitOfWork, event: Event) -> None:
    order = store.load_for_change(uow.connection, event.data["orderId"])
    if order is not None:
        order.record_refund(cause=event.type, now=utc_now(), event_id=event.id)
        _store(uow, order)


def _order_in(uow: UnitOfWork, event: Event, status: str) -> Order | None:
    """The event's order if it is still in `status`; a late event changes nothing."""
    order = store.load_for_change(uow.connection, event.data["orderId"])
    if order is None or order.status != status:
        return None
    return order


def _store(uow: UnitOfWork, order: Order) -> None:
    """Store the order's changes and publish what it announced, in the caller's transaction."""
    if order.saga_settled:
        metrics.observe_saga_settled(order.created_at, order.status, order.updated_at)
        settling.announce_settled(uow, order.id)
    store.save(uow.connection, order)
    _announce(uow, order)


def _announce(uow: UnitOfWork, order: Order) -> None:
    for announcement in order.announcements:
        event_type = events.CATALOGUE[announcement.type]
        uow.publish(event_type, announcement.data, correlation_id=order.id)
    order.announcements.clear()
