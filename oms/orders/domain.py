"""The order and its rules: what an order may become, and what each change announces.

Plain Python: no database, no HTTP. The service loads an `Order`, calls one of its
methods, stores what changed and publishes what the order announced.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from oms.errors import Conflict, Invalid
from oms.money import AMOUNTS, format_money, to_money

PENDING, CONFIRMED, PROCESSING, SHIPPED, CANCELLED = (
    "pending",
    "confirmed",
    "processing",
    "shipped",
    "cancelled",
)
STATUSES = (PENDING, CONFIRMED, PROCESSING, SHIPPED, CANCELLED)
IN_FLIGHT = (PENDING, CONFIRMED)  # the checkout saga has not settled yet
NEXT_STATUSES = {
    PENDING: {CONFIRMED, CANCELLED},
    CONFIRMED: {PROCESSING, CANCELLED},
    PROCESSING: {SHIPPED, CANCELLED},
}
# Why an order was cancelled.
INSUFFICIENT_INVENTORY = "insufficient_inventory"
PAYMENT_DECLINED = "payment_declined"
CUSTOMER_REQUEST = "customer_request"
SAGA_DEADLINE = "saga_deadline"
MAX_QUANTITY = 1000  # of one product in one order


@dataclass(frozen=True)
class LineItem:
    product_id: str
    quantity: int
    unit_price: Decimal

    @property
    def line_total(self) -> Decimal:
        return to_money(self.unit_price * self.quantity)


def total_of(items: list[LineItem]) -> Decimal:
    return to_money(sum((item.line_total for item in items), Decimal(0)))


@dataclass(frozen=True)
class Change:
    """One entry of the order's timeline: what happened, the status after it, and why."""

    type: str
    status: str
    cause: str
    at: datetime
    event_id: str | None = None


@dataclass(frozen=True)
class Announcement:
    """An event the order publishes once its change is stored; `type` names it in the
    event catalogue."""

    type: str
    data: dict[str, Any]


@dataclass
class Order:
    """An order being placed or moved along its saga. Each method checks the rule,
    changes the order, and appends to `changes` (its timeline) and `announcements`."""

    id: str
    user_id: str
    status: str
    total_amount: Decimal
    currency: str
    items: list[LineItem]
    shipping_address: dict
    payment_method: dict
    created_at: datetime
    updated_at: datetime
    cancel_reason: str | None = None
    changes: list[Change] = field(default_factory=list)
    announcements: list[Announcement] = field(default_factory=list)
    saga_settled: bool = False  # by a change since the order was loaded

    @classmethod
    def place(
        cls,
        order_id: str,
        user_id: str,
        items: list[LineItem],
        currency: str,
        shipping_address: dict,
        payment_method: dict,
        now: datetime,
    ) -> Order:
        """A new pending order, if its lines and total are within the limits."""
        total = total_of(items)
        if total not in AMOUNTS:
            raise Invalid(
                "The order is too large.",
                {"items": [f"The total must not exceed {AMOUNTS.maximum}."]},
            )
        _check_quantities(items)
        order = cls(
            order_id,
            user_id,
            PENDING,
            total,
            currency,
            list(items),
            shipping_address,
            payment_method,
            created_at=now,
            updated_at=now,
        )
        order.changes.append(Change("order.created", PENDING, "checkout", now))
        order.announcements.append(Announcement("order.created", order._created_data()))
        return order

    @property
    def is_settled(self) -> bool:
        return self.status not in IN_FLIGHT

    @property
    def can_be_cancelled(self) -> bool:
        return CANCELLED in NEXT_STATUSES.get(self.status, ())

    def confirm(self, cause: str, now: datetime, event_id: str | None = None) -> None:
        """Stock is held: the order waits for its payment."""
        self._move(CONFIRMED, "order.confirmed", cause, now, event_id)
        self.announcements.append(
            Announcement(
                "order.confirmed",
                {
                    "orderId": self.id,
                    "userId": self.user_id,
                    "totalAmount": format_money(self.total_amount),
                    "currency": self.currency,
                    "paymentMethod": self.payment_method,
                },
            )
        )

    def mark_paid(self, cause: str, now: datetime, event_id: str | None = None) -> None:
        self._move(PROCESSING, "order.processing", cause, now, event_id)

    def ship(self, cause: str, now: datetime) -> None:
        if self.status != PROCESSING:
            raise Conflict(f"Only a processing order can be shipped; this one is {self.status}.")
        self._move(SHIPPED, "order.shipped", cause, now)
        self.announcements.append(Announcement("order.shipped", {"orderId": self.id}))

    def cancel(self, reason: str, cause: str, now: datetime, event_id: str | None = None) -> None:
        """Cancelled before shipping: its stock is to be released and any charge refunded."""
        if not self.can_be_cancelled:
            raise Conflict(f"An order that is {self.status} cannot be cancelled.")
        self.cancel_reason = reason
        self._move(CANCELLED, "order.cancelled", cause, now, event_id)
        items = [{"productId": i.product_id, "quantity": i.quantity} for i in self.items]
        self.announcements.append(
            Announcement("order.cancelled", {"orderId": self.id, "items": items, "reason": reason})
        )

    def record_refund(self, cause: str, now: datetime, event_id: str | None = None) -> None:
        """A refund changes no status; the timeline shows it."""
        self.changes.append(Change("refund.created", self.status, cause, now, event_id))

    def _move(
        self, status: str, change: str, cause: str, now: datetime, event_id: str | None = None
    ) -> None:
        if status not in NEXT_STATUSES.get(self.status, ()):
            raise Conflict(f"An order cannot go from {self.status} to {status}.")
        if self.status in IN_FLIGHT and status not in IN_FLIGHT:
            self.saga_settled = True
        self.status = status
        self.updated_at = now
        self.changes.append(Change(change, status, cause, now, event_id))

    def _created_data(self) -> dict[str, Any]:
        return {
            "orderId": self.id,
            "userId": self.user_id,
            "items": [
                {
                    "productId": item.product_id,
                    "quantity": item.quantity,
                    "unitPrice": format_money(item.unit_price),
                }
                for item in self.items
            ],
            "totalAmount": format_money(self.total_amount),
            "currency": self.currency,
            "paymentMethod": self.payment_method,
        }


def _check_quantities(items: list[LineItem]) -> None:
    """The quantity cap holds per product, after lines naming the same product are added up."""
    per_product: Counter[str] = Counter()
    for line in items:
        per_product[line.product_id] += line.quantity
    too_many = sorted(pid for pid, quantity in per_product.items() if quantity > MAX_QUANTITY)
    if too_many:
        raise Invalid(
            "Too many of one product.",
            {"items": [f"At most {MAX_QUANTITY} of product {pid} per order." for pid in too_many]},
        )
