"""Request and response bodies of the payments module."""

from __future__ import annotations

from marshmallow import fields

from oms.http.schemas import CamelSchema, CardToken, Money, MoneyInput, PageSchema


class PaymentMethodSchema(CamelSchema):
    """A saved card as its owner sees it: the gateway token is never shown."""

    payment_method_id = fields.String(required=True)
    type = fields.String(required=True)
    brand = fields.String(allow_none=True)
    last4 = fields.String(allow_none=True)
    is_default = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class PaymentMethodPage(PageSchema):
    items = fields.List(fields.Nested(PaymentMethodSchema), required=True)


class RefundSchema(CamelSchema):
    refund_id = fields.String(required=True)
    amount = Money(required=True)
    created_at = fields.DateTime(required=True)


class PaymentSchema(CamelSchema):
    payment_id = fields.String(required=True)
    order_id = fields.String(required=True)
    amount = Money(required=True)
    currency = fields.String(required=True)
    status = fields.String(required=True)
    failure_reason = fields.String(allow_none=True)
    refunds = fields.List(fields.Nested(RefundSchema), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class NewPayment(CamelSchema):
    order_id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    amount = MoneyInput(required=True)
    payment_method = fields.Nested(CardToken, required=True)
