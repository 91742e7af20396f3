"""Units of work, the outbox relay, inbox-guarded handlers and in-memory delivery."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from oms import orders, payments, users
from oms.app import start_runtime
from oms.bus import (
    DeadLetterStore,
    Event,
    MalformedEvent,
    MemoryTransport,
    MessageTables,
    RetryPolicy,
    UnitOfWork,
    events,
)
from oms.bus.bus import SWEEP_BATCH
from oms.bus.transport import Delivery, Forget, Transport
from oms.config import Settings
from oms.runtime import Runtime
from tests.polling import sweep_until, wait_until


class Boom(RuntimeError):
    """What a test's handler or use case raises on purpose."""


class BrokerOutage:
    """A broker that cannot be reached: it takes nothing (or only the first few events,
    which it hands on to the transport it stands in front of)."""

    def __init__(self, broker: Transport, accept_first: int = 0) -> None:
        self.broker = broker
        self.accept_first = accept_first
        self.taken: list[Event] = []

    def bind(self, consumer: str, event_types: Iterable[str], deliver: Delivery) -> None:
        return None

    def publish(self, event: Event) -> None:
        if len(self.taken) >= self.accept_first:
            raise ConnectionError("broker unreachable")
        self.taken.append(event)
        self.broker.publish(event)

    def use_dead_letters(self, store: DeadLetterStore, policy: RetryPolicy) -> None:
        return None

    def use_outbox(self, forget: Forget) -> None:
        return None

    def consume(self, stop: threading.Event) -> None:
        return None

    def sweep(self) -> None:
        return None

    def ping(self) -> None:
        raise ConnectionError("broker unreachable")

    def close(self) -> None:
        return None


def _order_shipped() -> dict[str, str]:
    return {"orderId": str(uuid.uuid4())}


def _listen(runtime: Runtime, event_type: str = "order.shipped") -> list[Event]:
    """Every event of `event_type` the transport delivers, as a consumer would see it."""
    received: list[Event] = []
    runtime.bus.transport.bind("probe", [event_type], received.append)
    return received


def _outbox_ids(runtime: Runtime, tables: MessageTables) -> list[str]:
    with runtime.database.reading() as session:
        return list(session.scalars(select(tables.outbox.c.id)))


def _inbox_count(runtime: Runtime, tables: MessageTables, event: Event) -> int:
    inbox = tables.inbox
    with runtime.database.reading() as session:
        query = select(func.count()).select_from(inbox).where(inbox.c.event_id == event.id)
        return session.scalar(query) or 0


def _shipped_event() -> Event:
    return Event(type="order.shipped", source="oms/orders", data=_order_shipped())


# Publishing through a unit of work


def test_a_module_cannot_publish_another_modules_event(runtime: Runtime) -> None:
    with (
        pytest.raises(ValueError, match=r"payments cannot publish order\.shipped"),
        runtime.bus.unit_of_work(payments.MESSAGES) as uow,
    ):
        uow.publish(events.ORDER_SHIPPED, _order_shipped(), correlation_id=None)

    assert _outbox_ids(runtime, payments.MESSAGES) == []


def test_publishing_an_invalid_payload_is_refused_and_stores_nothing(runtime: Runtime) -> None:
    received = _listen(runtime)

    with (
        pytest.raises(MalformedEvent),
        runtime.bus.unit_of_work(orders.MESSAGES) as uow,
    ):
        uow.publish(events.ORDER_SHIPPED, {"orderId": "not-a-uuid"}, correlation_id=None)

    assert _outbox_ids(runtime, orders.MESSAGES) == []
    assert received == []


def test_publish_writes_the_outbox_row_inside_the_transaction(runtime: Runtime) -> None:
    received = _listen(runtime)

    with runtime.bus.unit_of_work(orders.MESSAGES) as uow:
        event = uow.publish(events.ORDER_SHIPPED, _order_shipped(), correlation_id="order-1")
        rows = uow.session.execute(select(orders.MESSAGES.outbox)).all()
        assert [(row.id, row.type) for row in rows] == [(event.id, "order.shipped")]
        assert Event.from_json(rows[0].envelope) == event
        assert received == []  # nothing leaves before the commit

    assert event.source == "oms/orders"
    assert event.correlationid == "order-1"
    assert event.dataschema == "urn:oms:events:order.shipped:v1"


def test_a_rolled_back_transaction_leaves_no_outbox_row_and_delivers_nothing(
    runtime: Runtime,
) -> None:
    received = _listen(runtime)

    with pytest.raises(Boom), runtime.bus.unit_of_work(orders.MESSAGES) as uow:
        uow.publish(events.ORDER_SHIPPED, _order_shipped(), correlation_id=None)
        raise Boom

    assert _outbox_ids(runtime, orders.MESSAGES) == []
    assert received == []
    assert runtime.bus.relay_pending() == 0
    assert received == []


def test_after_commit_the_event_is_delivered_and_its_outbox_row_soon_forgotten(
    runtime: Runtime,
) -> None:
    received = _listen(runtime)

    with runtime.bus.unit_of_work(orders.MESSAGES) as uow:
        first = uow.publish(events.ORDER_SHIPPED, _order_shipped(), correlation_id=None)
        second = uow.publish(events.ORDER_SHIPPED, _order_shipped(), correlation_id=None)

    assert received == [first, second]  # in the order they were published
    # forgotten with the next batch, a fraction of a second later
    wait_until(lambda: _outbox_ids(runtime, orders.MESSAGES) == [], 2.0, what="the outbox empty")


def test_a_broker_outage_keeps_the_event_in_the_outbox_until_the_relay_delivers_it_once(
    runtime: Runtime,
) -> None:
    memory = runtime.bus.transport
    received = _listen(runtime)
    runtime.bus.transport = BrokerOutage(memory)

    with runtime.bus.unit_of_work(orders.MESSAGES) as uow:  # the commit still succeeds
        event = uow.publish(events.ORDER_SHIPPED, _order_shipped(), correlation_id=None)

    assert _outbox_ids(runtime, orders.MESSAGES) == [event.id]
    assert runtime.bus.relay_pending() == 0  # still down: nothing lost, nothing sent
    assert _outbox_ids(runtime, orders.MESSAGES) == [event.id]

    runtime.bus.transport = memory  # the broker is back
    assert runtime.bus.relay_pending() == 1
    assert runtime.bus.relay_pending() == 0

    assert received == [event]
    assert _outbox_ids(runtime, orders.MESSAGES) == []


def test_after_a_long_outage_one_relay_pass_publishes_the_whole_backlog(
    runtime: Runtime,
) -> None:
    memory = runtime.bus.transport
    received = _listen(runtime)
    runtime.bus.transport = BrokerOutage(memory)
    backlog = SWEEP_BATCH * 2 + 7
    for _ in range(backlog):
        with runtime.bus.unit_of_work(orders.MESSAGES) as uow:
            uow.publish(events.ORDER_SHIPPED, _order_shipped(), correlation_id=None)

    runtime.bus.transport = memory
    assert runtime.bus.relay_pending() == backlog

    assert len({event.id for event in received}) == backlog
    assert _outbox_ids(runtime, orders.MESSAGES) == []


def test_a_relay_interrupted_by_an_outage_forgets_only_what_the_broker_took(
    runtime: Runtime,
) -> None:
    memory = runtime.bus.transport
    received = _listen(runtime)
    runtime.bus.transport = BrokerOutage(memory)
    with runtime.bus.unit_of_work(orders.MESSAGES) as uow:
        published = [
            uow.publish(events.ORDER_SHIPPED, _order_shipped(), correlation_id=None)
            for _ in range(3)
        ]
    flaky = BrokerOutage(memory, accept_first=1)
    runtime.bus.transport = flaky

    assert runtime.bus.relay_pending() == 1
    assert len(flaky.taken) == 1
    remaining = set(_outbox_ids(runtime, orders.MESSAGES))
    assert remaining == {event.id for event in published} - {flaky.taken[0].id}

    runtime.bus.transport = memory
    assert runtime.bus.relay_pending() == 2
    assert {event.id for event in received} | {flaky.taken[0].id} == {e.id for e in published}
    assert _outbox_ids(runtime, orders.MESSAGES) == []


def test_the_relay_leaves_events_younger_than_its_grace_period(runtime: Runtime) -> None:
    memory = runtime.bus.transport
    runtime.bus.transport = BrokerOutage(memory)
    with runtime.bus.unit_of_work(orders.MESSAGES) as uow:
        event = uow.publish(events.ORDER_SHIPPED, _order_shipped(), correlation_id=None)
    runtime.bus.transport = memory

    assert runtime.bus.relay_pending(older_than_seconds=60) == 0
    assert _outbox_ids(runtime, orders.MESSAGES) == [event.id]


# Handling through the inbox


def test_handling_the_same_event_twice_runs_the_handler_once(runtime: Runtime) -> None:
    calls: list[str] = []
    event = _shipped_event()

    def handler(received: Event, uow: UnitOfWork) -> None:
        calls.append(received.id)

    runtime.bus.handle(users.MESSAGES, handler, event)
    runtime.bus.handle(users.MESSAGES, handler, event)

    assert calls == [event.id]
    assert _inbox_count(runtime, users.MESSAGES, event) == 1


def test_a_redelivered_event_reaches_a_subscribed_handler_once(runtime: Runtime) -> None:
    calls: list[Event] = []
    runtime.bus.subscribe(
        users.MESSAGES, {events.ORDER_SHIPPED: lambda event, uow: calls.append(event)}
    )
    event = _shipped_event()

    runtime.bus.transport.publish(event)
    runtime.bus.transport.publish(event)  # at-least-once delivery: the broker sent it again

    assert calls == [event]


def test_the_inbox_is_per_module(runtime: Runtime) -> None:
    calls: list[str] = []
    event = _shipped_event()

    def handler(received: Event, uow: UnitOfWork) -> None:
        calls.append(uow.tables.module)

    runtime.bus.handle(users.MESSAGES, handler, event)
    runtime.bus.handle(payments.MESSAGES, handler, event)

    assert calls == ["users", "payments"]


def test_a_failing_handler_rolls_back_its_inbox_claim_so_a_retry_runs_it_again(
    runtime: Runtime,
) -> None:
    attempts: list[int] = []
    event = _shipped_event()

    def handler(received: Event, uow: UnitOfWork) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            raise Boom("database hiccup")

    with pytest.raises(Boom):
        runtime.bus.handle(users.MESSAGES, handler, event)
    assert _inbox_count(runtime, users.MESSAGES, event) == 0

    runtime.bus.handle(users.MESSAGES, handler, event)
    runtime.bus.handle(users.MESSAGES, handler, event)

    assert attempts == [1, 2]
    assert _inbox_count(runtime, users.MESSAGES, event) == 1


def test_a_failing_handler_publishes_nothing(runtime: Runtime) -> None:
    received = _listen(runtime)

    def handler(event: Event, uow: UnitOfWork) -> None:
        uow.publish(events.ORDER_SHIPPED, _order_shipped(), correlation_id=None)
        raise Boom

    with pytest.raises(Boom):
        runtime.bus.handle(orders.MESSAGES, handler, _shipped_event())

    assert received == []
    assert _outbox_ids(runtime, orders.MESSAGES) == []


def test_events_a_handler_publishes_are_delivered_after_its_commit(runtime: Runtime) -> None:
    received = _listen(runtime)
    seen_in_handler: list[int] = []

    def handler(event: Event, uow: UnitOfWork) -> None:
        uow.publish(events.ORDER_SHIPPED, _order_shipped(), correlation_id=None)
        seen_in_handler.append(len(received))

    runtime.bus.handle(orders.MESSAGES, handler, _shipped_event())

    assert seen_in_handler == [0]
    assert len(received) == 1


# In-memory delivery


@pytest.fixture
def quick_retries(settings: Settings) -> Iterator[Runtime]:
    """An embedded runtime whose failed deliveries are tried again within milliseconds."""
    runtime = start_runtime(
        replace(settings, retry_initial_seconds=0.001, retry_max_delay_seconds=0.002)
    )
    yield runtime
    runtime.close()


def test_a_failing_delivery_waits_for_a_later_try_while_other_consumers_get_the_event(
    runtime: Runtime,
) -> None:
    healthy: list[Event] = []

    def broken(event: Event) -> None:
        raise ConnectionError("database unreachable")

    runtime.bus.transport.bind("orders", ["order.shipped"], broken)
    runtime.bus.transport.bind("users", ["order.shipped"], healthy.append)
    event = _shipped_event()

    runtime.bus.transport.publish(event)

    assert healthy == [event]  # one consumer's failure does not stop the others
    assert runtime.bus.dead_letters.entries() == []  # not dead: waiting for its next try
    [waiting] = runtime.bus.dead_letters.entries(include_waiting=True)
    assert (waiting.module, waiting.event_id, waiting.kind) == ("orders", event.id, "failed")
    assert waiting.retry_at is not None
    assert "database unreachable" in waiting.last_error


def test_a_transient_failure_is_retried_when_due_and_then_forgotten(
    quick_retries: Runtime,
) -> None:
    attempts: list[Event] = []

    def flaky(event: Event) -> None:
        attempts.append(event)
        if len(attempts) < 3:
            raise ConnectionError("not yet")

    quick_retries.bus.transport.bind("orders", ["order.shipped"], flaky)
    quick_retries.bus.transport.publish(_shipped_event())

    sweep_until(quick_retries, lambda: len(attempts) == 3)
    assert quick_retries.bus.dead_letters.entries(include_waiting=True) == []


def test_a_delivery_that_fails_every_time_is_dead_lettered_after_a_few_tries(
    quick_retries: Runtime,
) -> None:
    attempts: list[Event] = []

    def broken(event: Event) -> None:
        attempts.append(event)
        raise Boom(f"bug number {len(attempts)}")

    quick_retries.bus.transport.bind("orders", ["order.shipped"], broken)
    event = _shipped_event()
    quick_retries.bus.transport.publish(event)

    sweep_until(quick_retries, lambda: quick_retries.bus.dead_letters.entries() != [])
    [dead] = quick_retries.bus.dead_letters.entries()
    assert len(attempts) == dead.attempts == quick_retries.settings.max_delivery_attempts
    assert (dead.event_id, dead.event_type, dead.retry_at) == (event.id, "order.shipped", None)
    assert "bug number 1" in dead.first_error
    assert f"bug number {dead.attempts}" in dead.last_error


def test_a_transient_failure_is_dead_lettered_once_the_retry_budget_is_spent(
    settings: Settings,
) -> None:
    runtime = start_runtime(
        replace(settings, retry_initial_seconds=0.001, retry_budget_seconds=0.05)
    )
    try:
        runtime.bus.transport.bind("orders", ["order.shipped"], _always(ConnectionError("away")))
        runtime.bus.transport.publish(_shipped_event())
        sweep_until(runtime, lambda: runtime.bus.dead_letters.entries() != [], timeout=5.0)
        [dead] = runtime.bus.dead_letters.entries()
        assert dead.attempts > 1
    finally:
        runtime.close()


def test_a_dead_letter_replayed_after_the_fault_is_fixed_is_handled_and_forgotten(
    quick_retries: Runtime,
) -> None:
    handled: list[Event] = []
    broken = {"yes": True}

    def handler(event: Event, uow: UnitOfWork) -> None:
        if broken["yes"]:
            raise Boom("bug")
        handled.append(event)

    quick_retries.bus.subscribe(users.MESSAGES, {events.ORDER_SHIPPED: handler})
    event = _shipped_event()
    quick_retries.bus.transport.publish(event)
    sweep_until(quick_retries, lambda: quick_retries.bus.dead_letters.entries() != [])

    broken["yes"] = False
    assert quick_retries.bus.replay(quick_retries.bus.dead_letters.entries()) == []

    assert handled == [event]
    assert quick_retries.bus.dead_letters.entries(include_waiting=True) == []


def _always(error: Exception) -> Callable[[Event], None]:
    def fail(event: Event) -> None:
        raise error

    return fail


def test_memory_transport_delivers_only_to_consumers_bound_to_the_type() -> None:
    transport = MemoryTransport()
    shipped: list[Event] = []
    transport.bind("shipping", ["order.shipped"], shipped.append)

    transport.publish(Event(type="order.created", source="oms/orders", data={}))

    assert shipped == []


def test_a_malformed_dead_letter_is_not_handled_when_replayed(quick_retries: Runtime) -> None:
    """What comes back from outside the process is checked against the catalogue before
    any handler sees it (events published here were checked when published)."""
    calls: list[Event] = []

    def broken(event: Event, uow: UnitOfWork) -> None:
        calls.append(event)
        raise Boom("bug")

    quick_retries.bus.subscribe(users.MESSAGES, {events.ORDER_SHIPPED: broken})
    quick_retries.bus.transport.publish(_shipped_event())
    sweep_until(quick_retries, lambda: quick_retries.bus.dead_letters.entries() != [])
    [entry] = quick_retries.bus.dead_letters.entries()
    malformed = replace(entry, body=entry.body.replace('"orderId":"', '"orderId":"not-a-uuid-'))

    tries_before = len(calls)

    [(_entry, error)] = quick_retries.bus.replay([malformed])

    assert "MalformedEvent" in error
    assert len(calls) == tries_before
    assert quick_retries.bus.dead_letters.entries()[0].event_id == entry.event_id
