"""PostgreSQL plans a statement once per connection: each statement `oms.statements`
runs is prepared on a pooled connection when it is next checked out, and runs there as
EXECUTE from then on; one PostgreSQL cannot prepare runs as plain SQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import bindparam, insert, select, text

from oms.db import Database
from oms.statements import execute
from tests.unit.notes import METADATA, NOTES

pytestmark = pytest.mark.postgres

TEXT_OF = select(NOTES.c.text).where(NOTES.c.id == bindparam("note"))
RUNS = text(
    "SELECT coalesce(sum(generic_plans + custom_plans), 0) FROM pg_prepared_statements"
    " WHERE statement LIKE :like"
)


@pytest.fixture
def database(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url, pool_size=1)
    METADATA.create_all(database.engine)
    with database.writing() as transaction:
        transaction.connection.execute(insert(NOTES), [{"id": 1, "text": "a note"}])
    yield database
    database.dispose()


def runs_of_prepared(database: Database, like: str) -> int:
    with database.connect() as connection:
        return connection.execute(RUNS, {"like": like}).scalar_one()


def test_a_statement_runs_prepared_once_its_connection_was_checked_out_again(
    database: Database,
) -> None:
    with database.connect() as connection:  # the first run makes the plan: plain SQL
        assert execute(connection, TEXT_OF, {"note": 1}).scalar() == "a note"
    like = "%FROM notes%"
    assert runs_of_prepared(database, like) == 0  # prepared on this checkout, not run yet

    for _ in range(3):
        with database.connect() as connection:
            assert execute(connection, TEXT_OF, {"note": 1}).scalar() == "a note"
            assert execute(connection, TEXT_OF, {"note": 2}).scalar() is None

    assert runs_of_prepared(database, like) == 6


def test_a_statement_postgresql_cannot_prepare_runs_as_plain_sql(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # "$1 IS NULL" gives PostgreSQL no type to infer for $1; as plain SQL it is text
    untyped = select(bindparam("anything").is_(None).label("missing"))
    with database.connect() as connection:
        assert execute(connection, untyped, {"anything": "x"}).scalar() is False
    with caplog.at_level(logging.WARNING, logger="oms.statements"):
        for value in ("y", None):
            with database.connect() as connection:
                assert execute(connection, untyped, {"anything": value}).scalar() is (value is None)

    refused = [record for record in caplog.records if "as plain SQL" in record.message]
    assert len(refused) == 1  # tried once on the connection
    assert runs_of_prepared(database, "%AS missing%") == 0
