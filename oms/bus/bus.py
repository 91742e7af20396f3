"""The event bus: units of work with an outbox, a relay, and inbox-guarded handlers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from oms.bus.catalogue import EventType, event_type_of
from oms.bus.envelope import Event
from oms.bus.store import MessageTables
from oms.bus.transport import Transport
from oms.bus.unit_of_work import UnitOfWork
from oms.db import Database

log = logging.getLogger(__name__)

Handler = Callable[[Event, UnitOfWork], None]
SWEEP_BATCH = 200


class Bus:
    def __init__(self, database: Database, transport: Transport) -> None:
        self.database = database
        self.transport = transport
        self._outboxes: dict[str, MessageTables] = {}
        self._handling = 0
        self._handling_lock = threading.Lock()

    @property
    def is_handling(self) -> bool:
        """Whether a handler is running in this process right now."""
        return self._handling > 0

    def register(self, tables: MessageTables) -> None:
        """Make the relay responsible for this module's outbox."""
        self._outboxes[tables.module] = tables

    def subscribe(self, tables: MessageTables, handlers: Mapping[EventType, Handler]) -> None:
        by_name = {event_type.name: handler for event_type, handler in handlers.items()}

        def deliver(event: Event) -> None:
            self.handle(tables, by_name[event_type_of(event).name], event)

        self.transport.bind(tables.module, by_name, deliver)

    def unit_of_work(self, tables: MessageTables) -> UnitOfWork:
        return UnitOfWork(self.database.writing(), tables, self._relay)

    def handle(self, tables: MessageTables, handler: Handler, event: Event) -> None:
        """Run `handler` once per event id for this module, in one transaction."""
        with self._handling_lock:
            self._handling += 1
        try:
            with self.unit_of_work(tables) as uow:
                if uow.claim(event):
                    handler(event, uow)
        except IntegrityError:
            if not self._was_handled(tables, event):
                raise  # a real constraint violation, not a concurrent duplicate
        finally:
            with self._handling_lock:
                self._handling -= 1

    def outboxes_empty(self) -> bool:
        with self.database.reading() as session:
            return all(
                session.execute(select(tables.outbox.c.id).limit(1)).first() is None
                for tables in self._outboxes.values()
            )

    def relay_pending(self, older_than_seconds: float = 0.0) -> int:
        """Publish what outboxes still hold (after a crash or an outage); return the count."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        published = 0
        for tables in self._outboxes.values():
            published += self._relay_stored(tables, cutoff)
        return published

    def _relay_stored(self, tables: MessageTables, cutoff: datetime) -> int:
        outbox = tables.outbox
        with self.database.reading() as session:
            rows = session.execute(
                select(outbox.c.envelope)
                .where(outbox.c.created_at <= cutoff)
                .order_by(outbox.c.created_at)
                .limit(SWEEP_BATCH)
            ).all()
        events = [Event.from_json(row.envelope) for row in rows]
        return self._relay(tables, events)

    def _relay(self, tables: MessageTables, events: list[Event]) -> int:
        sent: list[str] = []
        try:
            for event in events:
                self.transport.publish(event)
                sent.append(event.id)
        except Exception as error:  # the transport is down: the outbox keeps the rest
            log.warning("relay of %s paused after %d events: %s", tables.module, len(sent), error)
        finally:
            self._forget(tables, sent)
        return len(sent)

    def _forget(self, tables: MessageTables, event_ids: list[str]) -> None:
        if not event_ids:
            return
        with self.database.writing() as session, session.begin():
            session.execute(delete(tables.outbox).where(tables.outbox.c.id.in_(event_ids)))

    def _was_handled(self, tables: MessageTables, event: Event) -> bool:
        inbox = tables.inbox
        with self.database.reading() as session:
            query = select(inbox.c.event_id).where(inbox.c.event_id == event.id)
            return session.execute(query).first() is not None
