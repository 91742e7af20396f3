"""The saga heals itself in the embedded mode too: an order that cannot settle is
cancelled at its deadline and compensated, late events change nothing, and `oms audit`
sees when an invariant across modules breaks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from oms import cli, payments
from oms.app import create_port_apps, start_runtime, start_upkeep_thread
from oms.audit import audit
from oms.config import Settings
from oms.orders import service as orders_service
from oms.runtime import Runtime
from tests.support import DECLINED, Shop

DEADLINE = 0.5


@pytest.fixture
def healing_shop(settings: Settings) -> Iterator[Shop]:
    """Embedded OMS with a short saga deadline and its upkeep loop running."""
    runtime = start_runtime(
        replace(
            settings,
            saga_deadline_seconds=DEADLINE,
            checkout_wait_seconds=0.2,
            relay_interval_seconds=0.05,
            retry_initial_seconds=0.05,
            retry_max_delay_seconds=0.1,
        )
    )
    stop = threading.Event()
    upkeep = start_upkeep_thread(runtime, stop)
    yield Shop(create_port_apps(runtime), runtime)
    stop.set()
    upkeep.join(timeout=10)
    runtime.close()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_an_order_past_its_deadline_is_cancelled_and_a_late_payment_never_charges(
    healing_shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = healing_shop
    customer = shop.register()
    widget = shop.add_product(stock=5)

    def payments_database_away(*args: object, **kwargs: object) -> None:
        raise ConnectionError("the payments database is away")

    monkeypatch.setattr(payments.service, "charge_order", payments_database_away)
    response = shop.checkout(customer, [(widget["productId"], 2)])
    assert response.status_code == 202
    assert response.json["status"] == "confirmed"
    order_id = response.json["orderId"]

    wait_for(lambda: shop.order(customer, order_id)["status"] == "cancelled")
    monkeypatch.undo()  # the database is back: the waiting order.confirmed goes through
    store = shop.runtime.bus.dead_letters
    wait_for(lambda: store.entries(include_waiting=True) == [])

    details = shop.details(customer, order_id)
    cancelled = details["order"]["events"][-1]
    assert (cancelled["status"], cancelled["cause"]) == ("cancelled", "deadline")
    assert details["order"]["cancelReason"] == "saga_deadline"
    assert details["payments"] == []  # the late order.confirmed was not charged
    assert shop.stock_of(widget["productId"]) == 5
    time.sleep(0.1)
    assert audit(shop.runtime, settle_seconds=0).ok


def test_a_deadline_cancellation_after_payment_is_refunded_once(
    healing_shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """payment.completed is lost on its way to orders: the deadline cancels a paid
    order, and payments refunds it."""
    shop = healing_shop
    customer = shop.register()
    widget = shop.add_product(price="12.50", stock=5)

    def orders_database_away(*args: object, **kwargs: object) -> None:
        raise ConnectionError("the orders database is away")

    monkeypatch.setattr(orders_service, "mark_paid", orders_database_away)
    order_id = shop.checkout(customer, [(widget["productId"], 1)]).json["orderId"]

    wait_for(lambda: shop.order(customer, order_id)["status"] == "cancelled")
    monkeypatch.undo()
    wait_for(lambda: shop.runtime.bus.dead_letters.entries(include_waiting=True) == [])
    details = shop.details(customer, order_id)

    assert details["order"]["status"] == "cancelled"  # the late payment.completed is ignored
    [payment] = details["payments"]
    assert payment["status"] == "refunded"
    assert len(payment["refunds"]) == 1
    assert shop.stock_of(widget["productId"]) == 5
    time.sleep(0.1)
    assert audit(shop.runtime, settle_seconds=0).ok


def test_audit_passes_on_a_healthy_shop_and_names_each_broken_invariant(
    shop: Shop, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    customer = shop.register()
    widget = shop.add_product(stock=5)
    paid = shop.checkout(customer, [(widget["productId"], 1)]).json["orderId"]
    shop.checkout(customer, [(widget["productId"], 1)], payment_method=DECLINED)
    shop.checkout(customer, [(widget["productId"], 50)])
    cancelled = shop.checkout(customer, [(widget["productId"], 1)]).json["orderId"]
    shop.web.post(f"/api/v1/orders/{cancelled}/cancel", headers=customer.headers)
    assert audit(shop.runtime, settle_seconds=0).ok

    run_sql(
        shop.runtime,
        "UPDATE products.inventory SET available = available + 3",
        "UPDATE payments.payments SET status = 'completed' WHERE order_id = :cancelled",
        "UPDATE orders.orders SET status = 'confirmed', created_at = '2020-01-01 00:00:00'"
        " WHERE id = :paid",
        "INSERT INTO orders.outbox (id, type, envelope, created_at)"
        " VALUES ('stale-1', 'order.shipped', '{}', '2020-01-01 00:00:00')",
        cancelled=cancelled,
        paid=paid,
    )
    report = audit(shop.runtime, settle_seconds=0)
    found = {(problem.check, problem.subject) for problem in report.problems}
    assert found == {
        ("stock ledger", widget["productId"]),
        ("refund", cancelled),
        ("stuck order", paid),
        ("outbox", "orders"),
    }

    monkeypatch.chdir(Path(settings.database_url.removeprefix("sqlite:///")).parent)
    for name, value in {
        "OMS_DATABASE_URL": settings.database_url,
        "OMS_JWT_SECRET": settings.jwt_secret,
    }.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["audit", "--json", "--settle-seconds", "0"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is False
    assert len(printed["problems"]) == 4


def run_sql(runtime: Runtime, *statements: str, **params: str) -> None:
    with runtime.database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)
