"""Wake a thread that waits for something another transaction will do (an order settling),
instead of having it poll the database.

A writer asks for the wake-up inside its transaction (`WriteTransaction.wake_on_commit`);
it goes out when that transaction commits, and not at all if it rolls back. On
PostgreSQL it travels as `NOTIFY`, so a web process learns what a bus worker in another
process did; one `LISTEN` connection per process hands it to the waiting threads. On
SQLite the commit wakes the waiters of its own process only: a checkout's saga runs in
the process that took the request, and what another process settles (a retry its
upkeep made) is seen at the waiter's next slice.

A wake-up is a hint, never the truth: a waiter re-reads the state it waits for, and
waits in slices, so a wake-up lost to a dropped connection costs one slice, not the wait.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from select import select as wait_for_io
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select

from oms.statements import execute_later

log = logging.getLogger(__name__)

CHANNEL = "oms_wakeups"
RECONNECT_SECONDS = 1.0


NOTIFY = select(func.pg_notify(CHANNEL, bindparam("key")).label("notified"))


def notify_on_commit(connection: Connection, key: str) -> None:
    """PostgreSQL: have the server send `key` to every listener when the connection's
    transaction commits (NOTIFY is transactional). Kept, to go with the commit: nothing
    reads its outcome."""
    execute_later(connection, NOTIFY, {"key": key})


class Waiter:
    def __init__(self) -> None:
        self._woken = threading.Event()

    def wait(self, seconds: float) -> bool:
        """Block up to `seconds` or until woken; whether it was woken (then re-armed)."""
        woken = self._woken.wait(seconds)
        self._woken.clear()
        return woken

    def wake(self) -> None:
        self._woken.set()


class Wakeups:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._uses_notify = engine.dialect.name == "postgresql"
        self._waiters: dict[str, set[Waiter]] = defaultdict(set)
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()

    @contextmanager
    def expect(self, key: str) -> Iterator[Waiter]:
        """A waiter for `key`, armed before the caller first reads the state, so a
        wake-up between that read and the wait is not missed."""
        waiter = Waiter()
        self._start_listening()
        with self._lock:
            self._waiters[key].add(waiter)
        try:
            yield waiter
        finally:
            with self._lock:
                self._waiters[key].discard(waiter)
                if not self._waiters[key]:
                    del self._waiters[key]

    def close(self) -> None:
        self._stop.set()

    def wake(self, key: str) -> None:
        """Wake this process's waiters of `key` (what a commit on SQLite does)."""
        with self._lock:
            waiters = list(self._waiters.get(key, ()))
        for waiter in waiters:
            waiter.wake()

    def _start_listening(self) -> None:
        if not self._uses_notify or self._listener is not None:
            return
        with self._lock:
            if self._listener is None:
                self._listener = threading.Thread(
                    target=self._listen_until_closed, name="oms-wakeups", daemon=True
                )
                self._listener.start()

    def _listen_until_closed(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as error:  # PostgreSQL away: waiters fall back to their slices
                log.warning("wake-up listener lost its connection: %r", error)
                self._stop.wait(RECONNECT_SECONDS)

    def _listen(self) -> None:
        connection: Any = self._engine.raw_connection()
        try:
            driver = connection.driver_connection
            driver.autocommit = True  # a LISTEN inside a transaction hears nothing
            driver.cursor().execute(f"LISTEN {CHANNEL}")
            while not self._stop.is_set():
                if wait_for_io([driver], [], [], RECONNECT_SECONDS)[0]:
                    driver.poll()
                    while driver.notifies:
                        self.wake(driver.notifies.pop(0).payload)
        finally:
            connection.invalidate()  # never back to the pool in autocommit and listening
