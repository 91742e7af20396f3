"""The simulated payment gateway: the contract's test tokens decide each charge's outcome."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from oms.errors import Invalid
from oms.payments.gateway import Card, SimulatedGateway, gateway_named

AMOUNT = Decimal("49.99")


@pytest.fixture
def gateway() -> SimulatedGateway:
    return SimulatedGateway()


def _key() -> str:
    return str(uuid.uuid4())


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard", "tok_anything"])
def test_a_good_card_token_is_charged(gateway: SimulatedGateway, token: str) -> None:
    charge = gateway.charge(token, AMOUNT, "USD", idempotency_key=_key())

    assert charge.succeeded
    assert charge.charge_id.startswith("ch_")
    assert charge.decline_reason is None


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("tok_chargeDeclined", "card_declined"),
        ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ],
)
def test_a_declining_card_token_is_declined_with_its_reason(
    gateway: SimulatedGateway, token: str, reason: str
) -> None:
    charge = gateway.charge(token, AMOUNT, "USD", idempotency_key=_key())

    assert not charge.succeeded
    assert charge.decline_reason == reason
    assert charge.charge_id.startswith("ch_")


def test_charging_something_that_is_not_a_token_is_declined(gateway: SimulatedGateway) -> None:
    charge = gateway.charge("4242424242424242", AMOUNT, "USD", idempotency_key=_key())

    assert not charge.succeeded
    assert charge.decline_reason == "invalid_token"


@pytest.mark.parametrize(
    ("token", "card"),
    [
        ("tok_visa", Card("visa", "4242")),
        ("tok_mastercard", Card("mastercard", "4444")),
        ("tok_anything", Card(None, None)),
    ],
)
def test_describe_tells_what_the_gateway_knows_of_a_token(
    gateway: SimulatedGateway, token: str, card: Card
) -> None:
    assert gateway.describe(token) == card


@pytest.mark.parametrize("raw", ["4242424242424242", "4242 4242 4242 4242", "", "visa"])
def test_describe_rejects_a_raw_card_number(gateway: SimulatedGateway, raw: str) -> None:
    with pytest.raises(Invalid) as error:
        gateway.describe(raw)

    assert "token" in error.value.errors


def test_the_same_idempotency_key_yields_the_same_charge(gateway: SimulatedGateway) -> None:
    key = _key()

    first = gateway.charge("tok_visa", AMOUNT, "USD", idempotency_key=key)
    retry = SimulatedGateway().charge("tok_visa", AMOUNT, "USD", idempotency_key=key)

    assert retry == first


def test_different_idempotency_keys_yield_different_charges(gateway: SimulatedGateway) -> None:
    first = gateway.charge("tok_visa", AMOUNT, "USD", idempotency_key=_key())
    second = gateway.charge("tok_visa", AMOUNT, "USD", idempotency_key=_key())

    assert first.charge_id != second.charge_id


def test_the_same_refund_key_yields_the_same_refund(gateway: SimulatedGateway) -> None:
    charge = gateway.charge("tok_visa", AMOUNT, "USD", idempotency_key=_key())
    key = f"refund-{_key()}"

    first = gateway.refund(charge.charge_id, AMOUNT, idempotency_key=key)
    retry = gateway.refund(charge.charge_id, AMOUNT, idempotency_key=key)

    assert first == retry
    assert first.startswith("re_")


def test_the_gateway_is_chosen_by_name() -> None:
    assert isinstance(gateway_named("simulated"), SimulatedGateway)
    with pytest.raises(ValueError, match="stripe"):
        gateway_named("stripe")
