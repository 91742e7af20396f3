"""The webhooks module: HTTP endpoints that subscribe to OMS events, and their deliveries.

Public API: the names below are all that other packages may use.
"""

from oms.webhooks.handlers import event_handlers
from oms.webhooks.models import MESSAGES, Base
from oms.webhooks.routes import blueprints
from oms.webhooks.sender import signature
from oms.webhooks.service import (
    DeliveryView,
    EndpointView,
    deliver_due,
    list_deliveries,
    redeliver,
    register_endpoint,
)

metadata = Base.metadata

__all__ = [
    "MESSAGES",
    "DeliveryView",
    "EndpointView",
    "blueprints",
    "deliver_due",
    "event_handlers",
    "list_deliveries",
    "metadata",
    "redeliver",
    "register_endpoint",
    "signature",
]
