"""The products module: the catalogue and its stock, held and released for orders.

Public API: the names below are all that other packages may use.
"""

from oms.products.handlers import event_handlers
from oms.products.models import MESSAGES, Base
from oms.products.routes import blueprints
from oms.products.schemas import (
    NewProduct,
    ProductChanges,
    ProductPage,
    ProductQuery,
    ProductSchema,
    StockChange,
)
from oms.products.service import (
    RESERVED,
    ProductView,
    StockAudit,
    StockHoldView,
    adjust_stock,
    audit_stock,
    count_stock_holds,
    create_product,
    get_product,
    get_products,
    list_products,
    stock_hold_of,
    update_product,
)

metadata = Base.metadata

__all__ = [
    "MESSAGES",
    "RESERVED",
    "NewProduct",
    "ProductChanges",
    "ProductPage",
    "ProductQuery",
    "ProductSchema",
    "ProductView",
    "StockAudit",
    "StockChange",
    "StockHoldView",
    "adjust_stock",
    "audit_stock",
    "blueprints",
    "count_stock_holds",
    "create_product",
    "event_handlers",
    "get_product",
    "get_products",
    "list_products",
    "metadata",
    "stock_hold_of",
    "update_product",
]
