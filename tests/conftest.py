"""Fixtures: a migrated SQLite OMS per test, with the in-memory bus, behind its six ports."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from oms.app import create_port_apps, start_runtime
from oms.config import Settings
from oms.db import sqlite_schema_files
from oms.migrate import upgrade
from oms.runtime import Runtime
from tests.support import Shop

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256!"


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite files after `oms db upgrade`, made once and copied for each test."""
    main = tmp_path_factory.mktemp("template") / "oms.db"
    upgrade(f"sqlite:///{main}")
    return main


@pytest.fixture
def settings(tmp_path: Path, migrated_sqlite: Path) -> Settings:
    main = tmp_path / "oms.db"
    shutil.copy(migrated_sqlite, main)
    for schema, path in sqlite_schema_files(str(migrated_sqlite)).items():
        shutil.copy(path, sqlite_schema_files(str(main))[schema])
    return Settings(
        database_url=f"sqlite:///{main}",
        jwt_secret=TEST_SECRET,
        bcrypt_rounds=4,
        checkout_wait_seconds=2.0,
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    runtime = start_runtime(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def shop(runtime: Runtime) -> Shop:
    return Shop(create_port_apps(runtime), runtime)
