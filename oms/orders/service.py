"""Use cases of the orders module: placing, following, cancelling and shipping orders."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session, selectinload

from oms.bus import Event, UnitOfWork, events
from oms.db import Page, read_page, utc_now
from oms.errors import Conflict, Invalid, NotFound
from oms.money import format_money, to_money
from oms.orders.models import MESSAGES, Order, OrderEvent, OrderItem
from oms.runtime import Runtime
from oms.telemetry import metrics

PENDING, CONFIRMED, PROCESSING, SHIPPED, CANCELLED = (
    "pending",
    "confirmed",
    "processing",
    "shipped",
    "cancelled",
)
IN_FLIGHT = (PENDING, CONFIRMED)
NEXT_STATUSES = {
    PENDING: {CONFIRMED, CANCELLED},
    CONFIRMED: {PROCESSING, CANCELLED},
    PROCESSING: {SHIPPED, CANCELLED},
}
INSUFFICIENT_INVENTORY = "insufficient_inventory"
PAYMENT_DECLINED = "payment_declined"
CUSTOMER_REQUEST = "customer_request"
SAGA_DEADLINE = "saga_deadline"
DEADLINE_SWEEP_BATCH = 100
MAX_ORDER_TOTAL = Decimal("99999999.99")
MAX_QUANTITY = 1000  # of one product in one order


@dataclass(frozen=True)
class LineItem:
    product_id: str
    quantity: int
    unit_price: Decimal

    @property
    def line_total(self) -> Decimal:
        return to_money(self.unit_price * self.quantity)


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
    def of(cls, order: Order) -> OrderView:
        return cls(
            order_id=order.id,
            user_id=order.user_id,
            status=order.status,
            total_amount=order.total_amount,
            currency=order.currency,
            items=[LineItem(i.product_id, i.quantity, i.unit_price) for i in order.items],
            shipping_address=order.shipping_address,
            cancel_reason=order.cancel_reason,
            events=[TimelineEntry(e.type, e.status, e.cause, e.created_at) for e in order.events],
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
        return to_money(sum((item.line_total for item in self.items), Decimal(0)))


def place_order(rt: Runtime, request: OrderRequest) -> str:
    """Create a pending order, announce it, and return its id; a replayed idempotent
    request creates nothing and returns the first order's id."""
    if request.total_amount > MAX_ORDER_TOTAL:
        raise Invalid(
            "The order is too large.", {"items": [f"The total must not exceed {MAX_ORDER_TOTAL}."]}
        )
    _check_quantities(request)
    if request.idempotency_key:
        existing = _replay(rt, request)
        if existing is not None:
            return existing
    order = _new_order(rt, request)
    try:
        with rt.bus.unit_of_work(MESSAGES) as uow:
            uow.session.add(order)
            _log(order, "order.created", PENDING, cause="checkout")
            uow.session.flush()
            uow.publish(events.ORDER_CREATED, _created_data(order), correlation_id=order.id)
    except IntegrityError:
        existing = _replay(rt, request) if request.idempotency_key else None
        if existing is None:
            raise
        return existing
    return order.id


def _check_quantities(request: OrderRequest) -> None:
    """The quantity cap holds per product, after lines naming the same product are added up."""
    per_product: Counter[str] = Counter()
    for line in request.items:
        per_product[line.product_id] += line.quantity
    too_many = sorted(pid for pid, quantity in per_product.items() if quantity > MAX_QUANTITY)
    if too_many:
        raise Invalid(
            "Too many of one product.",
            {"items": [f"At most {MAX_QUANTITY} of product {pid} per order." for pid in too_many]},
        )


def get_order(rt: Runtime, order_id: str, owner_id: str | None = None) -> OrderView:
    """The order; with `owner_id`, another user's order is not found (not forbidden)."""
    with rt.database.reading() as session:
        order = session.get(Order, order_id)
        if order is None or (owner_id is not None and order.user_id != owner_id):
            raise NotFound("No such order.")
        return OrderView.of(order)


def list_orders(rt: Runtime, user_id: str, page: int, page_size: int) -> Page:
    query = (
        select(Order)
        .where(Order.user_id == user_id)
        .options(selectinload(Order.items), selectinload(Order.events))
    )
    order_by = (Order.created_at.desc(), Order.id)
    return read_page(rt.database, query, order_by, page, page_size, OrderView.of)


STATUSES = (PENDING, CONFIRMED, PROCESSING, SHIPPED, CANCELLED)


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
    query = select(Order).options(selectinload(Order.items), selectinload(Order.events))
    if where.status is not None:
        query = query.where(Order.status == where.status)
    if where.user_ids is not None:
        query = query.where(Order.user_id.in_(where.user_ids))
    if where.order_id is not None:
        query = query.where(Order.id == where.order_id)
    if where.created_from is not None:
        query = query.where(Order.created_at >= where.created_from)
    if where.created_to is not None:
        query = query.where(Order.created_at < where.created_to)
    order_by = (Order.created_at.desc(), Order.id)
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
        rows = session.execute(select(Order.status, func.count()).group_by(Order.status)).all()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: count for status, count in rows})
    return counts


def stuck_orders(rt: Runtime, older_than_seconds: float, limit: int = 100) -> list[OrderView]:
    """Orders still pending or confirmed `older_than_seconds` after they were placed."""
    cutoff = utc_now() - timedelta(seconds=older_than_seconds)
    query = (
        select(Order)
        .where(Order.status.in_(IN_FLIGHT), Order.created_at < cutoff)
        .options(selectinload(Order.items), selectinload(Order.events))
        .order_by(Order.created_at)
        .limit(limit)
    )
    with rt.database.reading() as session:
        return [OrderView.of(order) for order in session.scalars(query)]


def count_stuck_orders(rt: Runtime, older_than_seconds: float) -> int:
    cutoff = utc_now() - timedelta(seconds=older_than_seconds)
    query = select(func.count()).where(Order.status.in_(IN_FLIGHT), Order.created_at < cutoff)
    with rt.database.reading() as session:
        return session.scalar(query) or 0


def wait_until_settled(rt: Runtime, order_id: str, timeout_seconds: float) -> OrderView:
    """The order once its saga has settled, or as it stands when the wait runs out."""
    deadline = time.monotonic() + timeout_seconds
    pause = 0.005
    while _status_of(rt, order_id) in IN_FLIGHT and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 1.5, 0.05)
    return get_order(rt, order_id)


def _status_of(rt: Runtime, order_id: str) -> str | None:
    with rt.database.reading() as session:
        return session.scalar(select(Order.status).where(Order.id == order_id))


def cancel_order(rt: Runtime, order_id: str, owner_id: str) -> OrderView:
    with rt.bus.unit_of_work(MESSAGES) as uow:
        order = _locked_order(uow.session, order_id)
        if order is None or order.user_id != owner_id:
            raise NotFound("No such order.")
        if CANCELLED not in NEXT_STATUSES.get(order.status, ()):
            raise Conflict(f"An order that is {order.status} cannot be cancelled.")
        _cancel(uow, order, CUSTOMER_REQUEST, cause="customer")
    return get_order(rt, order_id)


def ship_order(rt: Runtime, order_id: str) -> OrderView:
    with rt.bus.unit_of_work(MESSAGES) as uow:
        order = _locked_order(uow.session, order_id)
        if order is None:
            raise NotFound("No such order.")
        if order.status != PROCESSING:
            raise Conflict(f"Only a processing order can be shipped; this one is {order.status}.")
        _move(order, SHIPPED, "order.shipped", cause="admin")
        uow.publish(events.ORDER_SHIPPED, {"orderId": order.id}, correlation_id=order.id)
    return get_order(rt, order_id)


def cancel_overdue_orders(rt: Runtime) -> int:
    """Cancel the orders whose saga did not settle within the deadline; how many.

    Safe with several sweepers at once: each order is locked and its status checked
    again before it is cancelled, so a second sweeper finds it cancelled already."""
    cutoff = utc_now() - timedelta(seconds=rt.settings.saga_deadline_seconds)
    cancelled = 0
    for order_id in overdue_order_ids(rt, cutoff):
        with rt.bus.unit_of_work(MESSAGES) as uow:
            order = _locked_order(uow.session, order_id)
            if order is not None and order.status in IN_FLIGHT:
                _cancel(uow, order, SAGA_DEADLINE, cause="deadline")
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
            select(Order.id, Order.status, Order.total_amount, Order.created_at, Order.updated_at)
        ).all()
    return [OrderAudit(*row) for row in rows]


def overdue_order_ids(rt: Runtime, cutoff: datetime) -> list[str]:
    """Orders still in flight that were placed before `cutoff`, oldest first."""
    with rt.database.reading() as session:
        return list(
            session.scalars(
                select(Order.id)
                .where(Order.status.in_(IN_FLIGHT), Order.created_at < cutoff)
                .order_by(Order.created_at)
                .limit(DEADLINE_SWEEP_BATCH)
            )
        )


def confirm_order(uow: UnitOfWork, event: Event) -> None:
    order = _order_in(uow, event, PENDING)
    if order is None:
        return
    _move(order, CONFIRMED, "order.confirmed", cause=event.type, event_id=event.id)
    uow.publish(
        events.ORDER_CONFIRMED,
        {
            "orderId": order.id,
            "userId": order.user_id,
            "totalAmount": format_money(order.total_amount),
            "currency": order.currency,
            "paymentMethod": order.payment_method,
        },
        correlation_id=order.id,
    )


def reject_order(uow: UnitOfWork, event: Event, expected: str, reason: str) -> None:
    order = _order_in(uow, event, expected)
    if order is not None:
        _cancel(uow, order, reason, cause=event.type, event_id=event.id)


def mark_paid(uow: UnitOfWork, event: Event) -> None:
    order = _order_in(uow, event, CONFIRMED)
    if order is not None:
        _move(order, PROCESSING, "order.processing", cause=event.type, event_id=event.id)


def record_refund(uow: UnitOfWork, event: Event) -> None:
    order = _locked_order(uow.session, event.data["orderId"])
    if order is not None:
        _log(order, "refund.created", order.status, cause=event.type, event_id=event.id)


def _order_in(uow: UnitOfWork, event: Event, status: str) -> Order | None:
    """The event's order if it is still in `status`; a late event changes nothing."""
    order = _locked_order(uow.session, event.data["orderId"])
    if order is None or order.status != status:
        return None
    return order


def _cancel(
    uow: UnitOfWork, order: Order, reason: str, cause: str, event_id: str | None = None
) -> None:
    order.cancel_reason = reason
    _move(order, CANCELLED, "order.cancelled", cause=cause, event_id=event_id)
    uow.publish(
        events.ORDER_CANCELLED,
        {
            "orderId": order.id,
            "items": [{"productId": i.product_id, "quantity": i.quantity} for i in order.items],
            "reason": reason,
        },
        correlation_id=order.id,
    )


def _move(order: Order, status: str, change: str, cause: str, event_id: str | None = None) -> None:
    if status not in NEXT_STATUSES.get(order.status, ()):
        raise Conflict(f"An order cannot go from {order.status} to {status}.")
    if order.status in IN_FLIGHT and status not in IN_FLIGHT:  # the saga settles
        metrics.observe_saga_settled(order.created_at, status, utc_now())
    order.status = status
    order.updated_at = utc_now()
    _log(order, change, status, cause, event_id)


def _log(order: Order, change: str, status: str, cause: str, event_id: str | None = None) -> None:
    # Added to the session rather than to `order.events`, which would load the timeline.
    object_session(order).add(  # type: ignore[union-attr]
        OrderEvent(
            order_id=order.id,
            type=change,
            status=status,
            cause=cause,
            event_id=event_id,
            created_at=utc_now(),
        )
    )


def _locked_order(session: Session, order_id: str) -> Order | None:
    return session.scalars(select(Order).where(Order.id == order_id).with_for_update()).first()


def _new_order(rt: Runtime, request: OrderRequest) -> Order:
    now = utc_now()
    order_id = str(uuid.uuid4())
    return Order(
        id=order_id,
        user_id=request.user_id,
        status=PENDING,
        total_amount=request.total_amount,
        currency=rt.settings.currency,
        shipping_address=request.shipping_address,
        payment_method=request.payment_method,
        idempotency_key=request.idempotency_key,
        request_fingerprint=request.fingerprint,
        created_at=now,
        updated_at=now,
        items=[
            OrderItem(
                order_id=order_id,
                position=position,
                product_id=item.product_id,
                quantity=item.quantity,
                unit_price=item.unit_price,
            )
            for position, item in enumerate(request.items)
        ],
    )


def _replay(rt: Runtime, request: OrderRequest) -> str | None:
    with rt.database.reading() as session:
        order = session.scalars(
            select(Order).where(
                Order.user_id == request.user_id,
                Order.idempotency_key == request.idempotency_key,
            )
        ).first()
        if order is None:
            return None
        if order.request_fingerprint != request.fingerprint:
            raise Invalid(
                "This Idempotency-Key was used with another request.",
                {"Idempotency-Key": ["Already used with a different body."]},
            )
        return order.id


def _created_data(order: Order) -> dict:
    return {
        "orderId": order.id,
        "userId": order.user_id,
        "items": [
            {
                "productId": item.product_id,
                "quantity": item.quantity,
                "unitPrice": format_money(item.unit_price),
            }
            for item in order.items
        ],
        "totalAmount": format_money(order.total_amount),
        "currency": order.currency,
        "paymentMethod": order.payment_method,
    }
