"""One order's saga across modules, in time order: what each module did and when.

Built only from the modules' public read functions and the bus's own records (inbox
entries and waiting outbox rows for the order's correlation id), plus dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from oms import orders, payments, products, users
from oms.runtime import Runtime

LANES = ("orders", "products", "payments", "users")


@dataclass(frozen=True)
class Entry:
    at: datetime
    lane: str  # the module it happened in
    kind: str  # state, handled, waiting, stock, payment, refund, dead-letter
    title: str
    detail: str = ""


@dataclass(frozen=True)
class Timeline:
    order: orders.OrderView
    customer: users.UserView | None
    entries: list[Entry]
    lanes: tuple[str, ...]

    @property
    def started(self) -> datetime:
        return self.order.created_at

    def offset_ms(self, entry: Entry) -> float:
        return (entry.at - self.started).total_seconds() * 1000

    @property
    def settled_after_ms(self) -> float | None:
        settled = [
            e
            for e in self.entries
            if e.kind == "state"
            and e.detail.split(" ")[0] in ("processing", "cancelled", "shipped")
        ]
        return self.offset_ms(settled[0]) if settled else None


def order_timeline(rt: Runtime, order_id: str) -> Timeline:
    order = orders.get_order(rt, order_id)
    entries = [
        Entry(event.at, "orders", "state", event.type, f"{event.status} (cause: {event.cause})")
        for event in order.events
    ]
    entries += _stock_entries(rt, order_id)
    entries += _payment_entries(rt, order_id)
    entries += _bus_entries(rt, order)
    entries.sort(key=lambda entry: entry.at)
    entries += _dead_letter_entries(rt, order)
    seen = {entry.lane for entry in entries}
    lanes = tuple(lane for lane in LANES if lane != "users" or lane in seen)
    lanes += tuple(sorted(seen - set(lanes)))  # e.g. a consumer outside the four modules
    customer = users.get_users(rt, [order.user_id]).get(order.user_id)
    return Timeline(order, customer, entries, lanes)


def _stock_entries(rt: Runtime, order_id: str) -> list[Entry]:
    hold = products.stock_hold_of(rt, order_id)
    if hold is None:
        return []
    units = sum(hold.items.values())
    detail = f"{units} units" if units else ""
    return [Entry(hold.updated_at, "products", "stock", f"stock {hold.state}", detail)]


def _payment_entries(rt: Runtime, order_id: str) -> list[Entry]:
    entries = []
    for payment in payments.payments_of_order(rt, order_id):
        amount = f"{payment.amount} {payment.currency}"
        entries.append(Entry(payment.created_at, "payments", "payment", "payment recorded", amount))
        if payment.status != "pending":
            reason = f" ({payment.failure_reason})" if payment.failure_reason else ""
            title = f"payment {payment.status}"
            entries.append(Entry(payment.updated_at, "payments", "payment", title, amount + reason))
        entries += [
            Entry(refund.created_at, "payments", "refund", "refund", f"{refund.amount}")
            for refund in payment.refunds
        ]
    return entries


def _bus_entries(rt: Runtime, order: orders.OrderView) -> list[Entry]:
    entries = []
    for record in rt.bus.message_records(order.order_id, ()):
        if record.kind == "inbox":
            entries.append(Entry(record.at, record.module, "handled", f"handled {record.type}"))
        else:
            title = f"{record.type} waiting in outbox"
            entries.append(Entry(record.at, record.module, "waiting", title))
    return entries


def _dead_letter_entries(rt: Runtime, order: orders.OrderView) -> list[Entry]:
    """Dead letters of this order, and deliveries waiting for their next try."""
    letters = [
        letter
        for letter in rt.bus.dead_letters.entries(include_waiting=True)
        if letter.correlation_id == order.order_id
    ]
    return sorted(
        (
            Entry(
                letter.last_failed_at,
                letter.module,
                "dead-letter" if letter.retry_at is None else "retry",
                f"{'dead letter' if letter.retry_at is None else 'retry waiting'}: "
                f"{letter.event_type or letter.kind}",
                f"{letter.attempts} attempt(s): {letter.last_error}",
            )
            for letter in letters
        ),
        key=lambda entry: entry.at,
    )
