"""The event bus: units of work with an outbox, a relay, and inbox-guarded handlers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from oms.bus.catalogue import EventType, event_type_of
from oms.bus.dead_letters import UNROUTABLE, DeadLetter, DeadLetterStore
from oms.bus.envelope import Event
from oms.bus.faults import RetryPolicy
from oms.bus.store import MessageTables
from oms.bus.transport import Transport
from oms.bus.unit_of_work import UnitOfWork
from oms.db import Database

log = logging.getLogger(__name__)

Handler = Callable[[Event, UnitOfWork], None]
SWEEP_BATCH = 200


class Bus:
    def __init__(
        self, database: Database, transport: Transport, retry_policy: RetryPolicy | None = None
    ) -> None:
        self.database = database
        self.transport = transport
        self.dead_letters = DeadLetterStore(database)
        transport.use_dead_letters(self.dead_letters, retry_policy or RetryPolicy())
        self._outboxes: dict[str, MessageTables] = {}
        self._deliveries: dict[str, Callable[[Event], None]] = {}
        self._thread = threading.local()
        self._handling = 0
        self._handling_lock = threading.Lock()

    @property
    def is_handling(self) -> bool:
        """Whether a handler is running in this process right now."""
        return self._handling > 0

    def register(self, tables: MessageTables) -> None:
        """Make the relay responsible for this module's outbox, and keep its dead letters."""
        self._outboxes[tables.module] = tables
        self.dead_letters.register(tables)

    @property
    def outboxes(self) -> list[MessageTables]:
        return list(self._outboxes.values())

    def subscribe(self, tables: MessageTables, handlers: Mapping[EventType, Handler]) -> None:
        by_name = {event_type.name: handler for event_type, handler in handlers.items()}

        def deliver(event: Event) -> None:
            self.handle(tables, by_name[event_type_of(event).name], event)

        self._deliveries[tables.module] = deliver
        self.transport.bind(tables.module, by_name, deliver)

    def unit_of_work(self, tables: MessageTables) -> UnitOfWork:
        return UnitOfWork(self.database.writing(), tables, self._relay, self.database.write_turn())

    def handle(self, tables: MessageTables, handler: Handler, event: Event) -> None:
        """Run `handler` once per event id for this module, in one transaction."""
        with self._handling_lock:
            self._handling += 1
        try:
            with self.unit_of_work(tables) as uow:
                if uow.claim(event):  # a concurrent duplicate waits here, then claims nothing
                    handler(event, uow)
        finally:
            with self._handling_lock:
                self._handling -= 1

    def replay(self, entries: list[DeadLetter]) -> list[tuple[DeadLetter, str]]:
        """Hand dead letters to their consumer again (an unroutable one to the transport);
        forget each that goes through. The ones that failed again, with their error."""
        failed = []
        for entry in entries:
            try:
                event = Event.from_json(entry.body)
                if entry.kind == UNROUTABLE:
                    self.transport.publish(event)
                else:
                    self._deliveries[entry.module](event)
            except Exception as error:
                self.dead_letters.failed_again(entry, repr(error), retry_at=None)
                failed.append((entry, repr(error)))
            else:
                self.dead_letters.forget([entry])
        return failed

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
            while (batch := self._relay_stored(tables, cutoff)) > 0:
                published += batch
                if batch < SWEEP_BATCH:  # the outbox is drained, or the transport stopped
                    break
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
        """Publish, then forget what the transport took. In memory, publishing runs the
        handlers, which relay their own events: the outermost relay of the cascade
        forgets them all in one transaction."""
        cascade: dict[str, tuple[MessageTables, list[str]]] | None = getattr(
            self._thread, "sent", None
        )
        outermost = cascade is None
        if cascade is None:
            cascade = self._thread.sent = {}
        _, sent = cascade.setdefault(tables.module, (tables, []))
        published = 0
        try:
            for event in events:
                self.transport.publish(event)
                sent.append(event.id)
                published += 1
        except Exception as error:  # the transport is down: the outbox keeps the rest
            log.warning("relay of %s paused after %d events: %s", tables.module, published, error)
        finally:
            if outermost:
                self._thread.sent = None
                self._forget(cascade.values())
        return published

    def _forget(self, sent: Iterable[tuple[MessageTables, list[str]]]) -> None:
        batches = [(tables, ids) for tables, ids in sent if ids]
        if not batches:
            return
        with self.database.write_turn(), self.database.writing() as session, session.begin():
            for tables, ids in batches:
                session.execute(delete(tables.outbox).where(tables.outbox.c.id.in_(ids)))
