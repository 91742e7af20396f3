"""Money: Decimal with two fraction digits, end to end, within one set of limits.

Every limit on an amount derives from here: the request schemas, the order total,
the database column and the event payload patterns.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
FRACTION_DIGITS = 2
WHOLE_DIGITS = 8
MAX_AMOUNT = Decimal(10**WHOLE_DIGITS) - CENT  # 99,999,999.99: a price, a total, a refund
PRECISION = WHOLE_DIGITS + FRACTION_DIGITS  # the database column is NUMERIC(PRECISION, 2)

# An amount as OMS writes it (events, responses): digits, a point, two decimals.
AMOUNT_TEXT = rf"[0-9]{{1,{WHOLE_DIGITS}}}\.[0-9]{{{FRACTION_DIGITS}}}"
# An amount as a person may type it: the point and the decimals are optional.
LOOSE_AMOUNT_TEXT = rf"[0-9]{{1,{WHOLE_DIGITS}}}(?:\.[0-9]{{1,{FRACTION_DIGITS}}})?"


def to_money(value: Decimal | str | int) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(value: Decimal) -> str:
    return str(to_money(value))


@dataclass(frozen=True)
class MoneyRange:
    """The amounts one kind of money may take: from `minimum` (0.00 or one cent) to MAX_AMOUNT."""

    minimum: Decimal

    def __post_init__(self) -> None:
        if self.minimum not in (Decimal(0), CENT):
            raise ValueError("an amount range starts at 0.00 or at one cent")

    def __contains__(self, amount: Decimal) -> bool:
        return amount.is_finite() and self.minimum <= amount <= MAX_AMOUNT

    @property
    def maximum(self) -> Decimal:
        return MAX_AMOUNT

    def pattern(self) -> str:
        """Exactly the strings a request may use for an amount in this range: no sign,
        no leading zeros, at most two decimals."""
        decimals = rf"(?:\.[0-9]{{1,{FRACTION_DIGITS}}})?"
        whole = rf"[1-9][0-9]{{0,{WHOLE_DIGITS - 1}}}{decimals}"
        below_one = r"0\.(?:0[1-9]|[1-9][0-9]?)" if self.minimum > 0 else rf"0{decimals}"
        return rf"^(?:{whole}|{below_one})$"

    def describe(self) -> str:
        return f"from {self.minimum:.2f} to {MAX_AMOUNT}"


AMOUNTS = MoneyRange(Decimal("0.00"))  # totals, charges, refunds: never negative
PRICES = MoneyRange(CENT)  # nothing is given away by mistake
