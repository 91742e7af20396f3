"""How events travel between modules: the interface, and the in-process implementation.

The topology is the broker's: every publishing module has a topic exchange, every
consuming module a queue bound to the event types it handles. In memory, the queue is
a FIFO list in the publishing thread, drained breadth-first before `publish` returns.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from oms.bus.catalogue import decode
from oms.bus.dead_letters import FAILED, MALFORMED, DeadLetterStore, Failure
from oms.bus.envelope import Event, MalformedEvent
from oms.bus.faults import RetryPolicy
from oms.db import utc_now
from oms.telemetry import metrics
from oms.telemetry.context import event_fields

log = logging.getLogger(__name__)

Delivery = Callable[[Event], None]
Forget = Callable[[list[Event]], None]
Wanted = Callable[[], set[str]]  # the event types a selective consumer wants now


class Publishing(Protocol):
    """The side of a transport that takes events from the outboxes."""

    def use_outbox(self, forget: Forget) -> None:
        """Whom to tell which published events the transport has taken: their outbox
        rows may go. Until then the relay publishes them again after a crash."""

    def publish(self, event: Event) -> None:
        """Hand `event` over for delivery; raise if it cannot be taken now."""

    def ping(self) -> None:
        """Raise if the transport cannot be reached."""

    def close(self) -> None: ...


class Consuming(Protocol):
    """The side of a transport that hands events to the modules that consume them."""

    def bind(
        self,
        consumer: str,
        event_types: Iterable[str],
        deliver: Delivery,
        wanted: Wanted | None = None,
    ) -> None:
        """Route every event of `event_types` to `consumer`, which handles it with `deliver`.

        With `wanted`, the consumer takes only some of them, and reads which (the webhooks
        module: the types an endpoint subscribes to). A broker then routes it only those:
        what `wanted()` answers when the topology is declared, widened by `route_also`
        and set by `route_only` later. In memory every event goes, and `deliver` filters."""

    def route_also(self, consumer: str, event_types: set[str]) -> None:
        """Route these of `consumer`'s types to it from now on; raise if that cannot be
        done now."""

    def route_only(self, consumer: str, event_types: set[str]) -> None:
        """Route to `consumer` these of its types, and no others."""

    def use_dead_letters(self, store: DeadLetterStore, policy: RetryPolicy) -> None:
        """Where messages that cannot be handled end, and how failures are retried."""

    def consume(self, stop: threading.Event) -> None:
        """Deliver what waits for the bound consumers until `stop` is set."""

    def sweep(self) -> None:
        """Periodic upkeep (wherever the relay runs): retries that are due, dead letters
        moved into the store."""


class Transport(Publishing, Consuming, Protocol):
    """Both sides: every process publishes, and the worker (or, in memory, the
    publishing thread itself) consumes."""


def forget_nothing(events: list[Event]) -> None:
    return None


@dataclass
class _Drain:
    """One thread's queue of deliveries, and what became of each event so far."""

    queue: list[tuple[str, Event]] = field(default_factory=list)
    waiting: dict[str, int] = field(default_factory=dict)  # event id -> deliveries to make
    taken: list[Event] = field(default_factory=list)
    refused: list[Exception] = field(default_factory=list)  # failures not even parked
    kept: set[str] = field(default_factory=set)  # ids left in the outbox for the relay

    def add(self, event: Event, consumers: list[str]) -> None:
        self.queue.extend((consumer, event) for consumer in consumers)
        self.waiting[event.id] = self.waiting.get(event.id, 0) + len(consumers)
        if not consumers:
            self.taken.append(event)

    def done(self, event: Event) -> None:
        self.waiting[event.id] -= 1
        if self.waiting[event.id] == 0 and event.id not in self.kept:
            self.taken.append(event)


class MemoryTransport:
    """Delivery inside one process, breadth-first; failed deliveries retried from the store.

    The first `publish` in a thread queues the event for each bound consumer, then
    drains the queue: it takes the first delivery (with `shuffle`, a random one: a
    test switch for the orders a broker may produce), runs the consumer, and queues
    whatever its handler published, until nothing is left. A publish made while the
    thread drains only queues. A failed delivery is parked in the dead-letter store
    with the time of its next try; `sweep` makes the tries that are due. Once the
    queue is empty the outboxes forget the events taken; one whose failure could not
    even be parked (the database is away) stays there for the relay, and `publish`
    raises.
    """

    def __init__(self, shuffle: random.Random | None = None) -> None:
        self._routes: dict[str, list[str]] = defaultdict(list)  # event type -> consumers
        self._consumers: dict[str, Delivery] = {}
        self._shuffle = shuffle
        self._draining = threading.local()
        self._store: DeadLetterStore | None = None
        self._policy = RetryPolicy()
        self._forget: Forget = forget_nothing

    def bind(
        self,
        consumer: str,
        event_types: Iterable[str],
        deliver: Delivery,
        wanted: Wanted | None = None,
    ) -> None:
        self._consumers[consumer] = deliver
        for event_type in event_types:
            if consumer not in self._routes[event_type]:
                self._routes[event_type].append(consumer)

    def route_also(self, consumer: str, event_types: set[str]) -> None:
        return None  # every event of its types goes to it; it filters

    def route_only(self, consumer: str, event_types: set[str]) -> None:
        return None

    def use_dead_letters(self, store: DeadLetterStore, policy: RetryPolicy) -> None:
        self._store, self._policy = store, policy

    def use_outbox(self, forget: Forget) -> None:
        self._forget = forget

    def publish(self, event: Event) -> None:
        drain: _Drain | None = getattr(self._draining, "drain", None)
        if drain is not None:  # a handler of this thread's drain published: queue it
            drain.add(event, self._routes.get(event.type, []))
            return
        drain = self._draining.drain = _Drain()
        try:
            drain.add(event, self._routes.get(event.type, []))
            while drain.queue:
                consumer, queued = drain.queue.pop(self._next(len(drain.queue)))
                self._deliver(drain, consumer, queued)
        finally:
            self._draining.drain = None
        self._forget(drain.taken)
        if drain.refused:
            raise drain.refused[0]

    def consume(self, stop: threading.Event) -> None:
        stop.wait()  # publishing threads deliver themselves

    def sweep(self) -> None:
        if self._store is None:
            return
        for entry in self._store.due(utc_now()):
            event = decode(entry.body)
            try:
                self._consumers[entry.module](event)
            except Exception as error:
                attempt = entry.attempts + 1
                retry_at = self._policy.next_try(error, attempt, entry.first_failed_at, utc_now())
                self._store.failed_again(entry, repr(error), retry_at)
                self._report(entry.module, event, error, retry_at)
            else:
                self._store.forget([entry])

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None

    def _next(self, queued: int) -> int:
        return self._shuffle.randrange(queued) if self._shuffle else 0

    def _deliver(self, drain: _Drain, consumer: str, event: Event) -> None:
        try:
            self._consumers[consumer](event)
        except MalformedEvent as error:  # no retry can make it valid
            failure = Failure(MALFORMED, event.to_json(), repr(error))
            self._park(drain, consumer, event, error, failure)
        except Exception as error:
            now = utc_now()
            retry_at = self._policy.next_try(error, 1, now, now)
            failure = Failure(FAILED, event.to_json(), repr(error), retry_at=retry_at)
            self._park(drain, consumer, event, error, failure)
        drain.done(event)

    def _park(
        self, drain: _Drain, consumer: str, event: Event, error: Exception, failure: Failure
    ) -> None:
        try:
            if self._store is None:
                raise error
            self._store.park(consumer, failure)
        except Exception as refused:
            fields = event_fields(event.id, event.type, event.correlationid)
            log.warning("%s stays in the outbox: %r", event.id, refused, extra=fields)
            drain.kept.add(event.id)
            drain.refused.append(refused)
            return
        self._report(consumer, event, error, failure.retry_at)

    @staticmethod
    def _report(consumer: str, event: Event, error: Exception, retry_at: datetime | None) -> None:
        fields = event_fields(event.id, event.type, event.correlationid)
        log.warning(
            "consumer %s failed on %s %s: %r", consumer, event.type, event.id, error, extra=fields
        )
        if retry_at is not None:
            metrics.count_retry(consumer, event.type)
            return
        metrics.count_dead_letter(consumer)
        log.error("dead-lettered for %s: %s (%r)", consumer, event.to_json(), error, extra=fields)
