"""The operations port beside the six others, over the same runtime."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from oms.ops import create_ops_app
from oms.runtime import Runtime
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


class FailingConsumer:
    """A consumer bound beside the modules whose handler always fails: its events
    end as dead letters after the transport's retries."""

    module = "probe"

    def __init__(self, runtime: Runtime, event_types: list[str]) -> None:
        self.calls = 0
        runtime.bus.transport.bind(self.module, event_types, self.deliver)

    def deliver(self, event: object) -> None:
        self.calls += 1
        raise RuntimeError("the probe consumer always fails")
