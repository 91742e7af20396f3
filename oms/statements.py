"""Pre-built statements run straight on the driver's cursor.

The checkout's saga runs a few dozen statements, each built once at import. Executed
through SQLAlchemy, every execution still walks its execution context, events, result
machinery and ORM session layer, which cost ten times what SQLite or psycopg2 spend on
the statement itself. `execute` compiles a statement once per dialect and set of
parameter names (as SQLAlchemy's own cache does), and from then on only converts the
values with the columns' own types (money, UTC datetimes), hands the SQL to the
driver, and converts the rows back. Errors are SQLAlchemy's: the driver's exception is
wrapped (IntegrityError, OperationalError) and a dropped connection invalidated, as
`Connection.execute` does.

Only plain statements qualify: no Python-side column defaults, no expanding IN lists,
no ORM entities. A statement that needs any of them runs through SQLAlchemy as before.

On PostgreSQL every statement is a round trip, and most of a saga step's writes are
ones whose outcome nobody reads (an outbox row, a timeline entry). `execute_later`
keeps such a write and sends it with the connection's next statement, in one round
trip, or on its own before the transaction commits: the statements still run in the
order they were written, in the same transaction; an error in a kept write is raised
by the statement it went with, or by the commit. On SQLite, with no round trips to
save, it runs at once.

A write transaction's BEGIN and COMMIT travel the same way (`begin_with_next_statement`,
`commit_with_kept_writes`): BEGIN goes with the transaction's first statement and COMMIT
with its last kept writes, where psycopg2 would send each in a round trip of its own.
The driver is put in autocommit for it, so it sends neither itself; the ROLLBACK it no
longer sends either goes out from `roll_back_explicitly` (an engine listener).

PostgreSQL parses and plans a statement each time it comes as plain SQL. Each plan made
for PostgreSQL is also prepared (`PREPARE`) on every pooled connection, once, when the
connection is next checked out (`prepare_new_plans`, a pool listener: outside any
transaction, so a statement that cannot be prepared costs nothing but the plain SQL it
keeps using); from then on it runs there as `EXECUTE`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

log = logging.getLogger(__name__)

Params = Mapping[str, Any]
Processor = Callable[[Any], Any] | None
_MISSING = object()


@dataclass(frozen=True)
class _Bind:
    key: str  # the caller's parameter name
    default: Any  # the statement's own value, or _MISSING if the caller must give one
    process: Processor


@dataclass(frozen=True)
class _Prepared:
    """A PostgreSQL plan as a prepared statement: defined once per connection, then run."""

    index: int  # in `_postgres_plans`: the connection's PREPARED count tells if it is there
    definition: str  # PREPARE oms_<index> AS the plan's SQL, its parameters numbered
    call: str  # EXECUTE oms_<index>, its arguments as the driver's placeholders
    order: tuple[str, ...]  # the plan's parameter names in the order of their numbers


@dataclass
class _Plan:
    """One statement compiled for one dialect and one set of parameter names."""

    sql: str
    binds: tuple[tuple[str, _Bind], ...]  # in the driver's order (positional styles)
    positional: bool
    result_types: tuple[Any, ...]  # of the selected columns (empty: no rows)
    row: type | None
    read_rows: list[Processor] | None = field(default=None)  # known after the first run
    prepared: _Prepared | None = field(default=None)  # PostgreSQL's, unless it cannot be

    def __post_init__(self) -> None:
        self._names = tuple(name for name, _ in self.binds)
        self._reads = tuple((bind.key, bind.default, bind.process) for _, bind in self.binds)

    def values(self, params: Params) -> tuple[Any, ...] | dict[str, Any]:
        converted = []
        for key, default, process in self._reads:
            value = params.get(key, default)
            if value is _MISSING:
                raise KeyError(f"no value for {key!r} in {self.sql!r}")
            converted.append(process(value) if process else value)
        if self.positional:
            return tuple(converted)
        return dict(zip(self._names, converted, strict=True))


class Rows(Sequence[Any]):
    """What a statement gave back: its rows (attribute access by column key) and, for a
    write, how many rows it touched."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __getitem__(self, index: Any) -> Any:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any | None:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any | None:
        return self._rows[0][0] if self._rows else None


KEPT = "oms_kept_writes"  # Connection.info: the writes `execute_later` keeps, as SQL
PREPARED = "oms_prepared"  # Connection.info: how many of `_postgres_plans` were prepared on it
UNPREPARED = "oms_unprepared"  # Connection.info: the indexes of those PostgreSQL refused
BEGIN = b"BEGIN"

_plans: dict[tuple[int, str, tuple[str, ...], bool], _Plan] = {}
_statements: dict[int, ClauseElement] = {}  # keeps each planned statement (and its id) alive
_planning = threading.Lock()
_postgres_plans: list[_Plan] = []  # every plan made for PostgreSQL, in the order made


def execute(
    connection: Connection, statement: ClauseElement, params: Params | list[Params] = ()
) -> Rows:
    """Run `statement` with `params` (a list of them: once per item) inside the
    connection's transaction."""
    if not connection.in_transaction():
        connection.begin()  # as SQLAlchemy's own execution begins one ("autobegin")
    many = isinstance(params, list)
    if many and not params:
        return Rows([], 0)
    first: Params = (params[0] if params else {}) if many else params  # type: ignore[assignment]
    plan = _plan(connection, statement, tuple(sorted(first)), many)
    driver = connection.connection.driver_connection
    cursor = driver.cursor()  # type: ignore[union-attr]
    kept = connection.info.pop(KEPT, None)
    try:
        if many:
            if kept:
                cursor.execute(b";".join(kept))
            sql, rows = _runs(connection, plan, params)  # type: ignore[arg-type]
            _execute_many(connection, cursor, sql, rows)
        elif kept:  # one round trip: the kept writes, then this statement (its rows come back)
            cursor.execute(b";".join([*kept, cursor.mogrify(*_run(connection, plan, first))]))
        else:
            cursor.execute(*_run(connection, plan, first))
        rows = _rows(connection, plan, cursor) if plan.row is not None else []
        return Rows(rows, cursor.rowcount)
    except connection.dialect.loaded_dbapi.Error as error:
        # SQLAlchemy's own handling: wrap the driver's error in its exception classes and,
        # when the connection was lost, invalidate it (and the pool's older ones).
        connection._handle_dbapi_exception(error, plan.sql, params, cursor, None)
        raise  # not reached: the handler raises
    finally:
        cursor.close()


def execute_later(
    connection: Connection, statement: ClauseElement, params: Params | list[Params]
) -> None:
    """Run a write whose outcome the caller does not read with the connection's next
    statement, or before its transaction commits (see the module's docstring)."""
    if connection.dialect.name != "postgresql":
        execute(connection, statement, params)
        return
    if not connection.in_transaction():
        connection.begin()
    many = params if isinstance(params, list) else [params]
    if not many:
        return
    plan = _plan(connection, statement, tuple(sorted(many[0])), False)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        kept = connection.info.setdefault(KEPT, [])
        kept.extend(cursor.mogrify(*_run(connection, plan, one)) for one in many)
    finally:
        cursor.close()


def send_kept_writes(connection: Connection) -> None:
    """Send what `execute_later` kept on this connection, now."""
    _send(connection, connection.info.pop(KEPT, None))


def begin_with_next_statement(connection: Connection) -> None:
    """Open the connection's write transaction on PostgreSQL with its first statement,
    not in a round trip of its own: the driver goes into autocommit (it would send a
    BEGIN itself otherwise) and BEGIN is kept. The pool takes it out of autocommit when
    the connection comes back (see `oms.db`)."""
    connection.connection.driver_connection.autocommit = True  # type: ignore[union-attr]
    connection.info[KEPT] = [BEGIN]


def commit_with_kept_writes(connection: Connection) -> None:
    """Commit a transaction begun by `begin_with_next_statement`, in one round trip with
    the writes still kept; a transaction that ran no statement sends nothing."""
    kept = connection.info.pop(KEPT, None) or []
    if kept == [BEGIN]:
        return
    _send(connection, [*kept, b"COMMIT"])


def roll_back_explicitly(connection: Connection, *_: Any) -> None:
    """An engine listener (on rollback): forget what `execute_later` kept and, when a
    BEGIN of `begin_with_next_statement` has gone out, send the ROLLBACK the driver in
    autocommit will not. A connection that was lost has nothing to roll back here; one
    whose ROLLBACK fails is replaced when it goes back to the pool (see `oms.db`)."""
    if connection.invalidated:
        return
    kept = connection.info.pop(KEPT, None)
    driver = connection.connection.driver_connection
    if (kept and kept[0] == BEGIN) or not in_explicit_transaction(driver):
        return
    try:
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute("ROLLBACK")
    except connection.dialect.loaded_dbapi.Error:
        return


def in_explicit_transaction(driver: Any) -> bool:
    """Whether a psycopg2 connection in autocommit is inside a BEGIN it was sent."""
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE

    return bool(driver.autocommit) and driver.info.transaction_status != TRANSACTION_STATUS_IDLE


def _send(connection: Connection, statements: list[bytes] | None) -> None:
    if not statements:
        return
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(b";".join(statements))
    except connection.dialect.loaded_dbapi.Error as error:
        connection._handle_dbapi_exception(error, "(kept writes)", (), cursor, None)
        raise  # not reached: the handler raises
    finally:
        cursor.close()


def send_kept_writes_first(connection: Connection, cursor: Any, *_: Any) -> None:
    """An engine listener (before_cursor_execute): a statement SQLAlchemy runs goes after
    the writes kept before it (an error in them is SQLAlchemy's to handle, as its own)."""
    kept = connection.info.pop(KEPT, None)
    if kept:
        cursor.execute(b";".join(kept))


def _run(connection: Connection, plan: _Plan, params: Params) -> tuple[str, Any]:
    """The SQL to send for one run of `plan` on this connection, and its values."""
    values = plan.values(params)
    prepared, info = plan.prepared, connection.info
    if (
        prepared is None
        or prepared.index >= info.get(PREPARED, 0)
        or prepared.index in info.get(UNPREPARED, ())
    ):
        return plan.sql, values
    return prepared.call, tuple(values[name] for name in prepared.order)  # type: ignore[call-overload]


def _runs(connection: Connection, plan: _Plan, params: list[Params]) -> tuple[str, list[Any]]:
    runs = [_run(connection, plan, one) for one in params]
    return runs[0][0], [values for _, values in runs]


def _execute_many(connection: Connection, cursor: Any, sql: str, values: list[Any]) -> None:
    if connection.dialect.name == "postgresql":
        from psycopg2.extras import execute_batch  # psycopg2's executemany: a round trip a row

        execute_batch(cursor, sql, values)
    else:
        cursor.executemany(sql, values)


def prepare_new_plans(driver: Any, info: dict[str, Any]) -> None:
    """A pool listener (on checkout, outside any transaction): prepare on this psycopg2
    connection the plans made since it was last checked out. A plan PostgreSQL refuses
    to prepare there (a parameter whose type it cannot infer, a table not made yet) runs
    as plain SQL on it; a connection lost meanwhile raises, for the pool to replace it."""
    done = info.get(PREPARED, 0)
    plans = _postgres_plans[done:]
    if not plans:
        return
    driver.autocommit = True
    try:
        for plan in plans:
            if plan.prepared is not None and not _prepare(driver, plan.prepared.definition):
                info.setdefault(UNPREPARED, set()).add(plan.prepared.index)
    finally:
        driver.autocommit = False
    info[PREPARED] = done + len(plans)


def _prepare(driver: Any, definition: str) -> bool:
    try:
        with driver.cursor() as cursor:
            cursor.execute(definition)
    except Exception as error:
        if driver.closed:
            raise
        log.warning("running as plain SQL on this connection: %s (%r)", definition, error)
        return False
    return True


_PYFORMAT = re.compile(r"%\(([^)]+)\)s")


def _prepared(plan: _Plan, index: int) -> _Prepared | None:
    """`plan` as a prepared statement, or None where its SQL has no named placeholders
    to number (positional styles)."""
    if plan.positional:
        return None
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    body = _PYFORMAT.sub(number, plan.sql).replace("%%", "%")
    name = f"oms_{index}"
    arguments = f" ({', '.join(['%s'] * len(order))})" if order else ""
    return _Prepared(index, f"PREPARE {name} AS {body}", f"EXECUTE {name}{arguments}", tuple(order))


def _rows(connection: Connection, plan: _Plan, cursor: Any) -> list[Any]:
    fetched = cursor.fetchall()
    if plan.read_rows is None:  # a column's conversion may depend on the driver's type code
        dialect = connection.dialect
        plan.read_rows = [
            kind.dialect_impl(dialect).result_processor(dialect, description[1])
            for kind, description in zip(plan.result_types, cursor.description, strict=True)
        ]
    readers = plan.read_rows
    make = plan.row._make  # type: ignore[union-attr]
    if not any(readers):
        return [make(row) for row in fetched]
    return [
        make([read(value) if read else value for read, value in zip(readers, row, strict=True)])
        for row in fetched
    ]


def _plan(
    connection: Connection, statement: ClauseElement, keys: tuple[str, ...], many: bool
) -> _Plan:
    dialect = connection.dialect
    key = (id(statement), dialect.name, keys, many)
    plan = _plans.get(key)
    if plan is None:
        with _planning:
            plan = _plans.get(key)
            if plan is None:
                plan = _plans[key] = _compile(statement, dialect, keys, many)
                _statements[id(statement)] = statement
                if dialect.name == "postgresql":
                    plan.prepared = _prepared(plan, len(_postgres_plans))
                    _postgres_plans.append(plan)
    return plan


def _compile(statement: ClauseElement, dialect: Any, keys: tuple[str, ...], many: bool) -> _Plan:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=many)
    assert isinstance(compiled, SQLCompiler)
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.literal_execute_params:
        raise ValueError(f"not a plain statement (defaults or expanding parameters): {compiled}")
    names = compiled.positiontup or list(compiled.bind_names.values())
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    binds = tuple((name, _bind(by_name[name], dialect)) for name in names)
    columns = list(statement.selected_columns) if statement.is_select else []  # type: ignore[attr-defined]
    return _Plan(
        sql=compiled.string,
        binds=binds,
        positional=compiled.positiontup is not None,
        result_types=tuple(column.type for column in columns),
        row=namedtuple("Row", [column.key for column in columns]) if columns else None,  # type: ignore[misc]
    )


def _bind(bind: Any, dialect: Any) -> _Bind:
    if bind.callable is not None:
        raise ValueError(f"not a plain statement (a value computed per execution): {bind}")
    default = _MISSING if bind.required else bind.value
    return _Bind(bind.key, default, bind.type.dialect_impl(dialect).bind_processor(dialect))
