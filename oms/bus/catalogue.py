"""Every event OMS publishes: its name, its publisher, its version and its payload schema.

This catalogue is the one thing modules share. A consumer reads an event's payload
through the schema here, never through the publisher's code. A new optional field
keeps an event's version; any other change is a new version published beside the old.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from marshmallow import INCLUDE, Schema, fields, validate

from oms.bus.envelope import Event, MalformedEvent
from oms.money import AMOUNT_TEXT

MONEY = validate.Regexp(rf"^{AMOUNT_TEXT}\Z", error="Not a money amount with two decimals.")


class Payload(Schema):
    class Meta:
        unknown = INCLUDE  # fields added later (same version) must not break older consumers


def _money() -> fields.String:
    return fields.String(required=True, validate=MONEY)


def _uuid() -> fields.UUID:
    return fields.UUID(required=True)


class UserCreated(Payload):
    userId = _uuid()
    email = fields.Email(required=True)
    firstName = fields.String(required=True)
    lastName = fields.String(required=True)


class UserUpdated(Payload):
    """The user's id and the fields that changed."""

    userId = _uuid()
    firstName = fields.String()
    lastName = fields.String()


class ProductCreated(Payload):
    productId = _uuid()
    name = fields.String(required=True)
    sku = fields.String(required=True)
    price = _money()


class ProductUpdated(Payload):
    productId = _uuid()
    name = fields.String()
    price = fields.String(validate=MONEY)
    description = fields.String(allow_none=True)


class ItemQuantity(Payload):
    productId = _uuid()
    quantity = fields.Integer(required=True, validate=validate.Range(min=1))


class PricedItem(ItemQuantity):
    unitPrice = _money()


class PaymentMethodReference(Payload):
    type = fields.String(required=True, validate=validate.Equal("card"))
    token = fields.String()
    paymentMethodId = fields.UUID()


class OrderCreated(Payload):
    orderId = _uuid()
    userId = _uuid()
    items = fields.List(fields.Nested(PricedItem), required=True, validate=validate.Length(min=1))
    totalAmount = _money()
    currency = fields.String(required=True)
    paymentMethod = fields.Nested(PaymentMethodReference, required=True)


class InventoryReserved(Payload):
    orderId = _uuid()
    items = fields.List(fields.Nested(ItemQuantity), required=True)


class Shortage(Payload):
    productId = _uuid()
    requested = fields.Integer(required=True)
    available = fields.Integer(required=True)


class InventoryInsufficient(Payload):
    orderId = _uuid()
    shortages = fields.List(fields.Nested(Shortage), required=True)


class OrderConfirmed(Payload):
    orderId = _uuid()
    userId = _uuid()
    totalAmount = _money()
    # Optional additions (same version): all payments needs to charge the order, so
    # that it charges from order.confirmed alone, whatever else it has seen.
    currency = fields.String()
    paymentMethod = fields.Nested(PaymentMethodReference)


class PaymentCompleted(Payload):
    orderId = _uuid()
    paymentId = _uuid()
    amount = _money()


class PaymentFailed(Payload):
    orderId = _uuid()
    paymentId = _uuid()
    reason = fields.String(required=True)


class OrderCancelled(Payload):
    orderId = _uuid()
    items = fields.List(fields.Nested(ItemQuantity), required=True)
    reason = fields.String(required=True)


class OrderShipped(Payload):
    orderId = _uuid()


class RefundCreated(Payload):
    orderId = _uuid()
    paymentId = _uuid()
    refundId = _uuid()
    amount = _money()


@dataclass(frozen=True)
class EventType:
    name: str
    publisher: str
    payload: type[Schema]
    version: int = 1

    @property
    def dataschema(self) -> str:
        return f"urn:oms:events:{self.name}:v{self.version}"

    @cached_property
    def _validator(self) -> Schema:
        return self.payload()  # schemas are reusable; building one per event is not cheap

    def check(self, data: dict) -> None:
        """Raise MalformedEvent unless data is a valid payload of this event type."""
        errors = self._validator.validate(data)
        if errors:
            raise MalformedEvent(f"{self.name} payload is invalid: {errors}")


USER_CREATED = EventType("user.created", "users", UserCreated)
USER_UPDATED = EventType("user.updated", "users", UserUpdated)
PRODUCT_CREATED = EventType("product.created", "products", ProductCreated)
PRODUCT_UPDATED = EventType("product.updated", "products", ProductUpdated)
ORDER_CREATED = EventType("order.created", "orders", OrderCreated)
INVENTORY_RESERVED = EventType("inventory.reserved", "products", InventoryReserved)
INVENTORY_INSUFFICIENT = EventType("inventory.insufficient", "products", InventoryInsufficient)
ORDER_CONFIRMED = EventType("order.confirmed", "orders", OrderConfirmed)
PAYMENT_COMPLETED = EventType("payment.completed", "payments", PaymentCompleted)
PAYMENT_FAILED = EventType("payment.failed", "payments", PaymentFailed)
ORDER_CANCELLED = EventType("order.cancelled", "orders", OrderCancelled)
ORDER_SHIPPED = EventType("order.shipped", "orders", OrderShipped)
REFUND_CREATED = EventType("refund.created", "payments", RefundCreated)

CATALOGUE: dict[str, EventType] = {
    event_type.name: event_type
    for event_type in (
        USER_CREATED,
        USER_UPDATED,
        PRODUCT_CREATED,
        PRODUCT_UPDATED,
        ORDER_CREATED,
        INVENTORY_RESERVED,
        INVENTORY_INSUFFICIENT,
        ORDER_CONFIRMED,
        PAYMENT_COMPLETED,
        PAYMENT_FAILED,
        ORDER_CANCELLED,
        ORDER_SHIPPED,
        REFUND_CREATED,
    )
}

PUBLISHERS = sorted({event_type.publisher for event_type in CATALOGUE.values()})


def decode(raw: str | bytes) -> Event:
    """An event that comes from outside this process (the broker, the dead-letter store),
    checked against the catalogue once, here: what is delivered is valid."""
    event = Event.from_json(raw)
    event_type_of(event)
    return event


def event_type_of(event: Event) -> EventType:
    """The catalogue entry of an incoming event, after checking its payload."""
    event_type = CATALOGUE.get(event.type)
    if event_type is None:
        raise MalformedEvent(f"unknown event type {event.type!r}")
    event_type.check(event.data)
    return event_type
