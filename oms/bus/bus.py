"""The event bus: units of work with an outbox, a relay, and inbox-guarded handlers."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import Delete, Table, bindparam, delete, func, or_, select
from sqlalchemy.engine import Connection

from oms.bus.catalogue import EventType, decode
from oms.bus.dead_letters import UNROUTABLE, DeadLetter, DeadLetterStore
from oms.bus.envelope import Event
from oms.bus.faults import RetryPolicy
from oms.bus.forgetting import Forgetting
from oms.bus.store import MessageTables
from oms.bus.transport import Transport
from oms.bus.unit_of_work import UnitOfWork
from oms.db import Database, lock_for_transaction
from oms.statements import execute_later
from oms.telemetry import metrics
from oms.telemetry.context import bound, parse_traceparent
from oms.telemetry.tracing import span

log = logging.getLogger(__name__)

Handler = Callable[[Event, UnitOfWork], None]


@dataclass(frozen=True)
class Selective:
    """A handler that takes only some of the events of its types. `wants` answers first,
    from a read: an event it does not want costs no write transaction and leaves no
    inbox row. `types` reads which of its types it may want at all now: a broker routes
    the module only those (see `Bus.route_to`)."""

    wants: Callable[[Event, Connection], bool]
    handler: Handler
    types: Callable[[Connection], set[str]]


@dataclass(frozen=True)
class MessageRecord:
    """One thing the bus stored about an event: waiting in an `outbox`, or handled
    (`inbox`) by `module`."""

    kind: str
    module: str
    event_id: str
    type: str
    at: datetime


SWEEP_BATCH = 200
ROUTES_CHECK_SECONDS = 30.0  # how often the upkeep sets selective consumers' routes


class Bus:
    def __init__(
        self, database: Database, transport: Transport, retry_policy: RetryPolicy | None = None
    ) -> None:
        self.database = database
        self.transport = transport
        self.dead_letters = DeadLetterStore(database)
        transport.use_dead_letters(self.dead_letters, retry_policy or RetryPolicy())
        self.forgetting = Forgetting(self._forget)
        transport.use_outbox(self.forgetting.add)
        self._outboxes: dict[str, MessageTables] = {}
        self._deliveries: dict[str, Callable[[Event], None]] = {}
        self.subscriptions: dict[str, set[str]] = {}  # module -> event types it consumes
        self._selective: dict[str, Mapping[str, Handler | Selective]] = {}
        self._routes_checked = 0.0  # time.monotonic() of the upkeep's last route check
        # per selective handler: its types, and the data version of its schema they were read at
        self._types_read: dict[Selective, tuple[int, set[str]]] = {}

    def register(self, tables: MessageTables) -> None:
        """Make the relay responsible for this module's outbox, and keep its dead letters."""
        self._outboxes[tables.module] = tables
        self.dead_letters.register(tables)

    def subscribe(
        self, tables: MessageTables, handlers: Mapping[EventType, Handler | Selective]
    ) -> None:
        by_name = {event_type.name: handler for event_type, handler in handlers.items()}
        self.subscriptions.setdefault(tables.module, set()).update(by_name)

        def deliver(event: Event) -> None:  # checked already: published here, or decoded
            self.handle(tables, by_name[event.type], event)

        self._deliveries[tables.module] = deliver
        wanted = None
        if any(isinstance(handler, Selective) for handler in by_name.values()):
            self._selective[tables.module] = by_name
            wanted = partial(self._types_wanted_now, tables.module)
        self.transport.bind(tables.module, by_name, deliver, wanted)

    def route_to(self, uow: UnitOfWork, event_types: Iterable[str]) -> None:
        """Have the broker route `event_types` to `uow`'s module (a selective consumer
        that has come to want them: a new webhook endpoint) before `uow` commits, so no
        event published after the commit misses it. Under the module's routing lock,
        which `route_as_wanted` takes too: it cannot read what was wanted before this
        commit and take the route away after it."""
        lock_for_transaction(uow.connection, _routing_lock(uow.tables.module))
        self.transport.route_also(uow.tables.module, set(event_types))

    def route_as_wanted(self) -> None:
        """Route each selective consumer what it wants now and nothing more: the events
        of a deleted or disabled webhook endpoint stop costing deliveries."""
        for module in self._selective:
            with self.database.writing() as transaction:
                lock_for_transaction(transaction.connection, _routing_lock(module))
                wanted = self._types_wanted(module, transaction.connection)
                self.transport.route_only(module, wanted)

    def _route_as_wanted_when_due(self) -> None:
        if time.monotonic() - self._routes_checked >= ROUTES_CHECK_SECONDS:
            self._routes_checked = time.monotonic()  # failed (broker away): in 30 s again
            self.route_as_wanted()

    def _types_wanted_now(self, module: str) -> set[str]:
        with self.database.connect() as connection:
            return self._types_wanted(module, connection)

    def _types_wanted(self, module: str, connection: Connection) -> set[str]:
        """The event types `module` takes now: its handlers' types, the selective ones
        only as far as they want them."""
        handlers = self._selective[module]
        selectives = {handler for handler in handlers.values() if isinstance(handler, Selective)}
        wanted = {selective: selective.types(connection) for selective in selectives}
        return {
            name
            for name, handler in handlers.items()
            if not isinstance(handler, Selective) or name in wanted[handler]
        }

    def unit_of_work(self, tables: MessageTables) -> UnitOfWork:
        return UnitOfWork(self.database.writing(), tables, self._relay)

    def handle(self, tables: MessageTables, handler: Handler | Selective, event: Event) -> None:
        """Run `handler` once per event id for this module, in one transaction."""
        started, result = time.perf_counter(), "error"
        try:
            if isinstance(handler, Selective):
                if not self._wanted(tables.module, handler, event):
                    result = "unwanted"
                    return
                handler = handler.handler
            with self._event_context(tables, event):
                with self.unit_of_work(tables) as uow:
                    # a concurrent duplicate waits here, then claims nothing
                    claimed = uow.claim(event)
                    if claimed:
                        try:
                            handler(event, uow)
                        except Exception as error:
                            log.warning("%s failed on %s: %r", tables.module, event.type, error)
                            raise
                result = "ok" if claimed else "duplicate"
                seconds = time.perf_counter() - started
                log.info(
                    "%s handled %s",
                    tables.module,
                    event.type,
                    extra={"result": result, "duration_ms": round(seconds * 1000, 3)},
                )
        finally:
            metrics.count_handled(tables.module, event.type, result, time.perf_counter() - started)

    def _wanted(self, module: str, selective: Selective, event: Event) -> bool:
        """An event of a type the handler cannot want now (no webhook endpoint takes it)
        is let go without a read, as long as the module's schema has not changed since
        its types were read."""
        types = self._types_lately(module, selective)
        if types is not None and event.type not in types:
            return False
        with self.database.connect() as connection:
            return selective.wants(event, connection)

    def _types_lately(self, module: str, selective: Selective) -> set[str] | None:
        """`selective.types`, read again only once `module`'s schema has changed; None
        where the database cannot tell (PostgreSQL)."""
        version = self.database.data_version(module)
        if version is None:
            return None
        read = self._types_read.get(selective)
        if read is None or read[0] != version:
            with self.database.connect() as connection:
                read = (version, selective.types(connection))  # the version first: a
                # change committed in between is read again next time
            self._types_read[selective] = read
        return read[1]

    def replay(self, entries: list[DeadLetter]) -> list[tuple[DeadLetter, str]]:
        """Hand dead letters to their consumer again (an unroutable one to the transport);
        forget each that goes through. The ones that failed again, with their error."""
        failed = []
        for entry in entries:
            try:
                event = decode(entry.body)
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

    @staticmethod
    def _event_context(tables: MessageTables, event: Event) -> AbstractContextManager[None]:
        """Every log line written while handling `event` names it, and its order."""
        traceparent = parse_traceparent(event.traceparent)
        fields = bound(
            event_id=event.id,
            event_type=event.type,
            correlation_id=event.correlationid,
            consumer=tables.module,
            traceparent=traceparent,
        )
        return _nested(fields, span(f"{tables.module} {event.type}", traceparent, "consumer"))

    def outbox_backlog(self) -> dict[str, tuple[int, datetime | None]]:
        """Per module: how many events wait in its outbox, and since when the oldest."""
        backlog = {}
        with self.database.reading() as session:
            for module, tables in self._outboxes.items():
                outbox = tables.outbox
                count, oldest = session.execute(
                    select(func.count(), func.min(outbox.c.created_at))
                ).one()
                backlog[module] = (count, _aware(oldest))
        return backlog

    def message_records(self, correlation_id: str, event_ids: Iterable[str]) -> list[MessageRecord]:
        """The bus's own records of one order or entity: events still waiting in an outbox
        (by correlation id) and inbox entries (each module's handled events among
        `event_ids`, the ids the caller knows belong to it)."""
        ids = sorted(set(event_ids))
        records: list[MessageRecord] = []
        needle = f'%"correlationid":"{correlation_id}"%'
        with self.database.reading() as session:
            for module, tables in self._outboxes.items():
                outbox, inbox = tables.outbox, tables.inbox
                for row in session.execute(
                    select(outbox.c.id, outbox.c.type, outbox.c.created_at).where(
                        outbox.c.envelope.like(needle)
                    )
                ):
                    waiting = MessageRecord("outbox", module, row.id, row.type, row.created_at)
                    records.append(waiting)
                about_it = inbox.c.correlation_id == correlation_id
                if ids:
                    about_it = or_(about_it, inbox.c.event_id.in_(ids))
                for row in session.execute(
                    select(inbox.c.event_id, inbox.c.type, inbox.c.handled_at).where(about_it)
                ):
                    records.append(
                        MessageRecord("inbox", module, row.event_id, row.type, row.handled_at)
                    )
        return sorted(records, key=lambda record: record.at)

    def relay_pending(self, older_than_seconds: float = 0.0) -> int:
        """Publish what outboxes still hold (after a crash or an outage); return the count."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        published = 0
        for tables in self._outboxes.values():
            while (batch := self._relay_stored(tables, cutoff)) > 0:
                published += batch
                # the rows just published go before the next batch is read (or it would
                # be these rows again)
                self.forgetting.flush()
                if batch < SWEEP_BATCH:  # the outbox is drained, or the transport stopped
                    break
        return published

    def relay_before_stopping(self) -> None:
        """Publish what the outboxes still hold before this process stops: an event whose
        confirm timed out, rows the relay's grace had not reached yet (a duplicate of one
        another process is publishing now is dropped by the inbox). A clean stop leaves
        nothing behind; with the broker away, the next start's relay sees to it."""
        try:
            self.transport.ping()
            self.relay_pending()
        except Exception as error:
            log.warning("outboxes left to the next start's relay: %r", error)

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
        """Hand `events` to the transport, in order, until it refuses one; the transport
        tells `_forget` which it has taken."""
        published = 0
        for event in events:
            try:
                self.transport.publish(event)
            except Exception as error:  # the transport is down: the outbox keeps the rest
                metrics.count_published(tables.module, event.type, ok=False)
                log.warning(
                    "relay of %s paused after %d events: %s", tables.module, published, error
                )
                break
            metrics.count_published(tables.module, event.type, ok=True)
            published += 1
        return published

    def _forget(self, events: list[Event]) -> None:
        """Delete the outbox rows of events the transport has taken (a batch of them,
        gathered by `forgetting`), in one transaction."""
        by_outbox: dict[str, list[str]] = {}
        for event in events:
            by_outbox.setdefault(event.source.removeprefix("oms/"), []).append(event.id)
        batches = [
            (self._outboxes[module], ids)
            for module, ids in by_outbox.items()
            if module in self._outboxes
        ]
        if not batches:
            return
        with self.database.writing() as transaction:
            for tables, ids in batches:
                rows = [{"event_id": event_id} for event_id in ids]
                execute_later(transaction.connection, _forgetting(tables.outbox), rows)

    # -- the loops ----------------------------------------------------------------

    def ping(self) -> None:
        """Raise if the transport cannot be reached."""
        self.transport.ping()

    def close(self) -> None:
        self.transport.close()
        self.forgetting.close()

    def run_worker(self, stop: threading.Event, threads: int = 1) -> bool:
        """Run `threads` consumers (each its own connection, competing like separate
        workers) until `stop` is set: True then, False as soon as every consumer died."""
        consumers = [
            threading.Thread(target=self.transport.consume, args=(stop,), name=f"consumer-{n}")
            for n in range(threads)
        ]
        for consumer in consumers:
            consumer.start()
        try:
            while not stop.wait(1.0):
                alive = sum(consumer.is_alive() for consumer in consumers)
                metrics.report_worker_alive(alive)
                if not alive:
                    return False
            return True
        finally:
            stop.set()
            for consumer in consumers:
                consumer.join(timeout=10)
            metrics.report_worker_alive(0)

    def run_upkeep(
        self,
        stop: threading.Event,
        interval_seconds: float,
        grace_seconds: float,
        tasks: Mapping[str, Callable[[], object]] | None = None,
    ) -> None:
        """The upkeep that heals the bus, every `interval_seconds` until `stop`: publish
        what outboxes still hold `grace_seconds` after it was written (at start-up,
        everything: the fast path after commit did not, a crash or an outage), make the
        retries that are due and collect dead letters, then run the `tasks` the
        modules registered (e.g. saga deadlines)."""
        grace = 0.0
        while not stop.is_set():
            upkeep = {
                "outbox relay": partial(self.relay_pending, older_than_seconds=grace),
                "retries and dead letters": self.transport.sweep,
                "selective routes": self._route_as_wanted_when_due,
                **(tasks or {}),
            }
            for name, task in upkeep.items():
                try:
                    task()
                except Exception as error:  # an outage: the next round tries again
                    log.warning("%s failed; trying again next round: %r", name, error)
            grace = grace_seconds
            stop.wait(interval_seconds)


@contextmanager
def _nested(*managers: AbstractContextManager[None]) -> Iterator[None]:
    with ExitStack() as stack:
        for manager in managers:
            stack.enter_context(manager)
        yield


def _routing_lock(module: str) -> str:
    return f"{module}.routes"


@functools.cache
def _forgetting(outbox: Table) -> Delete:
    return delete(outbox).where(outbox.c.id == bindparam("event_id"))


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes from aggregates; OMS stores UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
