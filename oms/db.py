"""One database for the process; every module keeps its tables in a schema of its own.

On PostgreSQL a schema is a real schema. On SQLite each schema is a database file
attached under the schema's name, so the same qualified table names work on both.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from select import select as wait_for_io
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Numeric,
    Select,
    String,
    TypeDecorator,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from oms.money import PRECISION, to_money
from oms.statements import (
    KEPT,
    begin_with_next_statement,
    commit_with_kept_writes,
    execute,
    execute_later,
    in_explicit_transaction,
    prepare_new_plans,
    roll_back_explicitly,
    send_kept_writes,
    send_kept_writes_first,
)
from oms.wakeups import Wakeups, notify_on_commit

SCHEMAS = ("users", "products", "orders", "payments", "webhooks")  # = oms.app.MODULES' schemas
WRITER_TURN_TIMEOUT = 30.0
WAIT_MARGIN_SECONDS = 1.0  # past the server's own statement timeout
PING_AFTER_IDLE_SECONDS = 1.0  # a pooled connection idle this long is checked before use
IDLE_SINCE = "oms_idle_since"  # when a pooled connection was last given back
# SQLite copies its write-ahead log into the database files in the upkeep
# (`Database.checkpoint`), off the writers' path; a commit does it itself only past this
# many pages of log (~40 MiB), should no upkeep run.
WAL_AUTOCHECKPOINT_PAGES = 10_000


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        connect_timeout: float = 3.0,
        statement_timeout: float = 10.0,
    ) -> None:
        self.url = with_driver(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._timeouts = (connect_timeout, statement_timeout)
        self.engine = self._create_engine(pool_size)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        if not self.is_sqlite:
            event.listen(self._reader, "after_begin", _read_in_autocommit)
        self._writer_turn = threading.Lock() if self.is_sqlite else None
        self._turn_file = -1  # opened by the first writer
        self._watchers: dict[str, sqlite3.Connection] = {}  # by schema, see data_version
        self._watching = threading.Lock()
        self.wakeups = Wakeups(self.engine)

    def reading(self) -> Session:
        """A session for reads, never for writes. On PostgreSQL its connection runs in
        the driver's autocommit, as `connect`'s does, and for the same reason."""
        return self._reader()

    def connect(self) -> Connection:
        """A plain connection for reads, never for writes: cheaper than a session where
        no ORM object is wanted.

        On SQLite a read is a transaction, begun at its first statement and rolled back
        when the connection closes: its statements see one snapshot. On PostgreSQL, at
        READ COMMITTED, every statement takes a snapshot of its own whether or not a
        transaction is open, so a BEGIN and a ROLLBACK around a read would buy nothing
        but two round trips: the connection runs in the driver's autocommit until it
        goes back to the pool. (SQLAlchemy's isolation_level="AUTOCOMMIT" would send a
        SET each way; the driver's flag sends nothing.)"""
        connection = self.engine.connect()
        if not self.is_sqlite:
            connection.connection.driver_connection.autocommit = True  # type: ignore[union-attr]
        return connection

    def writing(self) -> WriteTransaction:
        """One write transaction, taken in this database's writer turn."""
        return WriteTransaction(self)

    @contextmanager
    def write_turn(self) -> Iterator[None]:
        """Hold around a write transaction. SQLite has one writer at a time; threads of
        this process queue on a lock, and processes on a file lock beside the database,
        and each wakes the moment the writer before it is done, instead of in SQLite's
        busy handler, which sleeps in growing steps. PostgreSQL needs no turn."""
        if self._writer_turn is None:
            yield
            return
        if not self._writer_turn.acquire(timeout=WRITER_TURN_TIMEOUT):
            raise TimeoutError("the database stayed busy; try again")
        try:
            if self._turn_file < 0:
                self._turn_file = _turn_file(self.url.database or "")
            fcntl.flock(self._turn_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._turn_file, fcntl.LOCK_UN)
        finally:
            self._writer_turn.release()

    def data_version(self, schema: str) -> int | None:
        """A number that changes whenever another connection, of any process, commits a
        change to `schema`'s tables: what was read of them holds while it stays the
        same. Asked of a connection of its own that never writes (SQLite counts only
        other connections' commits), it costs no pooled connection and reads no table.
        None on PostgreSQL, which has nothing as cheap."""
        if not self.is_sqlite:
            return None
        with self._watching:
            watcher = self._watchers.get(schema)
            if watcher is None:
                path = sqlite_schema_files(self.url.database or "")[schema]
                watcher = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                self._watchers[schema] = watcher
            return watcher.execute("PRAGMA data_version").fetchone()[0]

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def checkpoint(self) -> None:
        """Copy what SQLite's write-ahead logs hold into the database files, without
        waiting for (or holding up) readers and writers. Left to the commits, every
        thousandth page of log made one commit do it: a few milliseconds inside the
        writer turn, while every other writer waited. PostgreSQL checkpoints itself."""
        if not self.is_sqlite:
            return
        with self.engine.connect() as connection:
            driver = connection.connection.driver_connection
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # type: ignore[union-attr]

    def dispose(self) -> None:
        self.wakeups.close()
        self.engine.dispose()
        with self._watching:
            for watcher in self._watchers.values():
                watcher.close()
            self._watchers.clear()
        if self._turn_file >= 0:
            os.close(self._turn_file)
            self._turn_file = -1

    def _create_engine(self, pool_size: int) -> Engine:
        if not self.is_sqlite:
            connect_timeout, statement_timeout = self._timeouts
            _bound_every_wait(connect_timeout, statement_timeout + WAIT_MARGIN_SECONDS)
            engine = create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=self._timeouts[1],
                connect_args=_postgres_timeouts(*self._timeouts),
            )
            _ping_when_idle(engine)
            _reads_end_in_the_pool(engine)
            _kept_writes_go_before_the_commit(engine)
            return engine
        engine = create_engine(
            self.url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        files = sqlite_schema_files(self.url.database or "")
        for path in [self.url.database or "", *files.values()]:
            _create_private_file(path)
        _attach_schemas_on_connect(engine, files)
        return engine


class WriteTransaction:
    """A write transaction on a plain connection (`connection`: the hot paths run
    pre-built statements on it), with an ORM session joined to it for the use cases that
    work with ORM objects (`session`, made on first use). Committed when the block ends
    without an error, rolled back otherwise; the wake-ups asked for go out on commit."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._session: Session | None = None
        self._wake_on_commit: list[str] = []
        self._turn: AbstractContextManager[None] = database.write_turn()

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(bind=self.connection, expire_on_commit=False)
        return self._session

    def wake_on_commit(self, key: str) -> None:
        """Wake whoever waits for `key` (in any process) once this transaction commits."""
        if self._database.is_sqlite:
            self._wake_on_commit.append(key)
        else:
            notify_on_commit(self.connection, key)

    def __enter__(self) -> WriteTransaction:
        # The writer turn is held for the transaction only: the pool's checkout and
        # return happen outside it.
        self.connection = self._database.engine.connect()
        try:
            self._turn.__enter__()
        except BaseException:
            self.connection.close()
            raise
        try:
            self._transaction = self.connection.begin()
        except BaseException:
            self._end()
            raise
        if not self._database.is_sqlite:
            begin_with_next_statement(self.connection)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None:
                if self._session is not None:
                    self._session.flush()
                if self._database.is_sqlite:
                    send_kept_writes(self.connection)  # none: SQLite runs them at once
                else:
                    commit_with_kept_writes(self.connection)
                self._transaction.commit()  # on PostgreSQL the driver's part is done
            else:
                self._transaction.rollback()
        except BaseException:
            self._end()  # what a failed commit left is rolled back inside the turn
            raise
        self._turn.__exit__(None, None, None)
        self._close()
        if exc_type is None:
            for key in self._wake_on_commit:
                self._database.wakeups.wake(key)

    def _end(self) -> None:
        try:
            self._close()
        finally:
            self._turn.__exit__(None, None, None)

    def _close(self) -> None:
        try:
            if self._session is not None:
                self._session.close()
        finally:
            self.connection.close()


@dataclass(frozen=True)
class Page:
    """One page of a list, and how long the whole list is."""

    items: list[Any]
    page: int
    page_size: int
    total: int


def read_page(
    database: Database,
    query: Select,
    order_by: Sequence[Any],
    page: int,
    page_size: int,
    view: Callable[[Any], Any],
) -> Page:
    with database.reading() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(*order_by).offset((page - 1) * page_size).limit(page_size)
        ).all()
        return Page([view(row) for row in rows], page, page_size, total)


ADVISORY_LOCK = select(
    func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key"), 0)).label("locked")
)


def lock_for_transaction(
    connection: Connection, key: str, *, with_next_statement: bool = False
) -> None:
    """Hold a lock named `key` until the connection's transaction ends. PostgreSQL takes
    a transaction-scoped advisory lock; SQLite has one writer at a time already.

    Taken now, or, `with_next_statement`, kept (`execute_later`) and taken (or waited
    for) in the round trip of the transaction's next statement, before it runs: enough
    where what the lock guards is in the database, not where it guards a step outside
    it (a broker's routes)."""
    if connection.dialect.name != "postgresql":
        return
    if with_next_statement:
        execute_later(connection, ADVISORY_LOCK, {"key": key})
    else:
        execute(connection, ADVISORY_LOCK, {"key": key})


def read_first(database: Database, query: Select, view: Callable[[Any], Any]) -> Any | None:
    """The first row of `query` as `view` shows it, or None."""
    with database.reading() as session:
        row = session.scalars(query).first()
        return None if row is None else view(row)


def with_driver(url: str) -> URL:
    """postgresql:// means psycopg2 here (SQLAlchemy 2.1 would pick psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg2")
    return parsed


def sqlite_schema_files(main_file: str) -> dict[str, str]:
    """The attached file of each schema, beside the main database file."""
    if main_file in ("", ":memory:"):
        raise ValueError("OMS needs a SQLite file, not an in-memory database")
    main = Path(main_file)
    return {schema: str(main.with_name(f"{main.stem}.{schema}{main.suffix}")) for schema in SCHEMAS}


def _postgres_timeouts(connect_timeout: float, statement_timeout: float) -> dict[str, Any]:
    """No request waits on PostgreSQL for long: bounded connects, statements and lock
    waits, and a connection whose peer stopped answering (a partition, a frozen link) is
    given up by TCP itself rather than waited on for the OS's many minutes."""
    statement_ms = int(statement_timeout * 1000)
    return {
        "connect_timeout": max(1, round(connect_timeout)),
        "options": f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms}",
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
        "tcp_user_timeout": statement_ms,
    }


def _bound_every_wait(connect_seconds: float, answer_seconds: float) -> None:
    """Give up on PostgreSQL when a connect takes `connect_seconds`, or when nothing
    comes back to a statement for `answer_seconds`.

    TCP timeouts do not help when the link is frozen rather than broken (a stalled
    proxy, a stopped server: the kernel still acknowledges what is sent), and the
    server's statement_timeout needs the server to answer. psycopg2's wait callback
    (its documented hook for cooperative I/O) waits with a deadline instead; on
    expiry psycopg2 closes the connection, and the pool replaces it.
    """
    import psycopg2
    from psycopg2 import extensions

    def wait(connection: Any) -> None:
        connecting = connection.status == extensions.STATUS_SETUP
        seconds = connect_seconds if connecting else answer_seconds
        deadline = time.monotonic() + seconds
        while (state := connection.poll()) != extensions.POLL_OK:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                what = "accept a connection" if connecting else "answer"
                raise psycopg2.OperationalError(f"PostgreSQL did not {what} within {seconds:g} s")
            if state == extensions.POLL_READ:
                wait_for_io([connection.fileno()], [], [], remaining)
            elif state == extensions.POLL_WRITE:
                wait_for_io([], [connection.fileno()], [], remaining)
            else:
                raise psycopg2.OperationalError(f"bad state from poll: {state}")

    extensions.set_wait_callback(wait)


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use if it sat idle for a while: one that
    PostgreSQL dropped (a restart, an outage) is replaced, not handed out. A connection
    in steady use skips the round trip; if it breaks, the statement fails as a transient
    error and SQLAlchemy empties the pool. The statements planned since the connection
    was last handed out are prepared on it then (`oms.statements.prepare_new_plans`)."""

    @event.listens_for(engine, "checkin")
    def idle_from_now(_dbapi_connection: Any, record: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        try:
            if time.monotonic() - record.info.get(IDLE_SINCE, 0.0) >= PING_AFTER_IDLE_SECONDS:
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                dbapi_connection.rollback()  # hand it out outside any transaction
            prepare_new_plans(dbapi_connection, record.info)
        except Exception as error:  # the pool retries with a new connection
            raise DisconnectionError(f"a pooled connection was dropped: {error!r}") from error


def _read_in_autocommit(_session: Session, _transaction: Any, connection: Connection) -> None:
    connection.connection.driver_connection.autocommit = True  # type: ignore[union-attr]


def _reads_end_in_the_pool(engine: Engine) -> None:
    """A connection in the driver's autocommit (a read's, `Database.connect`, or a write
    transaction's, see `oms.statements.begin_with_next_statement`) goes back to the pool
    out of it, so that the next user's first statement begins a transaction again. One
    still inside a transaction the pool's own rollback could not end (the driver in
    autocommit skips it) is rolled back here, or replaced if that fails."""

    @event.listens_for(engine, "checkin")
    def end_autocommit(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is None or dbapi_connection.closed or not dbapi_connection.autocommit:
            return
        try:
            if in_explicit_transaction(dbapi_connection):
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("ROLLBACK")
            dbapi_connection.autocommit = False
        except Exception as error:
            record.invalidate(error)


def _kept_writes_go_before_the_commit(engine: Engine) -> None:
    """What `oms.statements.execute_later` kept on a connection goes out before any
    statement SQLAlchemy runs on it (a write transaction sends the rest before it
    commits), and is forgotten when the transaction rolls back or the connection goes
    back to the pool."""
    event.listen(engine, "before_cursor_execute", send_kept_writes_first)
    event.listen(engine, "rollback", roll_back_explicitly)

    @event.listens_for(engine, "checkin")
    def forget_kept_writes(_dbapi_connection: Any, record: Any) -> None:
        record.info.pop(KEPT, None)


def _turn_file(database_path: str) -> int:
    """The file whose lock the writers of every process on this database take turns on."""
    path = f"{database_path}.turn"
    _create_private_file(path)
    return os.open(path, os.O_RDWR)


def _create_private_file(path: str) -> None:
    """SQLite files hold password hashes and card tokens: readable by their owner only.
    SQLite gives the -wal and -shm files the database file's permissions."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except (FileExistsError, FileNotFoundError):  # there already, or no such folder
        return


def _attach_schemas_on_connect(engine: Engine, files: dict[str, str]) -> None:
    @event.listens_for(engine, "connect")
    def attach(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event below owns BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        for schema, path in files.items():
            cursor.execute(f"ATTACH DATABASE ? AS {schema}", (path,))
            cursor.execute(f"PRAGMA {schema}.journal_mode=WAL")
            cursor.execute(f"PRAGMA {schema}.synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    # Writers begin deferred too: they take turns (`Database.write_turn`), so no other
    # writer can commit between a writer's first read and its first write, and only the
    # schemas a transaction writes are locked (BEGIN IMMEDIATE locks every attached file,
    # which costs each write transaction a quarter of its time here).
    @event.listens_for(engine, "begin")
    def begin(connection: Any) -> None:
        try:  # on the driver: every transaction starts here, and SQLAlchemy's execution
            # machinery costs more than the statement
            connection.connection.driver_connection.execute("BEGIN")
        except sqlite3.Error as error:  # wrapped (OperationalError...) as any statement's
            connection._handle_dbapi_exception(error, "BEGIN", (), None, None)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("OMS stores aware datetimes only")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class MoneyType(TypeDecorator[Decimal]):
    """An exact two-digit decimal: NUMERIC on PostgreSQL, text on SQLite (which has no decimal)."""

    impl = Numeric(PRECISION, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(20))
        return dialect.type_descriptor(Numeric(PRECISION, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> Any:
        if value is None:
            return None
        amount = to_money(value)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else to_money(value)


def owned_by(session: Session, model: Any, row_id: str, owner_id: str) -> Any | None:
    """The row of `model` with this id if `owner_id` owns it (its `user_id`), else None:
    callers answer "not found" for someone else's row, never "forbidden"."""
    row = session.get(model, row_id)
    return row if row is not None and row.user_id == owner_id else None


def choose_default(session: Session, model: Any, row: Any, is_default: bool) -> None:
    """Mark `row` as its owner's one default of `model` (or unmark it): the owner's
    other rows lose the mark in the same transaction."""
    if is_default:
        others = (model.user_id == row.user_id) & (model.id != row.id)
        session.execute(update(model).where(others).values(is_default=False))
    row.is_default = is_default
