"""The dead-letter store: a table per module, the same in both bus modes.

Kinds: `failed` (a handler kept failing), `malformed` (not an event this consumer can
read), `unroutable` (a published event no queue was bound to take; kept by the
publisher), `redelivered` (the broker's delivery limit: the worker died handling it).
In the embedded mode a failed delivery also waits here for its next try (`retry_at`
set); it becomes a dead letter once its retries are spent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, delete, func, insert, select, true, update

from oms.bus.store import MessageTables
from oms.db import Database, utc_now

FAILED, MALFORMED, UNROUTABLE, REDELIVERED = "failed", "malformed", "unroutable", "redelivered"
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class DeadLetter:
    id: str
    module: str
    kind: str
    event_id: str | None
    event_type: str | None
    correlation_id: str | None
    body: str
    attempts: int
    first_error: str
    last_error: str
    first_failed_at: datetime
    last_failed_at: datetime
    retry_at: datetime | None

    def as_json(self) -> dict:
        entry = asdict(self)
        for key in ("first_failed_at", "last_failed_at", "retry_at"):
            entry[key] = entry[key].isoformat() if entry[key] else None
        return entry


@dataclass(frozen=True)
class Failure:
    """One message that could not be handled, as far as it is known."""

    kind: str
    body: str
    error: str
    attempts: int = 1
    first_error: str | None = None
    first_failed_at: datetime | None = None
    retry_at: datetime | None = None


class DeadLetterStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._tables: dict[str, MessageTables] = {}

    def register(self, tables: MessageTables) -> None:
        self._tables[tables.module] = tables

    @property
    def modules(self) -> list[str]:
        return list(self._tables)

    def park(self, module: str, failure: Failure) -> str:
        """Keep `failure` under `module`; its id."""
        now = utc_now()
        event_id, event_type, correlation_id = _identity(failure.body)
        row = {
            "id": str(uuid.uuid4()),
            "kind": failure.kind,
            "event_id": event_id,
            "event_type": event_type,
            "correlation_id": correlation_id,
            "body": failure.body,
            "attempts": failure.attempts,
            "first_error": _short(failure.first_error or failure.error),
            "last_error": _short(failure.error),
            "first_failed_at": failure.first_failed_at or now,
            "last_failed_at": now,
            "retry_at": failure.retry_at,
        }
        with self.database.writing() as transaction:
            transaction.connection.execute(insert(self._tables[module].dead_letters), row)
        return row["id"]

    def entries(self, include_waiting: bool = False) -> list[DeadLetter]:
        """Dead letters of every module, oldest first; with `include_waiting`, also
        deliveries still waiting for their next try."""
        if include_waiting:
            return self._select(lambda table: true())
        return self._select(lambda table: table.c.retry_at.is_(None))

    def counts(self) -> dict[str, int]:
        """Dead letters per module (waiting retries not counted)."""
        with self.database.reading() as session:
            return {
                module: session.scalar(
                    select(func.count()).where(tables.dead_letters.c.retry_at.is_(None))
                )
                or 0
                for module, tables in self._tables.items()
            }

    def due(self, now: datetime) -> list[DeadLetter]:
        """Deliveries whose next try is due, oldest first."""
        return self._select(lambda table: table.c.retry_at <= now)

    def find(self, ids: Iterable[str]) -> list[DeadLetter]:
        wanted = sorted(set(ids))
        return self._select(lambda table: table.c.id.in_(wanted))

    def _select(self, where: Callable[[Table], ColumnElement[bool]]) -> list[DeadLetter]:
        """The entries of every module's table that `where` keeps, oldest first."""
        found: list[DeadLetter] = []
        with self.database.reading() as session:
            for module, tables in self._tables.items():
                table = tables.dead_letters
                rows = session.execute(select(table).where(where(table)))
                found += [DeadLetter(module=module, **row._mapping) for row in rows]
        return sorted(found, key=lambda entry: entry.first_failed_at)

    def failed_again(self, entry: DeadLetter, error: str, retry_at: datetime | None) -> None:
        table = self._tables[entry.module].dead_letters
        with self.database.writing() as transaction:
            transaction.connection.execute(
                update(table)
                .where(table.c.id == entry.id)
                .values(
                    attempts=table.c.attempts + 1,
                    last_error=_short(error),
                    last_failed_at=utc_now(),
                    retry_at=retry_at,
                )
            )

    def forget(self, entries: Iterable[DeadLetter]) -> int:
        forgotten = 0
        with self.database.writing() as transaction:
            for entry in entries:
                table = self._tables[entry.module].dead_letters
                deleted = transaction.connection.execute(
                    delete(table).where(table.c.id == entry.id)
                )
                forgotten += deleted.rowcount
        return forgotten


def _identity(body: str) -> tuple[str | None, str | None, str | None]:
    """The event id, type and correlation id, if `body` is readable as an envelope."""
    try:
        document = json.loads(body)
    except ValueError:
        return None, None, None
    if not isinstance(document, dict):
        return None, None, None
    return tuple(  # type: ignore[return-value]
        str(value)[:100] if (value := document.get(key)) is not None else None
        for key in ("id", "type", "correlationid")
    )


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"
