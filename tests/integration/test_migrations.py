"""`oms db upgrade` builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from oms.app import all_metadata
from oms.db import SCHEMAS, Database, sqlite_schema_files
from oms.migrate import upgrade


def differences(database: Database) -> list:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, _: type_ != "schema" or name in SCHEMAS,
                "compare_type": True,
            },
        )
        return compare_metadata(context, all_metadata())


def tables_by_schema(database: Database) -> dict[str, set[str]]:
    inspector = inspect(database.engine)
    return {schema: set(inspector.get_table_names(schema=schema)) for schema in SCHEMAS}


def test_sqlite_migrations_match_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    upgrade(url)
    database = Database(url)
    try:
        assert differences(database) == []
        assert tables_by_schema(database)["orders"] >= {"orders", "order_items", "order_events"}
    finally:
        database.dispose()
    assert all(
        Path(path).exists() for path in sqlite_schema_files(str(tmp_path / "oms.db")).values()
    )


@pytest.mark.postgres
def test_postgres_migrations_build_four_schemas_matching_the_models(postgres_url: str) -> None:
    upgrade(postgres_url)
    database = Database(postgres_url)
    try:
        assert differences(database) == []
        tables = tables_by_schema(database)
        assert set(tables) == set(SCHEMAS)
        assert all({"outbox", "inbox"} <= names for names in tables.values())
    finally:
        database.dispose()
