"""Waiting for a checkout's saga to settle, for callers that answer only once it has."""

from __future__ import annotations

import time

from oms.bus import UnitOfWork
from oms.orders import store
from oms.orders.domain import IN_FLIGHT
from oms.orders.store import OrderRows
from oms.runtime import Runtime

# A wake-up is a hint that may be lost (a dropped LISTEN connection): look again at least
# this often anyway.
LONGEST_WAIT_SECONDS = 0.25


def wait_for_settlement(rt: Runtime, order_id: str, timeout_seconds: float) -> OrderRows | None:
    """Return once the order's saga has settled, or when `timeout_seconds` run out. The
    commit that settles it wakes this wait (`announce_settled`); nothing polls. What is
    read after a wake-up is the whole order, returned if it has settled (the caller
    wants it then); None when it had settled before the wait began, or the wait ran out.
    """
    deadline = time.monotonic() + timeout_seconds
    with rt.database.wakeups.expect(order_id) as settled:
        if _status_of(rt, order_id) not in IN_FLIGHT:
            return None
        while (remaining := deadline - time.monotonic()) > 0:
            settled.wait(min(remaining, LONGEST_WAIT_SECONDS))
            with rt.database.connect() as connection:
                found = store.read(connection, order_id)
            if found is not None and found[0].status not in IN_FLIGHT:
                return found
    return None


def announce_settled(uow: UnitOfWork, order_id: str) -> None:
    """Wake whoever waits for this order, once the settling transaction commits."""
    uow.wake_on_commit(order_id)


def _status_of(rt: Runtime, order_id: str) -> str | None:
    with rt.database.connect() as connection:
        return store.status_of(connection, order_id)
