"""The order's rules on their own: no database, no bus, milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms.errors import Conflict, Invalid
from oms.orders.domain import (
    CANCELLED,
    CONFIRMED,
    CUSTOMER_REQUEST,
    MAX_QUANTITY,
    PAYMENT_DECLINED,
    PENDING,
    PROCESSING,
    SHIPPED,
    LineItem,
    Order,
)

PLACED_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LATER = PLACED_AT + timedelta(seconds=3)
CARD = {"type": "card", "token": "tok_visa"}
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


def _place(*items: LineItem) -> Order:
    lines = list(items) or [LineItem("p-1", 2, Decimal("49.99"))]
    return Order.place("o-1", "u-1", lines, "USD", ADDRESS, CARD, PLACED_AT)


def _in(status: str) -> Order:
    """A placed order moved to `status` along the happy path (or cancelled while pending)."""
    order = _place()
    steps = {
        CONFIRMED: [order.confirm],
        PROCESSING: [order.confirm, order.mark_paid],
        SHIPPED: [order.confirm, order.mark_paid, order.ship],
    }
    for step in steps.get(status, []):
        step(cause="test", now=LATER)
    if status == CANCELLED:
        order.cancel(CUSTOMER_REQUEST, cause="customer", now=LATER)
    order.changes.clear()
    order.announcements.clear()
    order.saga_settled = False
    return order


def test_a_placed_order_is_pending_totals_its_lines_and_announces_order_created() -> None:
    order = _place(LineItem("p-1", 2, Decimal("49.99")), LineItem("p-2", 1, Decimal("0.02")))

    assert order.status == PENDING
    assert order.total_amount == Decimal("100.00")
    assert [(c.type, c.status, c.cause) for c in order.changes] == [
        ("order.created", PENDING, "checkout")
    ]
    [created] = order.announcements
    assert created.type == "order.created"
    assert created.data["totalAmount"] == "100.00"
    assert created.data["items"][0] == {"productId": "p-1", "quantity": 2, "unitPrice": "49.99"}


def test_an_order_above_the_largest_amount_is_refused() -> None:
    with pytest.raises(Invalid) as refused:
        _place(LineItem("p-1", 2, Decimal("50000000.00")))

    assert refused.value.errors == {"items": ["The total must not exceed 99999999.99."]}


def test_the_quantity_cap_counts_lines_of_the_same_product_together() -> None:
    half = MAX_QUANTITY // 2 + 1

    with pytest.raises(Invalid) as refused:
        _place(LineItem("p-1", half, Decimal("1.00")), LineItem("p-1", half, Decimal("1.00")))

    assert "p-1" in refused.value.errors["items"][0]


def test_the_happy_path_goes_pending_confirmed_processing_shipped() -> None:
    order = _place()
    order.announcements.clear()

    order.confirm(cause="inventory.reserved", now=LATER, event_id="e-1")
    order.mark_paid(cause="payment.completed", now=LATER, event_id="e-2")
    order.ship(cause="admin", now=LATER)

    assert order.status == SHIPPED
    assert [(c.type, c.status, c.event_id) for c in order.changes[1:]] == [
        ("order.confirmed", CONFIRMED, "e-1"),
        ("order.processing", PROCESSING, "e-2"),
        ("order.shipped", SHIPPED, None),
    ]
    assert [a.type for a in order.announcements] == ["order.confirmed", "order.shipped"]
    assert order.updated_at == LATER


def test_confirming_announces_what_payments_needs_to_charge() -> None:
    order = _in(PENDING)

    order.confirm(cause="inventory.reserved", now=LATER)

    [confirmed] = order.announcements
    assert confirmed.data == {
        "orderId": "o-1",
        "userId": "u-1",
        "totalAmount": "99.98",
        "currency": "USD",
        "paymentMethod": CARD,
    }


@pytest.mark.parametrize("status", [PENDING, CONFIRMED, PROCESSING])
def test_an_order_can_be_cancelled_before_it_ships_and_announces_what_to_release(
    status: str,
) -> None:
    order = _in(status)

    order.cancel(PAYMENT_DECLINED, cause="payment.failed", now=LATER, event_id="e-9")

    assert (order.status, order.cancel_reason) == (CANCELLED, PAYMENT_DECLINED)
    [cancelled] = order.announcements
    assert cancelled.data == {
        "orderId": "o-1",
        "items": [{"productId": "p-1", "quantity": 2}],
        "reason": PAYMENT_DECLINED,
    }


@pytest.mark.parametrize("status", [SHIPPED, CANCELLED])
def test_a_shipped_or_cancelled_order_cannot_be_cancelled(status: str) -> None:
    order = _in(status)

    with pytest.raises(Conflict, match=f"An order that is {status} cannot be cancelled."):
        order.cancel(CUSTOMER_REQUEST, cause="customer", now=LATER)

    assert order.status == status
    assert (order.changes, order.announcements) == ([], [])


@pytest.mark.parametrize("status", [PENDING, CONFIRMED, SHIPPED, CANCELLED])
def test_only_a_processing_order_ships(status: str) -> None:
    with pytest.raises(Conflict, match="Only a processing order can be shipped"):
        _in(status).ship(cause="admin", now=LATER)


@pytest.mark.parametrize(
    ("status", "move"),
    [
        (PENDING, "mark_paid"),
        (CONFIRMED, "confirm"),
        (PROCESSING, "confirm"),
        (SHIPPED, "mark_paid"),
        (CANCELLED, "confirm"),
        (CANCELLED, "mark_paid"),
    ],
)
def test_a_move_the_state_machine_does_not_allow_is_a_conflict(status: str, move: str) -> None:
    order = _in(status)

    with pytest.raises(Conflict):
        getattr(order, move)(cause="late event", now=LATER)

    assert order.status == status
    assert order.changes == []


def test_the_saga_settles_when_an_order_leaves_pending_or_confirmed() -> None:
    confirmed = _in(PENDING)
    confirmed.confirm(cause="inventory.reserved", now=LATER)
    paid = _in(CONFIRMED)
    paid.mark_paid(cause="payment.completed", now=LATER)
    cancelled_later = _in(PROCESSING)
    cancelled_later.cancel(CUSTOMER_REQUEST, cause="customer", now=LATER)

    assert (confirmed.saga_settled, paid.saga_settled, cancelled_later.saga_settled) == (
        False,
        True,
        False,
    )


def test_a_refund_is_on_the_timeline_without_changing_the_status() -> None:
    order = _in(CANCELLED)

    order.record_refund(cause="refund.created", now=LATER, event_id="e-5")

    assert order.status == CANCELLED
    assert [(c.type, c.status) for c in order.changes] == [("refund.created", CANCELLED)]
    assert order.announcements == []
