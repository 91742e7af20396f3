from __future__ import annotations

from collections.abc import Iterator

import pytest

from oms.db import Database
from tests.unit.notes import METADATA


@pytest.fixture
def database(empty_database_url: str) -> Iterator[Database]:
    """The notes table on a database whose pool has one connection, reused by all."""
    database = Database(empty_database_url, pool_size=1)
    METADATA.create_all(database.engine)
    yield database
    database.dispose()
