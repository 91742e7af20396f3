"""Outbox rows of published events, deleted in batches.

Once the transport has taken an event (the broker confirmed it, or every in-process
consumer had it) its outbox row may go. Deleting it at once would cost every event a
write transaction of its own; instead the events are gathered and forgotten together
every FORGET_INTERVAL seconds, by a thread that starts with the first event. A crash in
between leaves the batch's rows for the relay to publish again: duplicates, which the
consumers' inboxes drop. A process that stops forgets the rest on its way out.
"""

from __future__ import annotations

import atexit
import logging
import threading

from oms.bus.envelope import Event
from oms.bus.transport import Forget

log = logging.getLogger(__name__)

FORGET_INTERVAL = 0.1  # seconds between deletes of published outbox rows


class Forgetting:
    def __init__(self, forget: Forget, interval: float = FORGET_INTERVAL) -> None:
        self._forget = forget
        self._interval = interval
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    def add(self, events: list[Event]) -> None:
        """Forget these events' outbox rows with the next batch."""
        with self._lock:
            self._events.extend(events)
            if self._flusher is None or not self._flusher.is_alive():
                atexit.register(self._flush_quietly)
                self._stop = threading.Event()
                self._flusher = threading.Thread(
                    target=self._flush_until,
                    args=(self._stop,),
                    name="oms-outbox-forget",
                    daemon=True,
                )
                self._flusher.start()

    def flush(self) -> None:
        """Forget what waits now; raise (keeping it for the next round) if that fails."""
        with self._lock:
            events, self._events = self._events, []
        if not events:
            return
        try:
            self._forget(events)
        except Exception:  # the database is away: try again next round
            with self._lock:
                self._events[:0] = events
            raise

    def close(self) -> None:
        """Stop the flushing thread (a later `add` starts another) and flush now."""
        self._stop.set()
        atexit.unregister(self._flush_quietly)
        self._flush_quietly()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception as error:  # a later flush, or else the relay, sees to them: harmless
            log.warning("could not forget published outbox rows yet: %r", error)

    def _flush_until(self, stop: threading.Event) -> None:
        while not stop.wait(self._interval):
            self._flush_quietly()
