"""The orders module: orders, their saga states and their timeline.

Public API: the names below are all that other packages may use.
"""

from oms.orders.domain import (
    CANCELLED,
    IN_FLIGHT,
    INSUFFICIENT_INVENTORY,
    PAYMENT_DECLINED,
    PROCESSING,
    SAGA_DEADLINE,
    SHIPPED,
    STATUSES,
    LineItem,
)
from oms.orders.handlers import event_handlers
from oms.orders.models import MESSAGES, Base
from oms.orders.routes import blueprints
from oms.orders.schemas import (
    ItemRequest,
    OrderPage,
    OrderSchema,
    OrderSearchQuery,
)
from oms.orders.service import (
    OrderAudit,
    OrderFilter,
    OrderRequest,
    OrderView,
    audit_orders,
    cancel_order,
    cancel_overdue_orders,
    count_orders_by_status,
    count_stuck_orders,
    get_order,
    list_orders,
    order_filter,
    place_order,
    search_orders,
    ship_order,
    stuck_orders,
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
    "STATUSES",
    "ItemRequest",
    "LineItem",
    "OrderAudit",
    "OrderFilter",
    "OrderPage",
    "OrderRequest",
    "OrderSchema",
    "OrderSearchQuery",
    "OrderView",
    "audit_orders",
    "blueprints",
    "cancel_order",
    "cancel_overdue_orders",
    "count_orders_by_status",
    "count_stuck_orders",
    "event_handlers",
    "get_order",
    "list_orders",
    "metadata",
    "order_filter",
    "place_order",
    "search_orders",
    "ship_order",
    "stuck_orders",
    "wait_until_settled",
]
