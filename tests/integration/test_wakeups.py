"""A waiting thread is woken by the commit of another transaction, on SQLite and on
PostgreSQL (there from another process's connection, by NOTIFY), and not by a rollback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from oms.db import Database


@pytest.fixture
def database(empty_database_url: str) -> Iterator[Database]:
    database = Database(empty_database_url)
    yield database
    database.dispose()


class Rollback(Exception):
    """Raised inside a write transaction to roll it back."""


def commit_later(database: Database, key: str, *, rollback: bool = False) -> threading.Thread:
    def write() -> None:
        time.sleep(0.2)
        try:
            with database.writing() as transaction:
                transaction.connection.execute(text("SELECT 1"))
                transaction.wake_on_commit(key)
                if rollback:
                    raise Rollback
        except Rollback:
            pass

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_commit_wakes_the_waiter_at_once(database: Database) -> None:
    with database.wakeups.expect("order-1") as waiter:
        waiter.wait(0.3)  # the listener is connected by now, on PostgreSQL
        writer = commit_later(database, "order-1")
        started = time.monotonic()
        woken = waiter.wait(5.0)
        waited = time.monotonic() - started
    writer.join()
    assert woken
    assert waited < 1.0


def test_a_rollback_or_another_key_wakes_no_one(database: Database) -> None:
    with database.wakeups.expect("order-2") as waiter:
        waiter.wait(0.3)
        writers = [
            commit_later(database, "order-2", rollback=True),
            commit_later(database, "order-3"),
        ]
        woken = waiter.wait(1.0)
    for writer in writers:
        writer.join()
    assert not woken
