"""In memory, the bus delivers breadth-first: first published, first delivered, to every
consumer in turn, each handler done before the next one starts."""

from __future__ import annotations

from itertools import groupby

import pytest

from oms.bus import Bus, Event, MessageTables
from oms.bus.bus import Handler
from tests.support import Shop


@pytest.mark.parametrize("delivery_order", ["fifo"], indirect=True)
def test_a_checkout_is_delivered_in_the_order_a_fifo_queue_drains(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer, widget = shop.register(), shop.add_product(stock=5)
    published: list[Event] = []
    seen: list[tuple[str, str, str]] = []  # ("start" | "end", consumer, event id)
    publish, handle = shop.runtime.bus.transport.publish, Bus.handle

    def recording_publish(event: Event) -> None:
        published.append(event)
        publish(event)

    def recording_handle(bus: Bus, tables: MessageTables, handler: Handler, event: Event) -> None:
        seen.append(("start", tables.module, event.id))
        handle(bus, tables, handler, event)
        seen.append(("end", tables.module, event.id))

    monkeypatch.setattr(shop.runtime.bus.transport, "publish", recording_publish)
    monkeypatch.setattr(Bus, "handle", recording_handle)

    response = shop.checkout(customer, [(widget["productId"], 1)])

    assert response.status_code == 201
    # No handler runs inside another: each one's publish only queued its events.
    starts, ends = seen[0::2], seen[1::2]
    assert [step for step, _, _ in starts] == ["start"] * len(starts)
    assert [(consumer, event) for _, consumer, event in starts] == [
        (consumer, event) for _, consumer, event in ends
    ]
    # Each event goes to every consumer before the next event goes to any, in the
    # order the events were published.
    delivered = [event for event, _ in groupby(event for _, _, event in starts)]
    subscribed = shop.runtime.bus.subscriptions
    consumed = [e.id for e in published if any(e.type in types for types in subscribed.values())]
    assert delivered == consumed
    by_id = {event.id: event.type for event in published}
    assert [by_id[event] for event in delivered] == [
        "order.created",
        "inventory.reserved",
        "order.confirmed",
        "payment.completed",
    ]
    # order.created reaches each of its consumers before anyone hears of the reservation
    first = [consumer for _, consumer, event in starts if by_id[event] == "order.created"]
    assert sorted(first) == sorted(m for m, types in subscribed.items() if "order.created" in types)
