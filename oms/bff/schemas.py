"""Bodies the two backends-for-frontend add on top of the modules' own schemas."""

from __future__ import annotations

from marshmallow import fields, validate

from oms import orders, payments, products, users
from oms.http.schemas import CamelSchema, CardToken, Money, PostalAddress

ITEMS = {"required": True, "validate": validate.Length(min=1, max=100)}


class IdempotencyHeader(CamelSchema):
    idempotency_key = fields.String(
        data_key="Idempotency-Key", validate=validate.Length(min=1, max=255)
    )

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        """Header names keep their own spelling."""


class WebCheckout(CamelSchema):
    user_id = fields.UUID()
    items = fields.List(fields.Nested(orders.ItemRequest), **ITEMS)
    shipping_address = fields.Nested(PostalAddress, required=True)
    payment_method = fields.Nested(CardToken, required=True)


class MobileCheckout(CamelSchema):
    user_id = fields.UUID()
    items = fields.List(fields.Nested(orders.ItemRequest), **ITEMS)
    address_id = fields.UUID(required=True)
    payment_method_id = fields.UUID(required=True)


class CheckoutResult(CamelSchema):
    order_id = fields.String(required=True)
    status = fields.String(required=True)
    total_amount = Money(required=True)
    error = fields.String(metadata={"description": "Why the checkout was cancelled (402, 409)."})


class OrderDetails(CamelSchema):
    order = fields.Nested(orders.OrderSchema, required=True)
    user = fields.Nested(users.UserSchema, required=True)
    products = fields.List(fields.Nested(products.ProductSchema), required=True)
    payments = fields.List(fields.Nested(payments.PaymentSchema), required=True)
