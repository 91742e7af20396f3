"""Alembic environment: one history over every module's schema, on PostgreSQL and SQLite."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from oms.app import all_metadata
from oms.db import Database

VERSION_TABLE_SCHEMA = None  # alembic_version lives in the default schema


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    if type_ == "schema":
        return name in {metadata.schema for metadata in all_metadata()}
    return True


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=all_metadata(),
        include_schemas=True,
        include_name=include_name,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    database = Database(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with database.engine.connect() as connection:
            run_migrations(connection)
    finally:
        database.dispose()


if context.is_offline_mode():
    raise SystemExit("OMS migrations run online only: use `oms db upgrade`.")
run_online()
