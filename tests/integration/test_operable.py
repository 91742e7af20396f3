"""An operator's view of a running OMS: one checkout through real `oms` processes, then
its log lines, the ops port's metrics, the AsyncAPI document and the order's timeline.

Both modes: `oms serve` on SQLite + the in-memory bus, and `oms serve --web-only` +
`oms worker` on PostgreSQL + RabbitMQ, with OMS_LOG_FORMAT=json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from oms.bus.catalogue import CATALOGUE
from tests.integration.processes import (
    LOOPBACK,
    OmsProcesses,
    free_port,
    oms_environment,
    oms_processes,
    run_oms,
)
from tests.polling import wait_until

pytestmark = [pytest.mark.slow]

SECRET = "operable-test-secret-long-enough-for-hs256!"
ADMIN_EMAIL, ADMIN_PASSWORD = "ops@example.com", "a long admin password"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SAGA = [
    ("orders", "order.created"),
    ("products", "handled order.created"),
    ("orders", "handled inventory.reserved"),
    ("orders", "order.confirmed"),
    ("payments", "handled order.confirmed"),
    ("payments", "payment completed"),
    ("orders", "handled payment.completed"),
    ("orders", "order.processing"),
]


@pytest.fixture(
    params=["embedded", pytest.param("broker", marks=[pytest.mark.postgres, pytest.mark.rabbitmq])]
)
def running_oms(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OmsProcesses]:
    settings = {"OMS_JWT_SECRET": SECRET, "OMS_LOG_FORMAT": "json", "OMS_BCRYPT_ROUNDS": "4"}
    workers = 0
    if request.param == "embedded":
        settings["OMS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'oms.db'}"
    else:
        settings["OMS_DATABASE_URL"] = request.getfixturevalue("postgres_url")
        settings["OMS_BROKER_URL"] = request.getfixturevalue("amqp_url")
        settings["OMS_BROKER_NAMESPACE"] = request.getfixturevalue("broker_namespace")
        settings["OMS_CHECKOUT_WAIT_SECONDS"] = "15"
        workers = 1
    env = oms_environment(**settings)
    run_oms(env, "db", "upgrade")
    run_oms(env, "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD)
    with oms_processes(env, tmp_path / "logs", workers=workers) as oms:
        yield oms


def test_one_checkout_is_visible_in_logs_metrics_and_the_console(running_oms: OmsProcesses) -> None:
    oms = running_oms
    web = oms.web_url
    ops = f"http://{LOOPBACK}:{oms.ports['ops']}"
    admin = _login(web, ADMIN_EMAIL, ADMIN_PASSWORD)
    product = requests.post(
        f"{web}/api/v1/products",
        json={"name": "Widget", "sku": "W-1", "price": "49.99", "stock": 10},
        headers=_bearer(admin),
        timeout=10,
    ).json()["productId"]
    customer = requests.post(
        f"{web}/api/v1/auth/register",
        json={
            "email": "ada@example.com",
            "password": "correct horse battery",
            "firstName": "Ada",
            "lastName": "Lovelace",
        },
        timeout=10,
    ).json()["token"]

    response = requests.post(
        f"{web}/api/v1/checkout",
        json={
            "items": [{"productId": product, "quantity": 2}],
            "shippingAddress": {
                "line1": "1 Main St",
                "city": "Springfield",
                "postalCode": "12345",
                "country": "US",
            },
            "paymentMethod": {"type": "card", "token": "tok_visa"},
        },
        headers={
            **_bearer(customer),
            "X-Request-ID": "probe-1",
            "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
        },
        timeout=30,
    )

    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == "probe-1"
    order_id = response.json()["orderId"]

    # Metrics: the checkout, the HTTP request, the bus gauges.
    metrics = wait_until(lambda: _metrics_once_settled(ops), 20, what="metrics of the saga")
    assert metrics[("oms_checkouts_total", (("outcome", "processing"),))] == 1
    checkout = (
        ("method", "POST"),
        ("port", "web"),
        ("route", "/api/v1/checkout"),
        ("status", "201"),
    )
    assert metrics[("oms_http_requests_total", checkout)] == 1
    for module in ("users", "products", "orders", "payments"):
        assert metrics[("oms_outbox_rows", (("module", module),))] == 0
        assert ("oms_dead_letters", (("module", module),)) in metrics
    assert metrics[("oms_database_gauges_up", ())] == 1

    # The event catalogue.
    asyncapi = requests.get(f"{ops}/asyncapi.json", timeout=10).json()
    assert asyncapi["asyncapi"] == "3.0.0" and set(asyncapi["channels"]) == set(CATALOGUE)

    # The order's saga across modules, for an admin bearer token.
    page = requests.get(f"{ops}/orders/{order_id}", headers=_bearer(admin), timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    cards = re.findall(r'data-lane="(\w+)" data-kind="[\w-]+">([^<]+)', page.text)
    assert [card for card in cards if card in SAGA] == SAGA

    # Logs: every line of every process is JSON; the request's and the events' carry ids.
    oms.stop_all()
    lines = []
    for log in sorted(oms.log_dir.glob("*.log")):
        for text in log.read_text().splitlines():
            try:
                lines.append(json.loads(text))
            except ValueError:
                pytest.fail(f"{log.name}: not a JSON line: {text!r}")
    probe = [line for line in lines if line.get("request_id") == "probe-1"]
    assert any(line.get("order_id") == order_id for line in probe)
    access = [line for line in probe if line["logger"] == "gunicorn.access"]
    assert access and access[0]["route"] == "/api/v1/checkout" and access[0]["status"] == 201
    assert access[0]["method"] == "POST" and access[0]["duration_ms"] > 0
    handled = [line for line in lines if line.get("correlation_id") == order_id]
    assert {line["event_type"] for line in handled} >= {
        "order.created",
        "inventory.reserved",
        "order.confirmed",
        "payment.completed",
    }
    assert all(line["event_id"] and TRACE_ID in line["traceparent"] for line in handled)


@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_a_worker_on_its_own_shows_its_metrics_and_liveness(
    postgres_url: str, amqp_url: str, broker_namespace: str, tmp_path: Path
) -> None:
    port = free_port()
    env = oms_environment(
        OMS_JWT_SECRET=SECRET,
        OMS_DATABASE_URL=postgres_url,
        OMS_BROKER_URL=amqp_url,
        OMS_BROKER_NAMESPACE=broker_namespace,
        OMS_WORKER_METRICS_PORT=str(port),
        OMS_WORKER_THREADS="2",
    )
    run_oms(env, "db", "upgrade")
    with oms_processes(env, tmp_path / "logs", workers=1) as oms:

        def scraped() -> dict | None:
            try:
                text = requests.get(f"http://{LOOPBACK}:{port}/metrics", timeout=2).text
            except requests.RequestException:
                return None
            values = _parse(text)
            return values if values.get(("oms_bus_worker_consumers", ())) == 2 else None

        values = wait_until(scraped, 30, what="the worker's metrics")
        assert values[("oms_bus_worker_heartbeat_timestamp_seconds", ())] > 0
        oms.assert_all_alive()


def _metrics_once_settled(ops: str) -> dict | None:
    """The metrics once the order is processing and the outboxes have drained (published
    rows are forgotten in batches, a moment after the broker confirmed them)."""
    values = _parse(requests.get(f"{ops}/metrics", timeout=10).text)
    settled = values.get(("oms_orders", (("status", "processing"),)), 0) == 1
    outboxes = [value for (name, _), value in values.items() if name == "oms_outbox_rows"]
    return values if settled and not any(outboxes) else None


def _parse(text: str) -> dict[tuple, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _login(web: str, email: str, password: str) -> str:
    response = requests.post(
        f"{web}/api/v1/auth/login", json={"email": email, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
