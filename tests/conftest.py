"""Fixtures: a migrated SQLite OMS per test, with the in-memory bus, behind its six ports."""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kombu import Connection
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from oms.app import (
    start_runtime,
    start_upkeep_thread,
    start_webhook_thread,
)
from oms.bus import MemoryTransport
from oms.bus.rabbitmq import declared_names
from oms.config import Settings
from oms.db import sqlite_schema_files, with_driver
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


# The saga tests whose every test also runs with in-memory deliveries shuffled.
SHUFFLED_MODULES = {
    "tests.saga.test_events",
    "tests.saga.test_payment_races",
    "tests.saga.test_web_checkout",
}
SHUFFLED_SEEDS = 3
BROKER = pytest.param("broker", marks=[pytest.mark.postgres, pytest.mark.rabbitmq])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shuffle-deliveries",
        metavar="SEED",
        help="deliver in-memory events in a random order (seeded) instead of first in, first out",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    shuffled = metafunc.module.__name__ in SHUFFLED_MODULES
    if "saga_shop" in metafunc.fixturenames:
        modes = ["embedded", "shuffled", BROKER] if shuffled else ["embedded", BROKER]
        metafunc.parametrize("saga_shop", modes, indirect=True)
    elif shuffled and "delivery_order" in metafunc.fixturenames:
        orders = ["fifo", *(f"shuffled-{seed}" for seed in range(1, SHUFFLED_SEEDS + 1))]
        metafunc.parametrize("delivery_order", orders, indirect=True)


@pytest.fixture
def delivery_order(request: pytest.FixtureRequest) -> random.Random | None:
    """How the in-memory transport picks the next delivery: None for first in, first out;
    a seeded generator for a random one (reproducible: the seed is in the test's id, or
    given with --shuffle-deliveries)."""
    seed = getattr(request, "param", None) or request.config.getoption("--shuffle-deliveries")
    return None if seed in (None, "fifo") else random.Random(f"{seed}:{request.node.nodeid}")


@pytest.fixture
def runtime(settings: Settings, delivery_order: random.Random | None) -> Iterator[Runtime]:
    runtime = start_runtime(settings, MemoryTransport(shuffle=delivery_order))
    yield runtime
    runtime.close()


@pytest.fixture
def shuffled_runtime(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """The embedded runtime, its deliveries in a random order seeded by the test's id."""
    seed = request.config.getoption("--shuffle-deliveries") or "shuffled"
    order = random.Random(f"{seed}:{request.node.nodeid}")
    runtime = start_runtime(settings, MemoryTransport(shuffle=order))
    yield runtime
    runtime.close()


@pytest.fixture
def shop(runtime: Runtime) -> Shop:
    return Shop(runtime)


POSTGRES_ADMIN_URL = os.environ.get(
    "OMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AMQP_URL = os.environ.get("OMS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def require_service(name: str, check: Callable[[], object]) -> None:
    """Skip when a real service is absent, except under CI, where it must be there."""
    try:
        check()
    except Exception as error:
        message = f"{name} is not reachable: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: the service must run)")
        pytest.skip(message)


def _postgres_admin() -> Engine:
    return create_engine(
        with_driver(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT", pool_pre_ping=True
    )


@contextmanager
def _new_database(template: str | None = None) -> Iterator[str]:
    """A PostgreSQL database of its own (a copy of `template`, or empty), dropped afterwards."""
    admin = _postgres_admin()
    require_service("PostgreSQL", lambda: admin.connect().close())
    name = f"oms_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    yield with_driver(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    _drop_database(admin, name)
    admin.dispose()


DROP_PATIENCE_SECONDS = 60


def _drop_database(admin: Engine, name: str) -> None:
    """Drop a test's database, trying again while PostgreSQL is slow to answer.

    A test that sets a short statement timeout leaves psycopg2's process-wide wait
    callback giving up after ~2 s, which a DROP on a busy machine can outlast.
    """
    deadline = time.monotonic() + DROP_PATIENCE_SECONDS
    while True:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with _new_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of one test on each backend: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'oms.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def migrated_postgres_template() -> Iterator[str]:
    """A PostgreSQL database after `oms db upgrade`, made once per pytest process (each
    xdist worker has its own): copying it is five times quicker than migrating."""
    with _new_database() as url:
        upgrade(url)
        yield make_url(url).database or ""


@pytest.fixture
def migrated_postgres_url(migrated_postgres_template: str) -> Iterator[str]:
    """A PostgreSQL database of one test as `oms db upgrade` leaves it, dropped afterwards."""
    with _new_database(template=migrated_postgres_template) as url:
        yield url


@pytest.fixture
def amqp_url() -> str:
    def connect() -> None:
        with Connection(AMQP_URL, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=0)

    require_service("RabbitMQ", connect)
    return AMQP_URL


@pytest.fixture
def broker_namespace(amqp_url: str) -> Iterator[str]:
    """A name prefix of the test's own exchanges and queues, deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:10]}."
    yield prefix
    queues, exchanges = declared_names(prefix)
    with Connection(amqp_url, connect_timeout=2) as connection, connection.channel() as channel:
        for queue in queues:
            channel.queue_delete(queue)
        for exchange in exchanges:
            channel.exchange_delete(exchange)


@pytest.fixture
def broker_settings(migrated_postgres_url: str, amqp_url: str, broker_namespace: str) -> Settings:
    return Settings(
        database_url=migrated_postgres_url,
        broker_url=amqp_url,
        broker_namespace=broker_namespace,
        jwt_secret=TEST_SECRET,
        bcrypt_rounds=4,
        checkout_wait_seconds=10.0,
        relay_interval_seconds=0.2,
        relay_grace_seconds=1.0,
    )


@pytest.fixture
def broker_runtime(broker_settings: Settings) -> Iterator[Runtime]:
    """OMS on PostgreSQL + RabbitMQ, with a bus worker (consumers + relay) in a thread."""
    yield from run_with_worker(start_runtime(broker_settings))


def run_with_worker(runtime: Runtime) -> Iterator[Runtime]:
    stop = threading.Event()
    worker = threading.Thread(target=runtime.bus.run_worker, args=(stop,), daemon=True)
    worker.start()
    relay = start_upkeep_thread(runtime, stop)
    webhook_deliveries = start_webhook_thread(runtime, stop)
    yield runtime
    stop.set()
    worker.join(timeout=10)
    relay.join(timeout=10)
    webhook_deliveries.join(timeout=10)
    runtime.close()


SAGA_RUNTIMES = {"embedded": "runtime", "shuffled": "shuffled_runtime", "broker": "broker_runtime"}


@pytest.fixture
def saga_shop(request: pytest.FixtureRequest) -> Shop:
    """The same OMS in both modes: SQLite + in-memory bus, and PostgreSQL + RabbitMQ (and,
    in SHUFFLED_MODULES, the in-memory bus with its deliveries shuffled)."""
    runtime = request.getfixturevalue(SAGA_RUNTIMES[request.param])
    return Shop(runtime)
