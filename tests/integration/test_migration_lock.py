"""`oms db upgrade` and `oms serve --migrate` hold a database lock: replicas never race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from oms.db import with_driver
from oms.migrate import MIGRATION_LOCK, upgrade


@pytest.mark.postgres
def test_concurrent_upgrades_on_postgresql_take_turns(postgres_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: upgrade(postgres_url), range(4)))

    engine = create_engine(with_driver(postgres_url))
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        held = connection.execute(  # in this database: other tests migrate theirs meanwhile
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).scalar()
    engine.dispose()
    assert version is not None and held == 0


@pytest.mark.postgres
def test_an_upgrade_waits_while_another_holds_the_lock(postgres_url: str) -> None:
    engine = create_engine(with_driver(postgres_url))
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(upgrade, postgres_url)
            with pytest.raises(TimeoutError):
                waiting.result(timeout=2)
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            holder.commit()
            waiting.result(timeout=60)
    engine.dispose()


def test_concurrent_upgrades_on_sqlite_take_turns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'oms.db'}"
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: upgrade(url), range(3)))
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()
