"""`oms audit`: the invariants that hold across modules when no order is left behind.

Each module answers for its own data through its public API; this checks that their
answers agree. An order whose saga is still within its deadline is not judged yet,
and a cancelled order changed within the last `settle_seconds` may still have its
compensation (stock release, refund) in flight, so its compensation is not judged yet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from oms import orders, payments, products
from oms.db import utc_now
from oms.runtime import Runtime

OUTBOX_AGE_FACTOR = 10  # an outbox row older than this many relay grace periods is stuck


@dataclass(frozen=True)
class Problem:
    check: str
    subject: str
    detail: str


@dataclass(frozen=True)
class AuditReport:
    orders: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        return {
            "ok": self.ok,
            "orders": self.orders,
            "problems": [asdict(p) for p in self.problems],
        }

    def as_text(self) -> str:
        if self.ok:
            return f"audit passed: {self.orders} orders, every invariant holds"
        lines = [f"audit FAILED: {len(self.problems)} problem(s) in {self.orders} orders"]
        lines += [f"- {p.check}: {p.subject}: {p.detail}" for p in self.problems]
        return "\n".join(lines)


def audit(rt: Runtime, settle_seconds: float = 10.0) -> AuditReport:
    now = utc_now()
    all_orders = orders.audit_orders(rt)
    stock = products.audit_stock(rt)
    charges = payments.audit_payments(rt)
    settled_before = now - timedelta(seconds=settle_seconds)
    problems = [
        *_stuck_orders(rt, all_orders, now),
        *_unbalanced_stock(stock),
        *_payments_and_holds(all_orders, charges, stock.holds, settled_before),
        *_strangers(all_orders, charges, stock.holds),
        *_stale_outboxes(rt, now),
        *_dead_letters(rt),
    ]
    return AuditReport(len(all_orders), problems)


def _stuck_orders(rt: Runtime, all_orders: list[orders.OrderAudit], now: datetime) -> list[Problem]:
    settings = rt.settings
    # The sweep runs every relay interval: allow it a few rounds past the deadline.
    limit = now - timedelta(
        seconds=settings.saga_deadline_seconds + 3 * settings.relay_interval_seconds
    )
    return [
        Problem("stuck order", order.order_id, f"still {order.status} since {order.created_at}")
        for order in all_orders
        if order.status in orders.IN_FLIGHT and order.created_at < limit
    ]


def _unbalanced_stock(stock: products.StockAudit) -> list[Problem]:
    return [
        Problem("stock ledger", product_id, f"{available} available, movements add up to {ledger}")
        for product_id, (available, ledger) in stock.unbalanced.items()
    ]


def _payments_and_holds(
    all_orders: list[orders.OrderAudit],
    charges: dict[str, list[payments.PaymentAudit]],
    holds: dict[str, str],
    settled_before: datetime,
) -> list[Problem]:
    problems = []
    for order in all_orders:
        found = charges.get(order.order_id, [])
        if order.status in (orders.PROCESSING, orders.SHIPPED):
            problems += _paid_once(order, found)
        elif order.status == orders.CANCELLED and order.updated_at <= settled_before:
            problems += _compensated(order, found, holds.get(order.order_id))
    return problems


def _paid_once(order: orders.OrderAudit, found: list[payments.PaymentAudit]) -> list[Problem]:
    paid = [p for p in found if p.status == payments.COMPLETED]
    if len(paid) == 1 and paid[0].amount == order.total_amount:
        return []
    amounts = ", ".join(str(p.amount) for p in paid) or "none"
    detail = f"{order.status} for {order.total_amount}; completed payments: {amounts}"
    return [Problem("payment", order.order_id, detail)]


def _compensated(
    order: orders.OrderAudit, found: list[payments.PaymentAudit], hold: str | None
) -> list[Problem]:
    problems = [
        Problem("refund", order.order_id, "cancelled, but charged and not refunded")
        for p in found
        if p.status == payments.COMPLETED
    ]
    problems += [
        Problem("refund", order.order_id, f"refunded {p.refunds} times")
        for p in found
        if p.status == payments.REFUNDED and p.refunds != 1
    ]
    if hold == products.RESERVED:
        problems.append(Problem("stock hold", order.order_id, "cancelled, but stock still held"))
    return problems


def _strangers(
    all_orders: list[orders.OrderAudit],
    charges: dict[str, list[payments.PaymentAudit]],
    holds: dict[str, str],
) -> list[Problem]:
    known = {order.order_id for order in all_orders}
    held = [
        Problem("unknown order", order_id, f"stock {state} for an order that orders never had")
        for order_id, state in holds.items()
        if order_id not in known and state == products.RESERVED
    ]
    charged = [
        Problem("unknown order", order_id, f"a {payment.status} payment of {payment.amount}")
        for order_id, found in charges.items()
        if order_id not in known
        for payment in found
        if payment.status in (payments.COMPLETED, payments.REFUNDED)
    ]
    return held + charged


def _stale_outboxes(rt: Runtime, now: datetime) -> list[Problem]:
    limit = now - timedelta(seconds=OUTBOX_AGE_FACTOR * rt.settings.relay_grace_seconds)
    return [
        Problem("outbox", module, f"{waiting} event(s) unpublished, the oldest since {oldest}")
        for module, (waiting, oldest) in rt.bus.outbox_backlog().items()
        if oldest is not None and oldest < limit
    ]


def _dead_letters(rt: Runtime) -> list[Problem]:
    return [
        Problem("dead letters", module, f"{count} dead letter(s): see `oms dead-letters list`")
        for module, count in rt.bus.dead_letters.counts().items()
        if count
    ]
