"""Events the payments module consumes: charge confirmed orders, refund cancelled ones."""

from __future__ import annotations

from decimal import Decimal

from oms.bus import Event, Handler, UnitOfWork, events
from oms.bus.catalogue import EventType
from oms.config import Settings
from oms.payments import service
from oms.payments.gateway import PaymentGateway, gateway_named


def order_payment(event: Event, default_currency: str) -> service.OrderPayment:
    data = event.data
    return service.OrderPayment(
        order_id=data["orderId"],
        user_id=data["userId"],
        amount=Decimal(data["totalAmount"]),
        currency=data.get("currency", default_currency),
        method=data.get("paymentMethod", {}),
    )


def event_handlers(settings: Settings) -> dict[EventType, Handler]:
    gateway: PaymentGateway = gateway_named(settings.payment_gateway)

    def on_order_confirmed(event: Event, uow: UnitOfWork) -> None:
        service.charge_order(uow, gateway, order_payment(event, settings.currency))

    def on_order_cancelled(event: Event, uow: UnitOfWork) -> None:
        service.compensate_cancelled_order(uow, gateway, event.data["orderId"])

    return {
        events.ORDER_CONFIRMED: on_order_confirmed,
        events.ORDER_CANCELLED: on_order_cancelled,
    }
