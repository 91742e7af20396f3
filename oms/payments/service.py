"""Use cases of the payments module: saved cards, charging orders, refunding them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Connection, bindparam, exists, func, insert, select
from sqlalchemy.orm import Session

from oms.bus import UnitOfWork, events
from oms.db import (
    Page,
    choose_default,
    lock_for_transaction,
    owned_by,
    read_first,
    read_page,
    utc_now,
)
from oms.errors import Conflict, NotFound
from oms.money import format_money
from oms.payments.gateway import PaymentGateway, gateway_named
from oms.payments.models import MESSAGES, CancelledOrder, Payment, PaymentMethod, Refund
from oms.runtime import Runtime
from oms.statements import execute, execute_later

PENDING, COMPLETED, FAILED, REFUNDED, CANCELLED = (
    "pending",
    "completed",
    "failed",
    "refunded",
    "cancelled",
)
UNKNOWN_METHOD = "payment_method_not_found"
PAYMENT_COLUMNS = tuple(Payment.__table__.columns)
NEW_PAYMENT = insert(Payment.__table__)
SETTLED_OR_CHARGED = (
    select(CancelledOrder.order_id)
    .where(CancelledOrder.order_id == bindparam("order_id"))
    .union_all(select(Payment.order_id).where(Payment.order_id == bindparam("order_id")))
    .limit(1)
)
PAYMENT_IDS = uuid.UUID("6f1c2a4e-4d1b-5a8e-9c3f-0b7e2d5a9c10")  # the namespace of payment ids


@dataclass(frozen=True)
class PaymentMethodView:
    payment_method_id: str
    user_id: str
    type: str
    brand: str | None
    last4: str | None
    created_at: datetime
    is_default: bool

    @classmethod
    def of(cls, method: PaymentMethod) -> PaymentMethodView:
        return cls(
            method.id,
            method.user_id,
            method.type,
            method.brand,
            method.last4,
            method.created_at,
            method.is_default,
        )


@dataclass(frozen=True)
class RefundView:
    refund_id: str
    amount: Decimal
    created_at: datetime


@dataclass(frozen=True)
class PaymentView:
    payment_id: str
    order_id: str
    user_id: str
    amount: Decimal
    currency: str
    status: str
    failure_reason: str | None
    refunds: list[RefundView]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, payment: Payment) -> PaymentView:
        return cls(
            payment.id,
            payment.order_id,
            payment.user_id,
            payment.amount,
            payment.currency,
            payment.status,
            payment.failure_reason,
            [RefundView(r.id, r.amount, r.created_at) for r in payment.refunds],
            payment.created_at,
            payment.updated_at,
        )


@dataclass(frozen=True)
class OrderPayment:
    """What payments needs to know of an order to charge it."""

    order_id: str
    user_id: str
    amount: Decimal
    currency: str
    method: dict


def add_payment_method(rt: Runtime, user_id: str, type: str, token: str) -> PaymentMethodView:
    """Save a card; a user's first saved card becomes their default."""
    card = gateway_named(rt.settings.payment_gateway).describe(token)
    method = PaymentMethod(
        id=str(uuid.uuid4()),
        user_id=user_id,
        type=type,
        token=token,
        brand=card.brand,
        last4=card.last4,
        created_at=utc_now(),
    )
    with rt.bus.unit_of_work(MESSAGES) as uow:
        has_one = uow.session.scalar(select(exists().where(_saved_by(user_id))))
        method.is_default = not has_one
        uow.session.add(method)
    return PaymentMethodView.of(method)


def list_payment_methods(rt: Runtime, user_id: str, page: int, page_size: int) -> Page:
    query = select(PaymentMethod).where(_saved_by(user_id))
    order_by = (PaymentMethod.created_at, PaymentMethod.id)
    return read_page(rt.database, query, order_by, page, page_size, PaymentMethodView.of)


def get_payment_method(
    rt: Runtime, payment_method_id: str, owner_id: str | None = None
) -> PaymentMethodView:
    """A saved card; with `owner_id`, another user's card is not found (not forbidden)."""
    with rt.database.reading() as session:
        method = session.get(PaymentMethod, payment_method_id)
    hidden = method is None or method.deleted_at is not None
    if hidden or (owner_id is not None and method.user_id != owner_id):
        raise NotFound("No such payment method.")
    return PaymentMethodView.of(method)


def default_payment_method(rt: Runtime, user_id: str) -> PaymentMethodView | None:
    query = select(PaymentMethod).where(_saved_by(user_id), PaymentMethod.is_default)
    return read_first(rt.database, query, PaymentMethodView.of)


def mark_default_payment_method(
    rt: Runtime, user_id: str, payment_method_id: str, is_default: bool = True
) -> PaymentMethodView:
    """Make this card the user's default (the previous default stops being one)."""
    with rt.bus.unit_of_work(MESSAGES) as uow:
        method = _own_method(uow.session, user_id, payment_method_id)
        choose_default(uow.session, PaymentMethod, method, is_default)
    return PaymentMethodView.of(method)


def delete_payment_method(rt: Runtime, user_id: str, payment_method_id: str) -> None:
    """Hide a saved card from its owner for good. The row stays, so that an order placed
    with it and not yet charged can still be charged, and a charged one refunded."""
    with rt.bus.unit_of_work(MESSAGES) as uow:
        method = _own_method(uow.session, user_id, payment_method_id)
        method.deleted_at = utc_now()
        method.is_default = False


def _saved_by(user_id: str) -> ColumnElement[bool]:
    return (PaymentMethod.user_id == user_id) & PaymentMethod.deleted_at.is_(None)


def _own_method(session: Session, user_id: str, payment_method_id: str) -> PaymentMethod:
    method = owned_by(session, PaymentMethod, payment_method_id, user_id)
    if method is None or method.deleted_at is not None:
        raise NotFound("No such payment method.")
    return method


def payments_of_order(rt: Runtime, order_id: str) -> list[PaymentView]:
    with rt.database.reading() as session:
        rows = session.scalars(select(Payment).where(Payment.order_id == order_id)).all()
        return [PaymentView.of(row) for row in rows]


def pay_order(rt: Runtime, order: OrderPayment) -> PaymentView:
    """Charge an order outside the saga (the payments port); one payment per order."""
    gateway = gateway_named(rt.settings.payment_gateway)
    with rt.bus.unit_of_work(MESSAGES) as uow:
        if _payment_of(uow.session, order.order_id) is not None:
            raise Conflict("This order already has a payment.")
        payment = _new_payment(order)
        uow.session.add(payment)
        _charge(uow, gateway, payment)
        uow.session.flush()
        view = PaymentView.of(payment)
    return view


def charge_order(uow: UnitOfWork, gateway: PaymentGateway, order: OrderPayment) -> None:
    """Charge a confirmed order once; a cancelled or already charged order is left alone."""
    connection = uow.connection
    _one_order_at_a_time(connection, order.order_id)
    if execute(connection, SETTLED_OR_CHARGED, {"order_id": order.order_id}).first() is not None:
        return  # order.cancelled came first (never charged), or it is charged already
    payment = _new_payment(order)
    _charge(uow, gateway, payment)
    execute_later(connection, NEW_PAYMENT, _row_of(payment))


def compensate_cancelled_order(uow: UnitOfWork, gateway: PaymentGateway, order_id: str) -> None:
    """Refund what was charged; make sure what was not charged never will be."""
    _one_order_at_a_time(uow.connection, order_id)
    payment = _payment_of(uow.session, order_id)
    if payment is None:
        uow.session.add(CancelledOrder(order_id=order_id, cancelled_at=utc_now()))
    elif payment.status == PENDING:
        _settle(payment, CANCELLED)
    elif payment.status == COMPLETED:
        _refund(uow, gateway, payment)


@dataclass(frozen=True)
class PaymentAudit:
    """One order's payment as the audit sees it."""

    order_id: str
    status: str
    amount: Decimal
    refunds: int


def audit_payments(rt: Runtime) -> dict[str, list[PaymentAudit]]:
    """Every payment and how many refunds it has, by order id."""
    with rt.database.reading() as session:
        refunds = dict(
            session.execute(
                select(Refund.payment_id, func.count()).group_by(Refund.payment_id)
            ).all()
        )
        rows = session.execute(
            select(Payment.id, Payment.order_id, Payment.status, Payment.amount)
        ).all()
    by_order: dict[str, list[PaymentAudit]] = {}
    for row in rows:
        by_order.setdefault(row.order_id, []).append(
            PaymentAudit(row.order_id, row.status, row.amount, refunds.get(row.id, 0))
        )
    return by_order


def _charge(uow: UnitOfWork, gateway: PaymentGateway, payment: Payment) -> None:
    token = _token_for(uow, payment)
    if token is None:
        _decline(uow, payment, UNKNOWN_METHOD)
        return
    # The payment id is the gateway's idempotency key: a redelivered event cannot charge twice.
    charge = gateway.charge(token, payment.amount, payment.currency, idempotency_key=payment.id)
    payment.charge_id = charge.charge_id
    if not charge.succeeded:
        _decline(uow, payment, charge.decline_reason or "declined")
        return
    _settle(payment, COMPLETED)
    uow.publish(
        events.PAYMENT_COMPLETED,
        {
            "orderId": payment.order_id,
            "paymentId": payment.id,
            "amount": format_money(payment.amount),
        },
        correlation_id=payment.order_id,
    )


def _decline(uow: UnitOfWork, payment: Payment, reason: str) -> None:
    payment.failure_reason = reason
    _settle(payment, FAILED)
    uow.publish(
        events.PAYMENT_FAILED,
        {"orderId": payment.order_id, "paymentId": payment.id, "reason": reason},
        correlation_id=payment.order_id,
    )


def _refund(uow: UnitOfWork, gateway: PaymentGateway, payment: Payment) -> None:
    refund_id = str(uuid.uuid4())
    gateway_refund_id = gateway.refund(
        payment.charge_id or "", payment.amount, idempotency_key=f"refund-{payment.id}"
    )
    payment.refunds.append(
        Refund(
            id=refund_id,
            payment_id=payment.id,
            amount=payment.amount,
            gateway_refund_id=gateway_refund_id,
            created_at=utc_now(),
        )
    )
    _settle(payment, REFUNDED)
    uow.publish(
        events.REFUND_CREATED,
        {
            "orderId": payment.order_id,
            "paymentId": payment.id,
            "refundId": refund_id,
            "amount": format_money(payment.amount),
        },
        correlation_id=payment.order_id,
    )


def _settle(payment: Payment, status: str) -> None:
    payment.status = status
    payment.updated_at = utc_now()


def _token_for(uow: UnitOfWork, payment: Payment) -> str | None:
    if "token" in payment.method:
        return payment.method["token"]
    method = uow.session.get(PaymentMethod, payment.method.get("paymentMethodId", ""))
    if method is None or method.user_id != payment.user_id:
        return None
    return method.token


def _one_order_at_a_time(connection: Connection, order_id: str) -> None:
    """The one place where order.confirmed and order.cancelled of the same order, handled
    at once by competing consumers, meet: the second waits for the first to commit, then
    sees its charge (and refunds it) or its tombstone (and charges nothing)."""
    lock_for_transaction(connection, f"payments:{order_id}", with_next_statement=True)


def _payment_of(session: Session, order_id: str) -> Payment | None:
    return session.scalars(
        select(Payment).where(Payment.order_id == order_id).with_for_update()
    ).first()


def _row_of(payment: Payment) -> dict:
    """A new payment as plain column values: inserted without the ORM's flush."""
    return {column.key: getattr(payment, column.key) for column in PAYMENT_COLUMNS}


def _new_payment(order: OrderPayment) -> Payment:
    now = utc_now()
    return Payment(
        # One payment per order, with an id its order decides: a handler retried after
        # the gateway charged but before its commit charges again under the same
        # idempotency key, which the gateway answers with the first charge.
        id=str(uuid.uuid5(PAYMENT_IDS, order.order_id)),
        order_id=order.order_id,
        user_id=order.user_id,
        amount=order.amount,
        currency=order.currency,
        status=PENDING,
        method=order.method,
        created_at=now,
        updated_at=now,
    )
