"""Request and response bodies of the products module."""

from __future__ import annotations

from marshmallow import fields, validate

from oms.http.schemas import (
    NO_NUL_PATTERN,
    CamelSchema,
    Money,
    MoneyInput,
    PageQuery,
    PageSchema,
    Text,
)
from oms.money import PRICES
from oms.products.service import MAX_STOCK

DESCRIPTION = validate.Length(max=5000)


class NewProduct(CamelSchema):
    name = Text(required=True, max_length=200)
    sku = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", error="Not a valid SKU."),
    )
    price = MoneyInput(required=True, limits=PRICES)
    description = fields.String(load_default=None, allow_none=True, validate=DESCRIPTION)
    stock = fields.Integer(
        load_default=0, strict=True, validate=validate.Range(min=0, max=MAX_STOCK)
    )


class ProductQuery(PageQuery):
    search = fields.String(
        validate=[validate.Length(min=1, max=200), validate.Regexp(NO_NUL_PATTERN)],
        metadata={"description": "Only products whose name contains this text (any case)."},
    )


class ProductChanges(CamelSchema):
    name = Text(max_length=200)
    price = MoneyInput(limits=PRICES)
    description = fields.String(allow_none=True, validate=DESCRIPTION)


class StockChange(CamelSchema):
    delta = fields.Integer(
        required=True,
        strict=True,
        validate=[
            validate.Range(min=-MAX_STOCK, max=MAX_STOCK),
            validate.NoneOf([0], error="Must not be zero."),
        ],
        metadata={"not": {"enum": [0]}, "description": "Restock (> 0) or write-off (< 0)."},
    )


class StockSchema(CamelSchema):
    available = fields.Integer(required=True)


class ProductSchema(CamelSchema):
    product_id = fields.String(required=True)
    name = fields.String(required=True)
    sku = fields.String(required=True)
    price = Money(required=True)
    description = fields.String(allow_none=True)
    stock = fields.Nested(StockSchema, required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class ProductPage(PageSchema):
    items = fields.List(fields.Nested(ProductSchema), required=True)
