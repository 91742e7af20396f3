"""Payments sees order.confirmed and order.cancelled in any order, even at once.

Competing consumers can hand a module an order's events in any order, or two of them
at the same moment. Whatever the order, a cancelled order ends with nothing charged,
or with its charge refunded exactly once; never a payment left pending.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from oms import payments
from oms.app import start_runtime
from oms.bus import Event
from oms.config import Settings
from oms.runtime import Runtime
from tests.conftest import TEST_SECRET

CONFIRMED, CANCELLED = "order.confirmed", "order.cancelled"


def saga_events(order_id: str) -> dict[str, Event]:
    user_id = str(uuid.uuid4())
    product_id = str(uuid.uuid4())
    data = {
        CONFIRMED: {
            "orderId": order_id,
            "userId": user_id,
            "totalAmount": "42.00",
            "currency": "USD",
            "paymentMethod": {"type": "card", "token": "tok_visa"},
        },
        CANCELLED: {
            "orderId": order_id,
            "items": [{"productId": product_id, "quantity": 1}],
            "reason": "customer_request",
        },
    }
    return {
        name: Event(type=name, source="oms/orders", data=payload, correlationid=order_id)
        for name, payload in data.items()
    }


def handle(runtime: Runtime, event: Event) -> None:
    """What the payments consumer does with `event` (inbox, handler, one transaction)."""
    handlers = {kind.name: h for kind, h in payments.event_handlers(runtime.settings).items()}
    runtime.bus.handle(payments.MESSAGES, handlers[event.type], event)


def payment_rows(runtime: Runtime, order_id: str) -> list[tuple[str, int]]:
    with runtime.database.engine.connect() as connection:
        return [
            (row.status, row.refunds)
            for row in connection.execute(
                text(
                    "SELECT p.status, (SELECT count(*) FROM payments.refunds r "
                    "WHERE r.payment_id = p.id) AS refunds "
                    "FROM payments.payments p WHERE p.order_id = :order_id"
                ),
                {"order_id": order_id},
            )
        ]


def test_payments_subscribes_once_per_need_confirmed_and_cancelled() -> None:
    handled = payments.event_handlers(Settings(jwt_secret=TEST_SECRET))
    assert {kind.name for kind in handled} == {CONFIRMED, CANCELLED}


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (CONFIRMED, CANCELLED, [("refunded", 1)]),  # charged, then refunded
        (CANCELLED, CONFIRMED, []),  # never charged
    ],
)
def test_either_order_of_confirmed_and_cancelled_leaves_nothing_charged(
    runtime: Runtime, first: str, second: str, expected: list
) -> None:
    order_id = str(uuid.uuid4())
    saga = saga_events(order_id)

    handle(runtime, saga[first])
    handle(runtime, saga[second])
    handle(runtime, saga[first])  # redelivered: no second effect

    assert payment_rows(runtime, order_id) == expected


@pytest.fixture
def postgres_runtime(migrated_postgres_url: str) -> Iterator[Runtime]:
    """PostgreSQL, where two consumer threads really do run at once."""
    runtime = start_runtime(
        Settings(database_url=migrated_postgres_url, jwt_secret=TEST_SECRET, bcrypt_rounds=4)
    )
    yield runtime
    runtime.close()


@pytest.mark.postgres
def test_confirmed_and_cancelled_handled_at_once_never_leave_a_charge_standing(
    postgres_runtime: Runtime,
) -> None:
    for round_number in range(20):
        order_id = str(uuid.uuid4())
        saga = saga_events(order_id)
        start = threading.Barrier(2)

        def consume(name: str, saga: dict[str, Event] = saga, start: threading.Barrier = start):
            start.wait()
            handle(postgres_runtime, saga[name])

        threads = [threading.Thread(target=consume, args=(name,)) for name in saga]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        rows = payment_rows(postgres_runtime, order_id)
        assert rows in ([], [("refunded", 1)]), (round_number, rows)
    assert postgres_runtime.bus.dead_letters.entries(include_waiting=True) == []
