"""Replays of an idempotent checkout: the same Idempotency-Key finds the first order."""

from __future__ import annotations

from sqlalchemy import select

from oms.errors import Invalid
from oms.orders.models import Order
from oms.runtime import Runtime


def replayed_order(rt: Runtime, user_id: str, key: str, fingerprint: str | None) -> str | None:
    """The id of the order this user placed with `key`, or None if there is none; the
    same key with another request (`fingerprint`) is refused."""
    with rt.database.reading() as session:
        row = session.execute(
            select(Order.id, Order.request_fingerprint).where(
                Order.user_id == user_id, Order.idempotency_key == key
            )
        ).first()
    if row is None:
        return None
    if row.request_fingerprint != fingerprint:
        raise Invalid(
            "This Idempotency-Key was used with another request.",
            {"Idempotency-Key": ["Already used with a different body."]},
        )
    return row.id
