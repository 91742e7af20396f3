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
from tests.unit.notes import COUNT, NOTES, count

ADD = insert(NOTES)
TEXT_OF = select(NOTES.c.text).where(NOTES.c.id == bindparam("note"))


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

    with database.writing() as transaction:  # the same pooled connection
        execute(transaction.connection, ADD, {"id": 2, "text": "the next user's own"})

    assert count(database) == 1


def test_a_kept_write_that_fails_fails_the_commit_and_nothing_is_kept(
    database: Database,
) -> None:
    with database.writing() as transaction:
        execute(transaction.connection, ADD, {"id": 1, "text": "first"})

    with pytest.raises(IntegrityError), database.writing() as transaction:
        execute_later(transaction.connection, ADD, {"id": 2, "text": "would be new"})
        execute_later(transaction.connection, ADD, {"id": 1, "text": "a duplicate"})

    assert count(database) == 1
