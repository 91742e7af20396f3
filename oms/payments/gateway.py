"""The payment gateway port, and the simulated gateway that takes the contract's test tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from oms.errors import Invalid

DECLINING_TOKENS = {
    "tok_chargeDeclined": "card_declined",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
}
KNOWN_CARDS = {"tok_visa": ("visa", "4242"), "tok_mastercard": ("mastercard", "4444")}


@dataclass(frozen=True)
class Card:
    brand: str | None
    last4: str | None


@dataclass(frozen=True)
class Charge:
    succeeded: bool
    charge_id: str
    decline_reason: str | None = None


class PaymentGateway(Protocol):
    def describe(self, token: str) -> Card:
        """What the gateway knows of a tokenised card; Invalid if it is not a token."""

    def charge(self, token: str, amount: Decimal, currency: str, idempotency_key: str) -> Charge:
        """Charge once per idempotency key: a retry with the same key returns the same charge."""

    def refund(self, charge_id: str, amount: Decimal, idempotency_key: str) -> str:
        """Refund a charge; returns the gateway's refund id."""


class SimulatedGateway:
    """Deterministic: the token decides the outcome, the idempotency key decides the ids."""

    def describe(self, token: str) -> Card:
        if not token.startswith("tok_"):
            raise Invalid(
                "Not a card token.", {"token": ["Use a payment gateway token (tok_...)."]}
            )
        return Card(*KNOWN_CARDS.get(token, (None, None)))

    def charge(self, token: str, amount: Decimal, currency: str, idempotency_key: str) -> Charge:
        charge_id = f"ch_{uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex}"
        reason = DECLINING_TOKENS.get(token)
        if reason or not token.startswith("tok_"):
            return Charge(False, charge_id, reason or "invalid_token")
        return Charge(True, charge_id)

    def refund(self, charge_id: str, amount: Decimal, idempotency_key: str) -> str:
        return f"re_{uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex}"


GATEWAYS = {"simulated": SimulatedGateway}


def gateway_named(name: str) -> PaymentGateway:
    try:
        return GATEWAYS[name]()
    except KeyError:
        raise ValueError(f"unknown payment gateway {name!r}; known: {sorted(GATEWAYS)}") from None
