"""Orders in and out of the database: the `Order` aggregate as rows, with plain statements."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from oms.orders import models
from oms.orders.domain import LineItem, Order
from oms.statements import execute, execute_later

ORDERS = models.Order.__table__
ITEMS = models.OrderItem.__table__
TIMELINE = models.OrderEvent.__table__

# Every checkout runs these several times: built once, each execution skips building and
# compiling the statement again.
LOAD_FOR_CHANGE = (
    select(ORDERS, ITEMS.c.product_id, ITEMS.c.quantity, ITEMS.c.unit_price)
    .join(ITEMS, ITEMS.c.order_id == ORDERS.c.id)
    .where(ORDERS.c.id == bindparam("order_id"))
    .order_by(ITEMS.c.position)
    .with_for_update(of=ORDERS)
)
READ_ORDER = select(ORDERS).where(ORDERS.c.id == bindparam("order_id"))
READ_ITEMS = (
    select(ITEMS.c.product_id, ITEMS.c.quantity, ITEMS.c.unit_price)
    .where(ITEMS.c.order_id == bindparam("order_id"))
    .order_by(ITEMS.c.position)
)
READ_TIMELINE = (
    select(TIMELINE.c.type, TIMELINE.c.status, TIMELINE.c.cause, TIMELINE.c.created_at)
    .where(TIMELINE.c.order_id == bindparam("order_id"))
    .order_by(TIMELINE.c.id)
)
READ_STATUS = select(ORDERS.c.status).where(ORDERS.c.id == bindparam("order_id"))
INSERT_ORDER, INSERT_ITEMS, INSERT_CHANGES = insert(ORDERS), insert(ITEMS), insert(TIMELINE)
SAVE = (
    update(ORDERS)
    .where(ORDERS.c.id == bindparam("order_id"))
    .values(
        status=bindparam("new_status"),
        cancel_reason=bindparam("new_cancel_reason"),
        updated_at=bindparam("new_updated_at"),
    )
)


def load_for_change(connection: Connection, order_id: str) -> Order | None:
    """The order, locked until the transaction ends, or None if there is none."""
    rows = execute(connection, LOAD_FOR_CHANGE, {"order_id": order_id}).all()
    if not rows:
        return None
    row = rows[0]
    return Order(
        id=row.id,
        user_id=row.user_id,
        status=row.status,
        total_amount=row.total_amount,
        currency=row.currency,
        items=[LineItem(r.product_id, r.quantity, r.unit_price) for r in rows],
        shipping_address=row.shipping_address,
        payment_method=row.payment_method,
        created_at=row.created_at,
        updated_at=row.updated_at,
        cancel_reason=row.cancel_reason,
    )


def add(
    connection: Connection, order: Order, idempotency_key: str | None, fingerprint: str | None
) -> None:
    """Insert a newly placed order, its lines and its first timeline entries."""
    execute_later(
        connection,
        INSERT_ORDER,
        {
            "id": order.id,
            "user_id": order.user_id,
            "status": order.status,
            "total_amount": order.total_amount,
            "currency": order.currency,
            "shipping_address": order.shipping_address,
            "payment_method": order.payment_method,
            "cancel_reason": order.cancel_reason,
            "idempotency_key": idempotency_key,
            "request_fingerprint": fingerprint,
            "created_at": order.created_at,
            "updated_at": order.updated_at,
        },
    )
    execute_later(
        connection,
        INSERT_ITEMS,
        [
            {
                "order_id": order.id,
                "position": position,
                "product_id": item.product_id,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
            }
            for position, item in enumerate(order.items)
        ],
    )
    _append_changes(connection, order)


def save(connection: Connection, order: Order) -> None:
    """Store what the order's methods changed: its status and its new timeline entries."""
    execute_later(
        connection,
        SAVE,
        {
            "order_id": order.id,
            "new_status": order.status,
            "new_cancel_reason": order.cancel_reason,
            "new_updated_at": order.updated_at,
        },
    )
    _append_changes(connection, order)


def _append_changes(connection: Connection, order: Order) -> None:
    if order.changes:
        execute_later(
            connection,
            INSERT_CHANGES,
            [
                {
                    "order_id": order.id,
                    "type": change.type,
                    "status": change.status,
                    "cause": change.cause,
                    "event_id": change.event_id,
                    "created_at": change.at,
                }
                for change in order.changes
            ],
        )
    order.changes.clear()


OrderRows = tuple[Any, list[Any], list[Any]]  # an order's row, its lines, its timeline


def read(connection: Connection, order_id: str) -> OrderRows | None:
    """The order's row, its lines and its timeline, as they stand; None if there is none."""
    order = execute(connection, READ_ORDER, {"order_id": order_id}).first()
    if order is None:
        return None
    items = execute(connection, READ_ITEMS, {"order_id": order_id}).all()
    timeline = execute(connection, READ_TIMELINE, {"order_id": order_id}).all()
    return order, list(items), list(timeline)


def status_of(connection: Connection, order_id: str) -> str | None:
    return execute(connection, READ_STATUS, {"order_id": order_id}).scalar()
