"""While PostgreSQL is cut off or frozen, clients get a prompt 503 with Retry-After in
the one error shape, /readyz names the dependency and nothing of where it lives, and a
checkout retried with its Idempotency-Key afterwards gets the order's real answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy.engine import make_url
from werkzeug.test import TestResponse

from oms.app import start_runtime
from oms.config import Settings
from tests.integration.processes import TcpProxy
from tests.support import Shop

pytestmark = pytest.mark.postgres

STATEMENT_TIMEOUT = 1.0
CONNECT_TIMEOUT = 1.0
# At worst a request finds its pooled connection frozen (the statement timeout plus
# oms.db.WAIT_MARGIN_SECONDS), then cannot open a new one (the connect timeout).
GIVE_UP_WITHIN = STATEMENT_TIMEOUT + 1.0 + CONNECT_TIMEOUT + 1.0


@pytest.fixture
def database_link(broker_settings: Settings) -> Iterator[TcpProxy]:
    with TcpProxy(*_host_and_port(broker_settings.database_url)) as proxy:
        yield proxy


@pytest.fixture
def shop_via_link(broker_settings: Settings, database_link: TcpProxy) -> Iterator[Shop]:
    """OMS in process on PostgreSQL reached through `database_link`, the in-memory bus."""
    settings = replace(
        broker_settings,
        database_url=database_link.route(broker_settings.database_url),
        broker_url="memory://",
        db_statement_timeout_seconds=STATEMENT_TIMEOUT,
        db_connect_timeout_seconds=CONNECT_TIMEOUT,
        checkout_wait_seconds=2.0,
    )
    runtime = start_runtime(settings)
    yield Shop(runtime)
    runtime.close()


def _host_and_port(url: str) -> tuple[str, int]:
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


def assert_unavailable(response: TestResponse, started: float, limit: float) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert time.monotonic() - started < limit
    assert response.headers["Retry-After"].isdigit()
    assert response.json["code"] == 503
    assert response.json["status"] == "Service Unavailable"
    assert "database" in response.json["message"]


def test_a_database_outage_answers_503_with_retry_after_and_readyz_hides_the_address(
    shop_via_link: Shop, database_link: TcpProxy
) -> None:
    shop = shop_via_link
    customer = shop.register()
    widget = shop.add_product(stock=5)

    database_link.stop()
    started = time.monotonic()
    response = shop.web.get(f"/api/v1/products/{widget['productId']}")
    assert_unavailable(response, started, limit=5)
    checkout = shop.checkout(customer, [(widget["productId"], 1)])
    assert checkout.status_code == 503
    ready = shop.web.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["problems"] == {"database": "unreachable"}
    assert str(database_link.port) not in ready.get_data(as_text=True)
    assert "127.0.0.1" not in ready.get_data(as_text=True)

    database_link.start()
    assert shop.web.get("/readyz").status_code == 200
    assert shop.stock_of(widget["productId"]) == 5  # the refused checkout changed nothing


def test_a_frozen_database_is_given_up_on_within_the_statement_timeout(
    shop_via_link: Shop, database_link: TcpProxy
) -> None:
    shop = shop_via_link
    widget = shop.add_product(stock=5)

    database_link.freeze()
    try:
        started = time.monotonic()
        response = shop.web.get(f"/api/v1/products/{widget['productId']}")
        assert_unavailable(response, started, limit=GIVE_UP_WITHIN)
        started = time.monotonic()
        assert shop.web.get("/readyz").status_code == 503
        assert time.monotonic() - started < GIVE_UP_WITHIN
    finally:
        database_link.thaw()
    assert shop.web.get(f"/api/v1/products/{widget['productId']}").status_code == 200


def test_a_checkout_retried_with_its_idempotency_key_after_an_outage_gets_the_real_answer(
    shop_via_link: Shop, database_link: TcpProxy
) -> None:
    shop = shop_via_link
    customer = shop.register()
    widget = shop.add_product(stock=5)

    database_link.stop()
    refused = shop.checkout(customer, [(widget["productId"], 2)], idempotency_key="retry-me-1")
    database_link.start()
    first = shop.checkout(customer, [(widget["productId"], 2)], idempotency_key="retry-me-1")
    again = shop.checkout(customer, [(widget["productId"], 2)], idempotency_key="retry-me-1")

    assert refused.status_code == 503
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json["orderId"] == again.json["orderId"]
    assert shop.stock_of(widget["productId"]) == 3
