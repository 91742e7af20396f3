"""Schema building blocks every port shares: camelCase keys, money, pages, errors."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import pycountry
from marshmallow import Schema, ValidationError, fields, validate

from oms.money import AMOUNTS, LOOSE_AMOUNT_TEXT, MoneyRange, to_money

MAX_PAGE_SIZE = 100
MONEY_PATTERN = f"^{LOOSE_AMOUNT_TEXT}$"
MONEY_TEXT = re.compile(LOOSE_AMOUNT_TEXT)


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# Free text may hold anything but NUL (no database stores it; such a body is 400): the
# OpenAPI document says so for every plain string without a pattern of its own.
NO_NUL_PATTERN = r"^[^\u0000]*$"


class CamelSchema(Schema):
    """Python attributes in snake_case, JSON keys in camelCase."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.data_key = camel_case(field_obj.data_key or field_name)
        if (
            type(field_obj) is fields.String
            and "pattern" not in field_obj.metadata
            and not any(
                isinstance(v, validate.Regexp | validate.OneOf) for v in field_obj.validators
            )
        ):
            field_obj.metadata = {**field_obj.metadata, "pattern": NO_NUL_PATTERN}


class Money(fields.Field):
    """A decimal amount with at most two fraction digits: JSON number or string in, string out."""

    def __init__(self, *, limits: MoneyRange = AMOUNTS, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].update({"type": "string", "pattern": MONEY_PATTERN, "example": "49.99"})
        super().__init__(**kwargs)
        self.limits = limits

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(to_money(value))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationError("Not a valid amount.")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError("Not a valid amount.")
        if isinstance(value, str) and not MONEY_TEXT.fullmatch(value):
            raise ValidationError('Use digits with at most two decimals, e.g. "49.99".')
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation as error:
            raise ValidationError("Not a valid amount.") from error
        if not amount.is_finite() or amount.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValidationError("Use at most two decimal places.")
        if amount not in self.limits:
            raise ValidationError(
                f"Must be between {self.limits.minimum:.2f} and {self.limits.maximum}."
            )
        return to_money(abs(amount))  # -0.0 is 0


class MoneyInput(Money):
    """An amount in a request: a string as its range's pattern says, or a JSON number
    with at most two decimals, within the range; the OpenAPI document states both forms
    exactly."""

    def __init__(self, *, limits: MoneyRange = AMOUNTS, **kwargs: Any) -> None:
        super().__init__(limits=limits, **kwargs)
        self.pattern = limits.pattern()
        for key in ("type", "pattern", "example"):
            self.metadata.pop(key, None)  # type: ignore[attr-defined]
        self.metadata["anyOf"] = [  # type: ignore[index]
            {"type": "string", "pattern": self.pattern, "example": "49.99"},
            {
                "type": "number",
                "minimum": float(limits.minimum),
                "maximum": float(limits.maximum),
                "multipleOf": 0.01,
            },
        ]

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, str) and not re.fullmatch(self.pattern, value):
            raise ValidationError(
                f'Use an amount {self.limits.describe()} with at most two decimals, e.g. "49.99".'
            )
        return super()._deserialize(value, attr, data, **kwargs)


class PageQuery(CamelSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class PageSchema(CamelSchema):
    """A page of a list; subclasses declare `items`."""

    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    total = fields.Integer(required=True)


class ErrorSchema(Schema):
    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.Raw())


# Text a person types (names, address lines): surrounding whitespace is dropped, and what
# is left must not be empty. The OpenAPI document says so with the pattern: at least one
# character that is not whitespace.
TEXT_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


class Text(fields.String):
    """A string stripped of surrounding whitespace that must not be empty after that; its
    length limit applies to the text as sent (as the OpenAPI document says)."""

    def __init__(self, *, max_length: int, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Length(min=1, max=max_length))
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault("pattern", TEXT_PATTERN)
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if isinstance(text, str) and len(text) > self.max_length:
            raise ValidationError(f"Longer than maximum length {self.max_length}.")
        return text.strip() if isinstance(text, str) else text


# Every ISO 3166-1 alpha-2 code pycountry knows: the OpenAPI document lists them (enum).
COUNTRY_CODES = tuple(sorted(country.alpha_2 for country in pycountry.countries))


class PostalAddress(CamelSchema):
    line1 = Text(required=True, max_length=200)
    line2 = Text(load_default=None, allow_none=True, max_length=200)
    city = Text(required=True, max_length=100)
    postal_code = Text(required=True, max_length=20)
    country = fields.String(
        required=True,
        validate=validate.OneOf(
            COUNTRY_CODES, error="Use an ISO 3166-1 alpha-2 country code, e.g. US."
        ),
        metadata={"description": "ISO 3166-1 alpha-2 country code, upper case (e.g. US)."},
    )


class CardToken(CamelSchema):
    """A card as the payment gateway tokenised it; raw card numbers are never accepted."""

    type = fields.String(required=True, validate=validate.Equal("card"))
    token = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^tok_[A-Za-z0-9_]{1,100}$", error="Use a payment gateway token (tok_...)."
        ),
    )


def links(*statuses: int, **targets: tuple[str, str, dict[str, str]]) -> Any:
    """OpenAPI links from a response to the operations that read what it created.

    `targets`: link name -> (method, path as documented, {path parameter: runtime
    expression}), e.g. `GetOrder=("get", "/api/v1/orders/{order_id}",
    {"order_id": "$response.body#/orderId"})`.
    """
    from flask_smorest import Blueprint  # the decorator only; schemas stay Flask-free

    documented = {
        name: {
            "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + f"/{method}",
            "parameters": parameters,
        }
        for name, (method, path, parameters) in targets.items()
    }
    return Blueprint.doc(responses={status: {"links": documented} for status in statuses})
