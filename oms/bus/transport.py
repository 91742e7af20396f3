"""How events travel between modules: the interface, and the in-process implementation.

The topology is the broker's: every publishing module has a topic exchange, every
consuming module a queue bound to the event types it handles. In memory, "publish"
delivers to each bound queue's handler at once, in the publishing thread.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from oms.bus.dead_letters import FAILED, MALFORMED, DeadLetterStore, Failure
from oms.bus.envelope import Event, MalformedEvent
from oms.bus.faults import RetryPolicy
from oms.db import utc_now
from oms.telemetry import metrics
from oms.telemetry.context import event_fields

log = logging.getLogger(__name__)

Delivery = Callable[[Event], None]


class Transport(Protocol):
    def bind(self, consumer: str, event_types: Iterable[str], deliver: Delivery) -> None:
        """Route every event of `event_types` to `consumer`, which handles it with `deliver`."""

    def use_dead_letters(self, store: DeadLetterStore, policy: RetryPolicy) -> None:
        """Where messages that cannot be handled end, and how failures are retried."""

    def publish(self, event: Event) -> None:
        """Hand `event` over for delivery; raise if it cannot be taken now."""

    def sweep(self) -> None:
        """Periodic upkeep (wherever the relay runs): retries that are due, dead letters
        moved into the store."""

    def ping(self) -> None:
        """Raise if the transport cannot be reached."""

    def pending(self) -> int:
        """How many messages wait in consumers' queues (not counting those being handled)."""

    def close(self) -> None: ...


class MemoryTransport:
    """Synchronous delivery inside one process; failed deliveries retried from the store.

    `publish` returns once every bound consumer has handled the event (and, by
    recursion, whatever their handlers published), or has had its failure parked in
    the dead-letter store with the time of its next try. `sweep` makes the tries that
    are due. If even parking fails (the database is away), `publish` raises, and the
    publisher's outbox keeps the event for the relay to publish again.
    """

    def __init__(self) -> None:
        self._queues: dict[str, list[tuple[str, Delivery]]] = defaultdict(list)
        self._consumers: dict[str, Delivery] = {}
        self._store: DeadLetterStore | None = None
        self._policy = RetryPolicy()

    def bind(self, consumer: str, event_types: Iterable[str], deliver: Delivery) -> None:
        self._consumers[consumer] = deliver
        for event_type in event_types:
            self._queues[event_type].append((consumer, deliver))

    def use_dead_letters(self, store: DeadLetterStore, policy: RetryPolicy) -> None:
        self._store, self._policy = store, policy

    def publish(self, event: Event) -> None:
        for consumer, deliver in self._queues.get(event.type, ()):
            self._deliver(consumer, deliver, event)

    def sweep(self) -> None:
        if self._store is None:
            return
        for entry in self._store.due(utc_now()):
            event = Event.from_json(entry.body)
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

    def pending(self) -> int:
        return 0  # delivery is synchronous: nothing ever waits

    def close(self) -> None:
        return None

    def _deliver(self, consumer: str, deliver: Delivery, event: Event) -> None:
        try:
            deliver(event)
        except MalformedEvent as error:  # no retry can make it valid
            self._park(consumer, event, error, Failure(MALFORMED, event.to_json(), repr(error)))
        except Exception as error:
            now = utc_now()
            retry_at = self._policy.next_try(error, 1, now, now)
            failure = Failure(FAILED, event.to_json(), repr(error), retry_at=retry_at)
            self._park(consumer, event, error, failure)

    def _park(self, consumer: str, event: Event, error: Exception, failure: Failure) -> None:
        if self._store is None:
            raise error
        self._store.park(consumer, failure)
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
