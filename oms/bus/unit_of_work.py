"""One transaction of one module: its state changes and the events they cause, together."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Insert, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from oms.bus.catalogue import EventType
from oms.bus.envelope import Event
from oms.bus.store import MessageTables
from oms.db import WriteTransaction
from oms.statements import execute, execute_later
from oms.telemetry.context import child_traceparent, current_traceparent

INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@functools.cache
def _recording(outbox: Table) -> Insert:
    return insert(outbox)


@functools.cache
def _claiming(inbox: Table, dialect: str) -> Insert:
    """The inbox insert that skips an event handled before (built once: it is on every
    delivery's path)."""
    return INSERTS[dialect](inbox).on_conflict_do_nothing()


class UnitOfWork:
    """Commit the module's changes and its outbox rows at once; hand the events on after
    commit. Its transaction's plain `connection` runs the hot paths' statements; `session`
    (made on first use, on the same transaction) is there for ORM objects."""

    def __init__(
        self,
        transaction: WriteTransaction,
        tables: MessageTables,
        after_commit: Callable[[MessageTables, list[Event]], None],
    ) -> None:
        self._transaction = transaction
        self.tables = tables
        self._after_commit = after_commit
        self._recorded: list[Event] = []

    @property
    def connection(self) -> Connection:
        return self._transaction.connection

    @property
    def session(self) -> Session:
        return self._transaction.session

    def wake_on_commit(self, key: str) -> None:
        """Wake whoever waits for `key` (in any process) once this unit of work commits."""
        self._transaction.wake_on_commit(key)

    def publish(
        self, event_type: EventType, data: dict[str, Any], *, correlation_id: str | None
    ) -> Event:
        if event_type.publisher != self.tables.module:
            raise ValueError(f"{self.tables.module} cannot publish {event_type.name}")
        event_type.check(data)
        event = Event(
            type=event_type.name,
            source=f"oms/{self.tables.module}",
            data=data,
            correlationid=correlation_id,
            dataschema=event_type.dataschema,
            traceparent=child_traceparent(current_traceparent()),
        )
        row = {
            "id": event.id,
            "type": event.type,
            "envelope": event.to_json(),
            "created_at": datetime.now(UTC),
        }
        execute_later(self.connection, _recording(self.tables.outbox), row)
        self._recorded.append(event)
        return event

    def claim(self, event: Event) -> bool:
        """Record `event` as handled here; False if this module handled it already."""
        dialect = self.connection.dialect.name
        row = {
            "event_id": event.id,
            "type": event.type,
            "handled_at": datetime.now(UTC),
            "correlation_id": event.correlationid,
        }
        return execute(self.connection, _claiming(self.tables.inbox, dialect), row).rowcount == 1

    def __enter__(self) -> UnitOfWork:
        self._transaction.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._transaction.__exit__(exc_type, exc, traceback)
        if exc_type is None and self._recorded:
            self._after_commit(self.tables, self._recorded)
