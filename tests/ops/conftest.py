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
