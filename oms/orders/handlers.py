"""Events the orders module consumes: each moves an order along its saga."""

from __future__ import annotations

from oms.bus import Event, Handler, UnitOfWork, events
from oms.bus.catalogue import EventType
from oms.config import Settings
from oms.orders import service
from oms.orders.domain import CONFIRMED, INSUFFICIENT_INVENTORY, PAYMENT_DECLINED, PENDING


def on_inventory_reserved(event: Event, uow: UnitOfWork) -> None:
    service.confirm_order(uow, event)


def on_inventory_insufficient(event: Event, uow: UnitOfWork) -> None:
    service.reject_order(uow, event, PENDING, INSUFFICIENT_INVENTORY)


def on_payment_completed(event: Event, uow: UnitOfWork) -> None:
    service.mark_paid(uow, event)


def on_payment_failed(event: Event, uow: UnitOfWork) -> None:
    service.reject_order(uow, event, CONFIRMED, PAYMENT_DECLINED)


def on_refund_created(event: Event, uow: UnitOfWork) -> None:
    service.record_refund(uow, event)


def event_handlers(settings: Settings) -> dict[EventType, Handler]:
    return {
        events.INVENTORY_RESERVED: on_inventory_reserved,
        events.INVENTORY_INSUFFICIENT: on_inventory_insufficient,
        events.PAYMENT_COMPLETED: on_payment_completed,
        events.PAYMENT_FAILED: on_payment_failed,
        events.REFUND_CREATED: on_refund_created,
    }
