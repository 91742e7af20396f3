"""The operations port beside the six others, over the same runtime."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask.testing import FlaskClient

from oms import users
from oms.bus.catalogue import CATALOGUE
from oms.config import Settings
from oms.ops import create_ops_app
from oms.runtime import Runtime
from tests.polling import sweep_until
from tests.support import Shop


@pytest.fixture
def ops(runtime: Runtime) -> FlaskClient:
    return create_ops_app(runtime).test_client()


@pytest.fixture
def paid_order(shop: Shop) -> tuple[Shop, str]:
    product = shop.add_product(price="12.50", stock=5)["productId"]
    customer = shop.register()
    response = shop.checkout(customer, [(product, 2)], idempotency_key=None)
    assert response.status_code == 201, response.json
    return shop, response.json["orderId"]


def scrape(client: FlaskClient) -> dict[tuple[str, frozenset], float]:
    """The ops port's /metrics as {(sample name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Failed deliveries are tried again within milliseconds here."""
    return replace(settings, retry_initial_seconds=0.001, retry_max_delay_seconds=0.002)


class FailingConsumer:
    """A consumer, bound in the users module's name, whose handler always fails: its
    events wait for their next tries, then end as dead letters (`retry_until_dead`)."""

    module = "users"

    def __init__(self, runtime: Runtime, event_types: list[str]) -> None:
        self.calls = 0
        self.runtime = runtime
        handlers = {CATALOGUE[name]: self.handle for name in event_types}
        runtime.bus.subscribe(users.MESSAGES, handlers)

    def handle(self, event: object, uow: object) -> None:
        self.calls += 1
        raise RuntimeError("the probe consumer always fails")

    def retry_until_dead(self) -> None:
        retry_until_dead(self.runtime)


def retry_until_dead(runtime: Runtime) -> None:
    """Make every due try until no failed delivery waits for another."""
    store = runtime.bus.dead_letters
    sweep_until(
        runtime,
        lambda: all(entry.retry_at is None for entry in store.entries(include_waiting=True)),
    )
