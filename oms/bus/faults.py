"""Which failures are worth waiting out, and how long to wait before the next try.

A transient fault is one the same attempt can survive later: the database or the
broker unreachable, a dropped connection, a serialization failure, a deadlock, a lock
or statement timeout. Anything else (an invalid event, a handler bug) fails the same
way every time, so it gets a few quick attempts and then goes to the dead letters.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# PostgreSQL SQLSTATE classes and codes that a retry can get past.
TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57", "40")  # connection, resources, operator, rollback
TRANSIENT_SQLSTATES = {"55P03", "55006"}  # lock not available, object in use


def is_transient(error: BaseException) -> bool:
    """Whether retrying the same work later may succeed."""
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        return _transient_sqlstate(getattr(error.orig, "pgcode", None))
    if isinstance(error, (OSError, TimeoutError)):  # sockets, ConnectionError
        return True
    return isinstance(error, _broker_errors())


def _transient_sqlstate(code: str | None) -> bool:
    if not code:
        return False
    return code in TRANSIENT_SQLSTATES or code[:2] in TRANSIENT_SQLSTATE_CLASSES


def _broker_errors() -> tuple[type[BaseException], ...]:
    """kombu's and amqp's connection errors, where broker mode has loaded them."""
    errors: list[type[BaseException]] = []
    if "kombu.exceptions" in sys.modules:
        errors.append(sys.modules["kombu.exceptions"].OperationalError)
    if "amqp.exceptions" in sys.modules:
        errors.append(sys.modules["amqp.exceptions"].RecoverableConnectionError)
    return tuple(errors)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, for a bounded total time."""

    initial_seconds: float = 1.0
    max_delay_seconds: float = 60.0
    budget_seconds: float = 600.0
    quick_attempts: int = 5  # for failures that are not transient

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1, 2, ...)."""
        ceiling = min(self.initial_seconds * 2 ** max(attempt - 1, 0), self.max_delay_seconds)
        return random.uniform(ceiling / 2, ceiling)

    def next_try(
        self, error: BaseException, attempt: int, first_failed_at: datetime, now: datetime
    ) -> datetime | None:
        """When to try again after `error`, or None: give up (dead-letter)."""
        if is_transient(error):
            if now - first_failed_at >= timedelta(seconds=self.budget_seconds):
                return None
        elif attempt >= self.quick_attempts:
            return None
        return now + timedelta(seconds=self.delay(attempt))
