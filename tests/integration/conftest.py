"""Fixtures of the tests on real `oms` processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.ops import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CHECKOUT_WAIT,
    CONSUMER_THREADS,
    SECRET,
    Ledger,
)
from tests.integration.processes import oms_environment, run_oms


@pytest.fixture
def oms_env(postgres_url: str, amqp_url: str, broker_namespace: str) -> dict[str, str]:
    """The environment of every OMS process; the database migrated, an admin created."""
    env = oms_environment(
        OMS_DATABASE_URL=postgres_url,
        OMS_BROKER_URL=amqp_url,
        OMS_BROKER_NAMESPACE=broker_namespace,
        OMS_JWT_SECRET=SECRET,
        OMS_BCRYPT_ROUNDS="4",
        OMS_CHECKOUT_WAIT_SECONDS=str(CHECKOUT_WAIT),
        OMS_RELAY_INTERVAL_SECONDS="0.2",
        OMS_RELAY_GRACE_SECONDS="1",
        OMS_WEB_WORKERS="2",
        OMS_WEB_THREADS="12",
        OMS_WORKER_THREADS=str(CONSUMER_THREADS),
        OMS_HOST="127.0.0.1",
        OMS_LOG_LEVEL="info",
        # These tests drive load (checkouts retried through outages): no throttling.
        OMS_CHECKOUT_RATE_LIMIT="100000",
    )
    run_oms(env, "db", "upgrade")
    run_oms(env, "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD)
    return env


@pytest.fixture
def ledger(postgres_url: str, amqp_url: str, broker_namespace: str) -> Iterator[Ledger]:
    books = Ledger(postgres_url, amqp_url, broker_namespace)
    yield books
    books.close()
