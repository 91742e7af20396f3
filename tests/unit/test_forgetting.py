"""Published events' outbox rows are forgotten in batches, by a thread of their own."""

from __future__ import annotations

import threading

import pytest

from oms.bus import Event
from oms.bus.forgetting import Forgetting
from tests.polling import wait_until


def _events(count: int) -> list[Event]:
    return [Event(type="order.shipped", source="oms/orders", data={}) for _ in range(count)]


def test_events_added_within_an_interval_are_forgotten_together() -> None:
    batches: list[list[str]] = []
    forgetting = Forgetting(lambda events: batches.append([e.id for e in events]), 0.2)
    first, second = _events(3), _events(2)

    forgetting.add(first)
    forgetting.add(second)
    wait_until(lambda: batches, 2.0, what="a batch")
    forgetting.close()

    assert batches == [[event.id for event in first + second]]


def test_close_forgets_the_rest_and_stops_the_thread() -> None:
    forgotten: list[str] = []
    forgetting = Forgetting(lambda events: forgotten.extend(e.id for e in events), 60.0)
    before = set(threading.enumerate())
    events = _events(2)

    forgetting.add(events)
    [flusher] = [thread for thread in set(threading.enumerate()) - before]
    forgetting.close()

    assert forgotten == [event.id for event in events]
    wait_until(lambda: not flusher.is_alive(), 2.0, what="the flushing thread stopped")


def test_a_batch_that_could_not_be_forgotten_is_kept_for_the_next_round() -> None:
    attempts: list[list[str]] = []

    def forget(events: list[Event]) -> None:
        attempts.append([event.id for event in events])
        if len(attempts) == 1:
            raise ConnectionError("database unreachable")

    forgetting = Forgetting(forget, 60.0)
    first, later = _events(1), _events(1)
    forgetting.add(first)
    with pytest.raises(ConnectionError):
        forgetting.flush()
    forgetting.add(later)
    forgetting.flush()
    forgetting.close()

    assert attempts == [[first[0].id], [first[0].id, later[0].id]]
