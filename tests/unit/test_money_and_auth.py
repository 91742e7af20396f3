"""Money as it enters and leaves the HTTP ports; bearer tokens and the secret behind them."""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import jwt
import pytest
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import Unauthorized

from oms.config import ConfigurationError, Settings
from oms.http.auth import ADMIN, CUSTOMER, issue_token, read_token
from oms.http.schemas import Money
from oms.money import PRICES, format_money, to_money

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


class PriceSchema(Schema):
    price = Money(required=True)


def _load(value: Any) -> Decimal:
    return PriceSchema().load({"price": value})["price"]


def _settings(**changes: Any) -> Settings:
    return dataclasses.replace(Settings(jwt_secret=SECRET), **changes)


# The Money field


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        (49.99, Decimal("49.99")),
        ("49.99", Decimal("49.99")),
        (5, Decimal("5.00")),
        ("5", Decimal("5.00")),
        ("5.5", Decimal("5.50")),
        (0, Decimal("0.00")),
        ("1000000.00", Decimal("1000000.00")),
        ("99999999.99", Decimal("99999999.99")),
        (0.1, Decimal("0.10")),
    ],
)
def test_money_field_accepts_numbers_and_strings_with_at_most_two_decimals(
    value: Any, amount: Decimal
) -> None:
    loaded = _load(value)

    assert loaded == amount
    assert isinstance(loaded, Decimal)
    assert loaded.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "value",
    [
        "49.999",
        49.999,
        float("nan"),
        "NaN",
        float("inf"),
        "Infinity",
        "-Infinity",
        True,
        False,
        -1,
        "-0.01",
        "100000000.00",
        100000000,
        "abc",
        "",
        None,
        [],
        {"amount": "5"},
    ],
)
def test_money_field_rejects_what_is_not_an_amount_in_range(value: Any) -> None:
    with pytest.raises(ValidationError) as error:
        _load(value)

    assert "price" in error.value.messages


@pytest.mark.parametrize("value", ["-0", "-0.00", -0.0])
def test_money_field_never_yields_a_negative_zero(value: Any) -> None:
    # A negative amount is refused; "-0" must not slip through as Decimal('-0.00'),
    # which is then stored and shown as "-0.00".
    try:
        amount = _load(value)
    except ValidationError:
        return
    assert PriceSchema().dump({"price": amount}) == {"price": "0.00"}


def test_money_field_can_require_a_positive_amount() -> None:
    class Positive(Schema):
        price = Money(limits=PRICES)

    with pytest.raises(ValidationError):
        Positive().load({"price": "0"})
    assert Positive().load({"price": "0.01"}) == {"price": Decimal("0.01")}


@pytest.mark.parametrize(
    ("amount", "text"),
    [(Decimal("5"), "5.00"), (Decimal("49.9"), "49.90"), (Decimal("0"), "0.00")],
)
def test_money_field_serialises_two_decimal_strings(amount: Decimal, text: str) -> None:
    assert PriceSchema().dump({"price": amount}) == {"price": text}


def test_money_field_serialises_none_as_none() -> None:
    assert PriceSchema().dump({"price": None}) == {"price": None}


@pytest.mark.parametrize(
    ("value", "money"),
    [
        (Decimal("2.675"), Decimal("2.68")),
        (Decimal("2.665"), Decimal("2.67")),  # half up, not half even
        (Decimal("0.005"), Decimal("0.01")),
        (Decimal("0.004"), Decimal("0.00")),
        (Decimal("-2.675"), Decimal("-2.68")),  # away from zero
        ("10", Decimal("10.00")),
        (3, Decimal("3.00")),
    ],
)
def test_to_money_rounds_half_up_to_cents(value: Any, money: Decimal) -> None:
    assert to_money(value) == money
    assert to_money(value).as_tuple().exponent == -2


def test_format_money_rounds_half_up_and_keeps_two_decimals() -> None:
    assert format_money(Decimal("0.125")) == "0.13"
    assert format_money(Decimal("7")) == "7.00"
    assert format_money(Decimal("19.999")) == "20.00"


# Bearer tokens


@pytest.mark.parametrize("role", [CUSTOMER, ADMIN])
def test_an_issued_token_reads_back_as_the_same_caller(role: str) -> None:
    settings = _settings()
    user_id = str(uuid.uuid4())

    caller = read_token(settings, issue_token(settings, user_id, role))

    assert caller.user_id == user_id
    assert caller.role == role
    assert caller.is_admin is (role == ADMIN)


def test_an_expired_token_is_refused_as_expired() -> None:
    settings = _settings(jwt_ttl_seconds=-1)
    token = issue_token(settings, str(uuid.uuid4()), CUSTOMER)

    with pytest.raises(Unauthorized, match="expired"):
        read_token(settings, token)


def test_a_token_read_before_is_refused_as_expired_once_its_time_is_up() -> None:
    settings = _settings(jwt_ttl_seconds=1)
    token = issue_token(settings, str(uuid.uuid4()), CUSTOMER)
    assert read_token(settings, token).role == CUSTOMER  # checked, and kept as checked

    time.sleep(1.05)  # its expiry: at most a second after it was issued

    with pytest.raises(Unauthorized, match="expired"):
        read_token(settings, token)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token(_settings(jwt_secret="another-secret-also-32-bytes-long!!"), "u", CUSTOMER)

    with pytest.raises(Unauthorized, match="invalid"):
        read_token(_settings(), token)


def test_a_token_with_an_unknown_role_is_refused() -> None:
    settings = _settings()
    token = issue_token(settings, str(uuid.uuid4()), "superuser")

    with pytest.raises(Unauthorized):
        read_token(settings, token)


def test_a_token_missing_its_expiry_is_refused() -> None:
    claims = {"sub": str(uuid.uuid4()), "role": ADMIN, "iat": datetime.now(UTC)}
    token = jwt.encode(claims, SECRET, algorithm="HS256")

    with pytest.raises(Unauthorized):
        read_token(_settings(), token)


def test_an_unsigned_token_is_refused() -> None:
    now = datetime.now(UTC)
    claims = {"sub": "u", "role": ADMIN, "iat": now, "exp": now + timedelta(hours=1)}
    token = jwt.encode(claims, None, algorithm="none")

    with pytest.raises(Unauthorized):
        read_token(_settings(), token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_a_token_that_is_not_a_jwt_is_refused(token: str) -> None:
    with pytest.raises(Unauthorized):
        read_token(_settings(), token)


# The secret


@pytest.mark.parametrize(
    "env",
    [
        {"OMS_DATABASE_URL": "postgresql://oms@db/oms"},
        {"OMS_BROKER_URL": "amqp://guest:guest@rabbitmq//"},
    ],
)
def test_settings_refuse_a_non_embedded_setup_without_a_jwt_secret(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="OMS_JWT_SECRET"):
        Settings.from_env(env)


@pytest.mark.parametrize("embedded", [True, False])
def test_settings_refuse_a_jwt_secret_shorter_than_32_bytes(embedded: bool) -> None:
    env = {"OMS_JWT_SECRET": "x" * 31}
    if not embedded:
        env["OMS_DATABASE_URL"] = "postgresql://oms@db/oms"

    with pytest.raises(ConfigurationError, match="32 bytes"):
        Settings.from_env(env)


def test_settings_accept_a_jwt_secret_of_32_bytes() -> None:
    env = {"OMS_DATABASE_URL": "postgresql://oms@db/oms", "OMS_JWT_SECRET": "s" * 32}

    assert Settings.from_env(env).jwt_secret == "s" * 32
