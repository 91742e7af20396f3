"""One database for the process; every module keeps its tables in a schema of its own.

On PostgreSQL a schema is a real schema. On SQLite each schema is a database file
attached under the schema's name, so the same qualified table names work on both.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Engine,
    Numeric,
    Select,
    String,
    TypeDecorator,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from oms.money import to_money

SCHEMAS = ("users", "products", "orders", "payments")
WRITER_TURN_TIMEOUT = 30.0


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = with_driver(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = self._create_engine(pool_size)
        # Writers on SQLite take the write lock up front (BEGIN IMMEDIATE); a deferred
        # transaction that upgrades later fails at once instead of waiting its turn.
        self.write_engine = self.engine.execution_options(oms_write=True)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.write_engine, expire_on_commit=False)
        self._writer_turn = threading.Lock() if self.is_sqlite else None

    def reading(self) -> Session:
        return self._reader()

    def writing(self) -> Session:
        return self._writer()

    @contextmanager
    def write_turn(self) -> Iterator[None]:
        """Hold around a write transaction. SQLite has one writer at a time; threads of
        this process queue here and wake at once, instead of in SQLite's busy handler,
        which sleeps in growing steps. PostgreSQL needs no turn."""
        if self._writer_turn is None:
            yield
            return
        if not self._writer_turn.acquire(timeout=WRITER_TURN_TIMEOUT):
            raise TimeoutError("the database stayed busy; try again")
        try:
            yield
        finally:
            self._writer_turn.release()

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    def _create_engine(self, pool_size: int) -> Engine:
        if not self.is_sqlite:
            return create_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
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
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: Any) -> None:
        is_write = connection.get_execution_options().get("oms_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if is_write else "BEGIN")


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

    impl = Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(20))
        return dialect.type_descriptor(Numeric(12, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> Any:
        if value is None:
            return None
        amount = to_money(value)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else to_money(value)
