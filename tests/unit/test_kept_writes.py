"""Writes kept for the next round trip (`execute_later`): they run in the order they were
written, inside their transaction, before what is read after them, and never outside
it: a rolled-back transaction's kept writes go nowhere, not even to the next user of
its pooled connection. On SQLite they run at once; the same tests hold on both."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from oms.db import Database
from oms.statements import execute, execute_later
from tests.unit.notes import COUNT, METADATA, NOTES, count

ADD = insert(NOTES)
TEXT_OF = select(NOTES.c.text).where(NOTES.c.id == bindparam("note"))


def add_note(database: Database, note_id: int, text: str) -> None:
    """One note, in a write transaction of its own."""
    with database.writing() as transaction:
        execute(transaction.connection, ADD, {"id": note_id, "text": text})


def test_kept_writes_are_committed_in_order_and_read_back_inside_their_transaction(
    database: Database,
) -> None:
    with database.writing() as transaction:
        connection = transaction.connection
        execute_later(connection, ADD, {"id": 1, "text": "50 % off; 'quoted'"})
        execute_later(connection, ADD, [{"id": 2, "text": "b"}, {"id": 3, "text": "c"}])
        assert execute(connection, TEXT_OF, {"note": 1}).scalar() == "50 % off; 'quoted'"
        execute_later(connection, ADD, {"id": 4, "text": "sent before the commit"})

    assert count(database) == 4
    with database.connect() as connection:
        assert execute(connection, TEXT_OF, {"note": 4}).scalar() == "sent before the commit"


def test_a_statement_through_sqlalchemy_sees_the_writes_kept_before_it(
    database: Database,
) -> None:
    with database.writing() as transaction:
        execute_later(transaction.connection, ADD, {"id": 1, "text": "a"})
        assert transaction.session.execute(COUNT).scalar() == 1


def test_a_rolled_back_transactions_kept_writes_reach_neither_it_nor_the_next_user(
    database: Database,
) -> None:
    with pytest.raises(RuntimeError), database.writing() as transaction:
        execute_later(transaction.connection, ADD, {"id": 1, "text": "never"})
        raise RuntimeError("the rest of the change failed")

    add_note(database, 2, "the next user's own")  # on the same pooled connection

    assert count(database) == 1


def test_a_kept_write_that_fails_fails_the_commit_and_nothing_is_kept(
    database: Database,
) -> None:
    add_note(database, 1, "first")

    with pytest.raises(IntegrityError), database.writing() as transaction:
        execute_later(transaction.connection, ADD, {"id": 2, "text": "would be new"})
        execute_later(transaction.connection, ADD, {"id": 1, "text": "a duplicate"})

    assert count(database) == 1


def test_a_write_transaction_is_unseen_until_it_commits_and_all_or_nothing(
    database: Database,
) -> None:
    with pytest.raises(RuntimeError), database.writing() as transaction:
        execute(transaction.connection, ADD, {"id": 1, "text": "uncommitted"})
        execute(transaction.connection, ADD, {"id": 2, "text": "uncommitted too"})
        assert count(database) == 0  # another connection does not see them
        raise RuntimeError("the rest of the change failed")

    assert count(database) == 0


def test_a_failed_statement_leaves_the_pooled_connection_ready_for_the_next_user(
    database: Database,
) -> None:
    add_note(database, 1, "first")
    with pytest.raises(IntegrityError):  # the transaction's first statement fails
        add_note(database, 1, "a duplicate")

    add_note(database, 2, "the next user's own")  # on the same pooled connection
    with database.reading() as session:
        assert session.execute(COUNT).scalar() == 2


@pytest.mark.postgres
def test_a_write_sends_begin_and_commit_with_its_statements_and_a_read_sends_neither(
    postgres_url: str,
) -> None:
    """Every round trip to PostgreSQL passes psycopg2's wait callback once: a transaction
    that keeps two writes around a read makes two (BEGIN, a write and the read; the last
    write and COMMIT), not four; a read session one, with no BEGIN and ROLLBACK."""
    from psycopg2 import extensions

    database = Database(postgres_url, pool_size=1)
    METADATA.create_all(database.engine)
    bounded_wait = extensions.get_wait_callback()
    round_trips = []

    def counting_wait(connection: object) -> None:
        round_trips.append(connection)
        bounded_wait(connection)

    try:
        with database.connect():
            pass  # the pooled connection is made, and checked, before counting
        extensions.set_wait_callback(counting_wait)
        with database.writing() as transaction:
            execute_later(transaction.connection, ADD, {"id": 1, "text": "a"})
            assert execute(transaction.connection, TEXT_OF, {"note": 1}).scalar() == "a"
            execute_later(transaction.connection, ADD, {"id": 2, "text": "b"})
        assert len(round_trips) == 2
        with database.reading() as session:
            assert session.execute(COUNT).scalar() == 2
        assert len(round_trips) == 3
    finally:
        extensions.set_wait_callback(bounded_wait)
        database.dispose()
