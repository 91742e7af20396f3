"""The payments module: saved cards, charges through the payment gateway, refunds.

Public API: the names below are all that other packages may use.
"""

from oms.payments.handlers import event_handlers
from oms.payments.models import MESSAGES, Base
from oms.payments.routes import blueprints
from oms.payments.schemas import PaymentMethodPage, PaymentMethodSchema, PaymentSchema
from oms.payments.service import (
    COMPLETED,
    REFUNDED,
    PaymentAudit,
    PaymentMethodView,
    PaymentView,
    add_payment_method,
    audit_payments,
    default_payment_method,
    delete_payment_method,
    get_payment_method,
    list_payment_methods,
    mark_default_payment_method,
    payments_of_order,
)

metadata = Base.metadata


__all__ = [
    "COMPLETED",
    "MESSAGES",
    "REFUNDED",
    "PaymentAudit",
    "PaymentMethodPage",
    "PaymentMethodSchema",
    "PaymentMethodView",
    "PaymentSchema",
    "PaymentView",
    "add_payment_method",
    "audit_payments",
    "blueprints",
    "default_payment_method",
    "delete_payment_method",
    "event_handlers",
    "get_payment_method",
    "list_payment_methods",
    "mark_default_payment_method",
    "metadata",
    "payments_of_order",
]
