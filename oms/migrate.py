"""Running the Alembic migrations in `migrations/` against the configured database.

One migrator at a time: on PostgreSQL the upgrade holds an advisory lock, on SQLite a
lock file beside the database, so replicas (or `oms serve --migrate` in several
containers) starting together never race; the second finds nothing left to do.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from oms.db import Database

SOURCE_ROOT = Path(__file__).resolve().parent.parent
MIGRATION_LOCK = 0x4F4D535F4D494752  # pg_advisory_lock key: "OMS_MIGR"


def project_root() -> Path:
    """Where migrations/, config/ and wsgi.py live: the source tree, or OMS_HOME
    when OMS is installed as a package (the container sets it)."""
    return Path(os.environ.get("OMS_HOME") or SOURCE_ROOT)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(project_root() / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    database = Database(database_url)
    try:
        if database.is_sqlite:
            with _lock_file(Path(database.url.database or "oms.db")):
                command.upgrade(alembic_config(database_url), revision)
            return
        with database.engine.connect() as connection, _advisory_lock(connection):
            config = alembic_config(database_url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        database.dispose()


@contextmanager
def _advisory_lock(connection: Connection) -> Iterator[None]:
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
    connection.commit()  # the lock belongs to the session, not to this transaction
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
        connection.commit()


@contextmanager
def _lock_file(database_file: Path) -> Iterator[None]:
    lock_path = database_file.with_name(database_file.name + ".migrate-lock")
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
