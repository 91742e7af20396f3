"""Pre-built statements on the driver's cursor: the same values, rows and errors as
SQLAlchemy's own execution, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from oms.db import MoneyType, UtcDateTime, with_driver
from oms.statements import execute

METADATA = MetaData()
LEDGER = Table(
    "ledger",
    METADATA,
    Column("id", String(36), primary_key=True),
    Column("amount", MoneyType(), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("details", JSON, nullable=True),
    Column("count", Integer, nullable=False),
)
DEFAULTED = Table(
    "defaulted",
    METADATA,
    Column("id", String(36), primary_key=True),
    Column("count", Integer, default=0),
)
ADD = insert(LEDGER)
ONE = select(LEDGER).where(LEDGER.c.id == bindparam("entry"))
BUMP = (
    update(LEDGER)
    .where(LEDGER.c.count >= bindparam("at_least"))
    .values(count=LEDGER.c.count + 1, details={"bumped": True})
)
AT = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    engine = create_engine(with_driver(empty_database_url))
    METADATA.create_all(engine)
    yield engine
    engine.dispose()


def _entry(entry_id: str, amount: str = "12.30", count: int = 1) -> dict:
    return {
        "id": entry_id,
        "amount": Decimal(amount),
        "at": AT,
        "details": {"note": "ß"},
        "count": count,
    }


def test_values_written_are_read_back_as_sqlalchemy_reads_them(engine: Engine) -> None:
    with engine.begin() as connection:
        execute(connection, ADD, _entry("a"))
        connection.execute(ADD, _entry("b", "0.05"))

    with engine.connect() as connection:
        ours = {row.id: row for row in (execute(connection, ONE, {"entry": i})[0] for i in "ab")}
        theirs = {row.id: row for row in connection.execute(select(LEDGER))}

    for entry_id in "ab":
        assert tuple(ours[entry_id]) == tuple(theirs[entry_id])
    assert ours["a"].amount == Decimal("12.30") and ours["b"].amount == Decimal("0.05")
    assert ours["a"].at == AT and ours["a"].at.tzinfo is not None
    assert ours["a"].details == {"note": "ß"}


def test_a_list_of_parameters_runs_once_per_item_and_writes_count_rows(engine: Engine) -> None:
    with engine.begin() as connection:
        execute(connection, ADD, [_entry(f"e{n}", count=n) for n in range(5)])
        bumped = execute(connection, BUMP, {"at_least": 3})

    assert bumped.rowcount == 2
    with engine.connect() as connection:
        counts = dict(connection.execute(select(LEDGER.c.id, LEDGER.c.count)).all())
        details = connection.execute(select(LEDGER.c.details).where(LEDGER.c.id == "e4")).scalar()
    assert counts == {"e0": 0, "e1": 1, "e2": 2, "e3": 4, "e4": 5}
    assert details == {"bumped": True}


def test_no_row_reads_as_none_and_an_empty_list_writes_nothing(engine: Engine) -> None:
    with engine.begin() as connection:
        assert execute(connection, ADD, []).rowcount == 0
        missing = execute(connection, ONE, {"entry": "nobody"})

    assert (missing.first(), missing.scalar(), missing.all()) == (None, None, [])


def test_a_duplicate_key_raises_sqlalchemys_integrity_error_and_rolls_back(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        execute(connection, ADD, _entry("same"))

    with pytest.raises(IntegrityError), engine.begin() as connection:
        execute(connection, ADD, _entry("other"))
        execute(connection, ADD, _entry("same"))

    with engine.connect() as connection:
        assert connection.execute(select(LEDGER.c.id)).scalars().all() == ["same"]


def test_a_missing_parameter_is_named() -> None:
    engine = create_engine("sqlite://")
    METADATA.create_all(engine)
    with engine.connect() as connection, pytest.raises(KeyError, match="entry"):
        execute(connection, ONE, {"wrong": "a"})


def test_a_statement_that_needs_python_defaults_is_refused() -> None:
    engine = create_engine("sqlite://")
    METADATA.create_all(engine)
    with engine.connect() as connection, pytest.raises(ValueError, match="not a plain"):
        execute(connection, insert(DEFAULTED), {"id": "a"})


def test_times_keep_their_instant_whatever_zone_they_were_given_in(engine: Engine) -> None:
    elsewhere = AT.astimezone(UTC).replace(tzinfo=None)
    shifted = (AT + timedelta(hours=2)).astimezone(UTC)
    with engine.begin() as connection:
        execute(connection, ADD, {**_entry("z"), "at": shifted})
        with pytest.raises(Exception, match="aware"):
            execute(connection, ADD, {**_entry("naive"), "at": elsewhere})
    with engine.connect() as connection:
        assert execute(connection, ONE, {"entry": "z"}).first().at == shifted
