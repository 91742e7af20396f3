"""Dead letters as the console sees them: list, replay, drop.

THE SEAM: `dead_letter_store(runtime)` is the one place the console (and the metrics
collector) get their dead letters from. The durable store (a `dead_letters` table per
module schema, with `oms dead-letters list|replay|drop`) is being built in `oms.bus`;
at merge, make `dead_letter_store` return an adapter over it and delete
`TransportDeadLetters`. Until then the store is what the in-memory transport keeps
in its process (`MemoryTransport.dead_letters`); on RabbitMQ it is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from oms.bus import MemoryTransport
from oms.runtime import Runtime


@dataclass(frozen=True)
class DeadLetter:
    """An event a consuming module gave up on."""

    dead_letter_id: str
    module: str  # the consumer that gave up
    event_id: str
    event_type: str
    correlation_id: str | None
    error: str
    failed_at: datetime | None


class DeadLetterStore(Protocol):
    def list(self, limit: int = 200) -> list[DeadLetter]:
        """The dead letters, most recent first."""

    def count_by_module(self) -> dict[str, int]:
        """How many dead letters each consuming module has."""

    def replay(self, dead_letter_ids: Sequence[str]) -> int:
        """Deliver these again (handlers are idempotent); how many were replayed."""

    def drop(self, dead_letter_ids: Sequence[str]) -> int:
        """Forget these for good; how many were dropped."""


def dead_letter_store(runtime: Runtime) -> DeadLetterStore:
    """The dead letters of this OMS. Seam: the lead wires oms.bus's durable store here."""
    return TransportDeadLetters(runtime)


class TransportDeadLetters:
    """Interim store: the in-memory transport's list (this process only); none on RabbitMQ."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        transport = runtime.bus.transport
        self._kept = transport.dead_letters if isinstance(transport, MemoryTransport) else []

    def list(self, limit: int = 200) -> list[DeadLetter]:
        letters = [
            DeadLetter(
                dead_letter_id=f"{consumer}:{event.id}",
                module=consumer,
                event_id=event.id,
                event_type=event.type,
                correlation_id=event.correlationid,
                error=error,
                failed_at=None,
            )
            for consumer, event, error in self._kept
        ]
        return list(reversed(letters))[:limit]

    def count_by_module(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for consumer, _event, _error in self._kept:
            counts[consumer] = counts.get(consumer, 0) + 1
        return counts

    def replay(self, dead_letter_ids: Sequence[str]) -> int:
        chosen = self._take(dead_letter_ids)
        for _consumer, event, _error in chosen:
            # Every consumer of the type gets it again; the ones that handled it skip it.
            self.runtime.bus.transport.publish(event)
        return len(chosen)

    def drop(self, dead_letter_ids: Sequence[str]) -> int:
        return len(self._take(dead_letter_ids))

    def _take(self, dead_letter_ids: Sequence[str]) -> list:
        wanted = set(dead_letter_ids)
        chosen = [item for item in self._kept if f"{item[0]}:{item[1].id}" in wanted]
        for item in chosen:
            self._kept.remove(item)
        return chosen
