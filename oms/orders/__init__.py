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
    OrderSearchQuery,
    OrderSummaryPage,
    OrderSummarySchema,
)
from oms.orders.service import (
    CANCELLED,
    INSUFFICIENT_INVENTORY,
    PAYMENT_DECLINED,
    STATUSES,
    LineItem,
    OrderFilter,
    OrderRequest,
    OrderView,
    cancel_order,
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
    "MESSAGES",
    "PAYMENT_DECLINED",
    "STATUSES",
    "ItemRequest",
    "LineItem",
    "OrderFilter",
    "OrderPage",
    "OrderRequest",
    "OrderSchema",
    "OrderSearchQuery",
    "OrderSummaryPage",
    "OrderSummarySchema",
    "OrderView",
    "blueprints",
    "cancel_order",
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
