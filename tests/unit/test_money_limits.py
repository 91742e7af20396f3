"""One set of limits on amounts, and everything that derives from it agrees."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from oms.bus import events
from oms.db import MoneyType
from oms.http.schemas import MoneyInput
from oms.money import AMOUNTS, MAX_AMOUNT, PRICES, MoneyRange

ORDER_CONFIRMED = {"orderId": "6f1c2c3e-0000-4000-8000-000000000001", "userId": "u"}


def test_the_largest_amount_is_99_999_999_99() -> None:
    assert Decimal("99999999.99") == MAX_AMOUNT
    assert AMOUNTS.maximum == PRICES.maximum == MAX_AMOUNT


@pytest.mark.parametrize(
    ("amount", "is_amount", "is_price"),
    [
        ("0.00", True, False),
        ("0.01", True, True),
        ("49.99", True, True),
        ("99999999.99", True, True),
        ("100000000.00", False, False),
        ("-0.01", False, False),
        ("NaN", False, False),
        ("Infinity", False, False),
    ],
)
def test_amounts_and_prices_accept_exactly_their_range(
    amount: str, is_amount: bool, is_price: bool
) -> None:
    assert (Decimal(amount) in AMOUNTS, Decimal(amount) in PRICES) == (is_amount, is_price)


@pytest.mark.parametrize(
    ("text", "is_amount", "is_price"),
    [
        ("0", True, False),
        ("0.0", True, False),
        ("0.01", True, True),
        ("0.1", True, True),
        ("7", True, True),
        ("49.99", True, True),
        ("99999999.99", True, True),
        ("100000000", False, False),
        ("049.99", False, False),
        ("-1", False, False),
        ("1.999", False, False),
        ("1.", False, False),
        (".5", False, False),
    ],
)
def test_the_request_pattern_of_a_range_matches_the_range(
    text: str, is_amount: bool, is_price: bool
) -> None:
    matches = (
        re.fullmatch(AMOUNTS.pattern(), text) is not None,
        re.fullmatch(PRICES.pattern(), text) is not None,
    )
    assert matches == (is_amount, is_price)


def test_a_range_starts_at_zero_or_one_cent() -> None:
    with pytest.raises(ValueError):
        MoneyRange(Decimal("5.00"))


def test_the_database_column_holds_the_largest_amount_and_no_more_digits() -> None:
    column = MoneyType().impl
    assert (column.precision, column.scale) == (10, 2)  # 99999999.99: ten digits


@pytest.mark.parametrize(
    ("amount", "valid"), [("99999999.99", True), ("0.00", True), ("-1.00", False), ("1.5", False)]
)
def test_an_event_carries_only_amounts_oms_accepts(amount: str, valid: bool) -> None:
    data = {**ORDER_CONFIRMED, "totalAmount": amount, "currency": "USD"}
    errors = events.ORDER_CONFIRMED.payload().validate(data)
    assert ("totalAmount" not in errors) is valid


def test_a_request_amount_beyond_the_largest_is_refused() -> None:
    field = MoneyInput(limits=PRICES)

    assert field.deserialize("99999999.99") == MAX_AMOUNT
    with pytest.raises(ValidationError):
        field.deserialize("100000000.00")
    with pytest.raises(ValidationError):
        field.deserialize(100000000)
    with pytest.raises(ValidationError):
        field.deserialize("0.00")
