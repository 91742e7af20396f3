"""Webhooks from real `oms` processes: the serving process delivers them in the embedded
default, `oms worker` in broker mode; both stop cleanly on SIGTERM with the loop running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import TEST_SECRET
from tests.integration.processes import oms_environment, oms_processes, run_oms
from tests.polling import wait_until
from tests.webhook_receiver import Receiver, always, verified

ADMIN_EMAIL, ADMIN_PASSWORD = "hooks-admin@example.com", "a long admin password"
FAST_WEBHOOKS = {
    "OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "OMS_WEBHOOK_RETRY_INITIAL_SECONDS": "1",
    "OMS_WEBHOOK_POLL_INTERVAL_SECONDS": "0.1",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(always(200))
    yield server
    server.close()


@pytest.fixture(
    params=["embedded", pytest.param("broker", marks=[pytest.mark.postgres, pytest.mark.rabbitmq])]
)
def mode(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[dict[str, str], int]:
    """The environment of the OMS processes, and how many workers they need."""
    if request.param == "embedded":
        database = {"OMS_DATABASE_URL": f"sqlite:///{tmp_path / 'oms.db'}"}
        workers = 0
    else:
        database = {
            "OMS_DATABASE_URL": request.getfixturevalue("postgres_url"),
            "OMS_BROKER_URL": request.getfixturevalue("amqp_url"),
            "OMS_BROKER_NAMESPACE": request.getfixturevalue("broker_namespace"),
        }
        workers = 1
    env = oms_environment(
        **database,
        **FAST_WEBHOOKS,
        OMS_JWT_SECRET=TEST_SECRET,
        OMS_BCRYPT_ROUNDS="4",
        OMS_HOST="127.0.0.1",
        OMS_WORKER_THREADS="2",
    )
    run_oms(env, "db", "upgrade")
    run_oms(env, "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD)
    return env, workers


def test_a_running_oms_delivers_webhooks_and_stops_cleanly(
    mode: tuple[dict[str, str], int], receiver: Receiver, tmp_path: Path
) -> None:
    env, workers = mode
    with oms_processes(env, tmp_path / "logs", workers=workers) as oms:
        api = f"{oms.web_url}/api/v1"
        login = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        admin = requests.post(f"{api}/auth/login", json=login, timeout=10).json()["token"]
        hook = requests.post(
            f"{api}/webhooks",
            json={"url": receiver.url, "events": ["user.*"]},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=10,
        )
        assert hook.status_code == 201, hook.text
        customer = requests.post(
            f"{api}/auth/register",
            json={
                "email": "hooked@example.com",
                "password": "correct horse battery",
                "firstName": "Ada",
                "lastName": "Lovelace",
            },
            timeout=10,
        ).json()

        def customers_event() -> list:
            # (in broker mode the admin's own user.created may come too: the worker may
            # handle it only after the endpoint exists)
            return [r for r in receiver.received if r.event["data"]["userId"] == customer["userId"]]

        delivered = wait_until(customers_event, timeout=30, what="the webhook delivery")[0]
        oms.assert_all_alive()

    assert not oms.unclean_stops, f"{oms.unclean_stops}\n{oms.logs()}"
    assert delivered.event["type"] == "user.created"
    assert verified(hook.json()["secret"], delivered)
