"""Reads on plain connections (`Database.connect`): they see what was committed, and
the pooled connection they used still gives the next writer an atomic transaction (on
PostgreSQL a read runs in the driver's autocommit until it is back in the pool)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from oms.db import Database
from tests.unit.notes import METADATA, NOTES, count


def test_a_read_sees_what_a_write_transaction_committed(database: Database) -> None:
    assert count(database) == 0
    with database.writing() as transaction:
        transaction.connection.execute(insert(NOTES), [{"text": "a"}, {"text": "b"}])
    assert count(database) == 2


def test_a_write_after_a_read_on_the_same_connection_is_still_all_or_nothing(
    database: Database,
) -> None:
    assert count(database) == 0  # the pool's one connection served a read
    with pytest.raises(RuntimeError), database.writing() as transaction:
        transaction.connection.execute(insert(NOTES), {"text": "half of a change"})
        raise RuntimeError("the rest of the change failed")
    assert count(database) == 0


@pytest.mark.postgres
def test_a_read_holds_no_transaction_open_on_postgresql(postgres_url: str) -> None:
    database = Database(postgres_url)
    METADATA.create_all(database.engine)
    try:
        with database.connect() as reading, database.writing() as transaction:
            reading.execute(select(func.count()).select_from(NOTES))
            # An open read transaction would show as "idle in transaction" meanwhile.
            idle_in_transaction = transaction.connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND state = 'idle in transaction'"
            ).scalar_one()
    finally:
        database.dispose()
    assert idle_in_transaction == 0
