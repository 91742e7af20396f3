"""Waiting for a checkout's saga to settle, for callers that answer only once it has."""

from __future__ import annotations

import time

from sqlalchemy import select

from oms.orders.domain import IN_FLIGHT
from oms.orders.models import Order
from oms.runtime import Runtime

FIRST_PAUSE_SECONDS = 0.005
LONGEST_PAUSE_SECONDS = 0.05


def wait_for_settlement(rt: Runtime, order_id: str, timeout_seconds: float) -> None:
    """Return once the order's saga has settled, or when `timeout_seconds` run out."""
    deadline = time.monotonic() + timeout_seconds
    pause = FIRST_PAUSE_SECONDS
    while _status_of(rt, order_id) in IN_FLIGHT and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(pause * 1.5, LONGEST_PAUSE_SECONDS)


def _status_of(rt: Runtime, order_id: str) -> str | None:
    with rt.database.reading() as session:
        return session.scalar(select(Order.status).where(Order.id == order_id))
