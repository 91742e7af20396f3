"""Request and response bodies of the orders module."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from oms.http.schemas import (
    CamelSchema,
    CardToken,
    Money,
    MoneyInput,
    PageQuery,
    PageSchema,
    PostalAddress,
)
from oms.orders.domain import MAX_QUANTITY, STATUSES

MAX_LINES = 100


class ItemRequest(CamelSchema):
    product_id = fields.UUID(required=True)
    quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_QUANTITY)
    )


ITEMS = {"required": True, "validate": validate.Length(min=1, max=MAX_LINES)}


class PricedItemRequest(ItemRequest):
    unit_price = MoneyInput(required=True)


class NewOrder(CamelSchema):
    """An order placed directly on the orders port: the caller supplies prices."""

    user_id = fields.UUID(required=True)
    items = fields.List(fields.Nested(PricedItemRequest), **ITEMS)
    total_amount = MoneyInput()
    shipping_address = fields.Nested(PostalAddress, required=True)
    payment_method = fields.Nested(CardToken, required=True)


class LineItemSchema(CamelSchema):
    product_id = fields.String(required=True)
    quantity = fields.Integer(required=True)
    unit_price = Money(required=True)
    line_total = Money(required=True)


class TimelineEntrySchema(CamelSchema):
    type = fields.String(required=True)
    status = fields.String(required=True)
    cause = fields.String(required=True)
    at = fields.DateTime(required=True)


class OrderSchema(CamelSchema):
    order_id = fields.String(required=True)
    user_id = fields.String(required=True)
    status = fields.String(required=True)
    total_amount = Money(required=True)
    currency = fields.String(required=True)
    items = fields.List(fields.Nested(LineItemSchema), required=True)
    shipping_address = fields.Nested(PostalAddress, required=True)
    cancel_reason = fields.String(allow_none=True)
    events = fields.List(fields.Nested(TimelineEntrySchema), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class OrderPage(PageSchema):
    items = fields.List(fields.Nested(OrderSchema), required=True)


class OrderSearchQuery(PageQuery):
    """Filters of an order list; times are ISO 8601 (UTC when no offset is given)."""

    status = fields.String(validate=validate.OneOf(STATUSES))
    user_id = fields.UUID()
    created_from = fields.DateTime(metadata={"description": "Placed at or after this time."})
    created_to = fields.DateTime(metadata={"description": "Placed before this time."})

    @validates_schema
    def _a_real_range(self, data: dict, **kwargs: Any) -> None:
        start, end = _utc(data.get("created_from")), _utc(data.get("created_to"))
        if start and end and start > end:
            raise ValidationError("Must not be before createdFrom.", "createdTo")

    @post_load
    def _in_utc(self, data: dict, **kwargs: Any) -> dict:
        for key in ("created_from", "created_to"):
            if data.get(key) is not None:
                data[key] = _utc(data[key])
        return data


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
