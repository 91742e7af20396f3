"""How events travel between modules: the interface, and the in-process implementation.

The topology is the broker's: every publishing module has a topic exchange, every
consuming module a queue bound to the event types it handles. In memory, "publish"
delivers to each bound queue's handler at once, in the publishing thread.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Protocol

from oms.bus.envelope import Event, MalformedEvent
from oms.telemetry import metrics
from oms.telemetry.context import event_fields

log = logging.getLogger(__name__)

Delivery = Callable[[Event], None]


class Transport(Protocol):
    def bind(self, consumer: str, event_types: Iterable[str], deliver: Delivery) -> None:
        """Route every event of `event_types` to `consumer`, which handles it with `deliver`."""

    def publish(self, event: Event) -> None:
        """Hand `event` over for delivery; raise if it cannot be taken now."""

    def ping(self) -> None:
        """Raise if the transport cannot be reached."""

    def pending(self) -> int:
        """How many messages wait in consumers' queues (not counting those being handled)."""

    def close(self) -> None: ...


class MemoryTransport:
    """Synchronous delivery inside one process, with bounded retries.

    `publish` returns once every bound consumer has handled the event (and, by
    recursion, whatever their handlers published). A consumer that keeps failing
    gets the event dead-lettered: logged in full and kept in `dead_letters`.
    """

    def __init__(self, max_attempts: int = 5) -> None:
        self.max_attempts = max_attempts
        self.dead_letters: list[tuple[str, Event, str]] = []
        self._queues: dict[str, list[tuple[str, Delivery]]] = defaultdict(list)

    def bind(self, consumer: str, event_types: Iterable[str], deliver: Delivery) -> None:
        for event_type in event_types:
            self._queues[event_type].append((consumer, deliver))

    def publish(self, event: Event) -> None:
        for consumer, deliver in self._queues.get(event.type, ()):
            self._deliver(consumer, deliver, event)

    def ping(self) -> None:
        return None

    def pending(self) -> int:
        return 0  # delivery is synchronous: nothing ever waits

    def close(self) -> None:
        return None

    def _deliver(self, consumer: str, deliver: Delivery, event: Event) -> None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                deliver(event)
                return
            except MalformedEvent as error:  # no retry can make it valid
                last_error = repr(error)
                break
            except Exception as error:
                log.warning(
                    "consumer %s failed on %s %s (attempt %d): %s",
                    consumer,
                    event.type,
                    event.id,
                    attempt,
                    error,
                    extra=event_fields(event.id, event.type, event.correlationid),
                )
                last_error = repr(error)
                if attempt < self.max_attempts:
                    metrics.count_retry(consumer, event.type)
        metrics.count_dead_letter(consumer)
        log.error(
            "dead-lettered for %s: %s (%s)",
            consumer,
            event.to_json(),
            last_error,
            extra=event_fields(event.id, event.type, event.correlationid),
        )
        self.dead_letters.append((consumer, event, last_error))
