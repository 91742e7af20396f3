"""Bodies the two backends-for-frontend add on top of the modules' own schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from oms import orders, payments, products, users
from oms.http.schemas import CamelSchema, CardToken, Money, PageSchema, PostalAddress

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


SAVED_OR_NEW = (("address_id", "shipping_address"), ("payment_method_id", "payment_method"))


class MobileCheckout(CamelSchema):
    """A saved address or a new one, a saved card or a new one; leaving one out means
    the saved default."""

    user_id = fields.UUID()
    items = fields.List(fields.Nested(orders.ItemRequest), **ITEMS)
    address_id = fields.UUID(metadata={"description": "A saved address (or shippingAddress)."})
    shipping_address = fields.Nested(PostalAddress)
    payment_method_id = fields.UUID(metadata={"description": "A saved card (or paymentMethod)."})
    payment_method = fields.Nested(CardToken)

    @validates_schema
    def saved_or_new_not_both(self, data: dict, **_: Any) -> None:
        errors = {}
        for saved, new in SAVED_OR_NEW:
            if saved in data and new in data:
                errors[self.fields[new].data_key] = [
                    f"Give {self.fields[saved].data_key} or {self.fields[new].data_key}, not both."
                ]
        if errors:
            raise ValidationError(errors)


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


class DefaultChoice(CamelSchema):
    """The one change a saved address or card takes: whether it is the default."""

    is_default = fields.Boolean(required=True)


# Light bodies of the mobile BFF: only what a phone screen shows.


class StockSummary(CamelSchema):
    available = fields.Integer(required=True)


class ProductSummary(CamelSchema):
    product_id = fields.String(required=True)
    name = fields.String(required=True)
    price = Money(required=True)
    stock = fields.Nested(StockSummary, required=True)


class ProductSummaryPage(PageSchema):
    items = fields.List(fields.Nested(ProductSummary), required=True)


class AddressSummary(PostalAddress):
    address_id = fields.String(required=True)
    is_default = fields.Boolean(required=True)


class AddressSummaryPage(PageSchema):
    items = fields.List(fields.Nested(AddressSummary), required=True)


class CardSummary(CamelSchema):
    payment_method_id = fields.String(required=True)
    brand = fields.String(allow_none=True)
    last4 = fields.String(allow_none=True)
    is_default = fields.Boolean(required=True)


class CardSummaryPage(PageSchema):
    items = fields.List(fields.Nested(CardSummary), required=True)


class OrderSummarySchema(CamelSchema):
    """The mobile app's light view of an order."""

    order_id = fields.String(required=True)
    status = fields.String(required=True)
    total_amount = Money(required=True)
    created_at = fields.DateTime(required=True)
    item_count = fields.Integer(required=True)


class OrderSummaryPage(PageSchema):
    items = fields.List(fields.Nested(OrderSummarySchema), required=True)
