"""A table of notes for the tests of `oms.db` and `oms.statements`, on a database with
one pooled connection (the `database` fixture of tests/unit): what one user of the pool leaves
behind, the next one meets."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from oms.db import Database

METADATA = MetaData()
NOTES = Table("notes", METADATA, Column("id", Integer, primary_key=True), Column("text", String))
COUNT = select(func.count().label("notes")).select_from(NOTES)


def count(database: Database) -> int:
    with database.connect() as connection:
        return connection.execute(COUNT).scalar_one()
