"""Events the products module consumes: orders come in and go away, stock follows."""

from __future__ import annotations

from collections import Counter

from oms.bus import Event, Handler, UnitOfWork, events
from oms.bus.catalogue import EventType
from oms.config import Settings
from oms.products import service


def on_order_created(event: Event, uow: UnitOfWork) -> None:
    wanted: Counter[str] = Counter()
    for item in event.data["items"]:
        wanted[item["productId"]] += item["quantity"]
    service.reserve_stock(uow, event.data["orderId"], dict(wanted))


def on_order_cancelled(event: Event, uow: UnitOfWork) -> None:
    service.release_stock(uow, event.data["orderId"])


def event_handlers(settings: Settings) -> dict[EventType, Handler]:
    return {
        events.ORDER_CREATED: on_order_created,
        events.ORDER_CANCELLED: on_order_cancelled,
    }
