"""The orders module: orders, their saga states and their timeline.

Public API: the names below are all that other packages may use.
"""

from oms.orders.handlers import event_handlers
from oms.orders.models import MESSAGES, Base
from oms.orders.routes import blueprints
from oms.orders.schemas import (
    ItemRequest,
    OrderPage,
    OrderSchema,
    OrderSummaryPage,
    OrderSummarySchema,
)
from oms.orders.service import (
    CANCELLED,
    IN_FLIGHT,
    INSUFFICIENT_INVENTORY,
    PAYMENT_DECLINED,
    PROCESSING,
    SAGA_DEADLINE,
    SHIPPED,
    LineItem,
    OrderAudit,
    OrderRequest,
    OrderView,
    audit_orders,
    cancel_order,
    cancel_overdue_orders,
    get_order,
    list_orders,
    place_order,
    ship_order,
    wait_until_settled,
)

metadata = Base.metadata

__all__ = [
    "CANCELLED",
    "INSUFFICIENT_INVENTORY",
    "IN_FLIGHT",
    "MESSAGES",
    "PAYMENT_DECLINED",
    "PROCESSING",
    "SAGA_DEADLINE",
    "SHIPPED",
    "ItemRequest",
    "LineItem",
    "OrderAudit",
    "OrderPage",
    "OrderRequest",
    "OrderSchema",
    "OrderSummaryPage",
    "OrderSummarySchema",
    "OrderView",
    "audit_orders",
    "blueprints",
    "cancel_order",
    "cancel_overdue_orders",
    "event_handlers",
    "get_order",
    "list_orders",
    "metadata",
    "place_order",
    "ship_order",
    "wait_until_settled",
]
