"""GET /metrics on the operations port: what a Prometheus scrape sees after real traffic."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from flask.testing import FlaskClient

from oms.bus import Event
from tests.ops.conftest import FailingConsumer, sample, scrape
from tests.polling import wait_until
from tests.support import DECLINED, Shop

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "oms-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


def test_a_paid_checkout_is_counted_with_its_request_saga_and_events(
    shop: Shop, ops: FlaskClient
) -> None:
    product = shop.add_product(stock=3)["productId"]
    customer = shop.register()
    before = scrape(ops)

    response = shop.checkout(customer, [(product, 1)])

    assert response.status_code == 201
    after = scrape(ops)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("oms_checkouts_total", outcome="processing") == 1
    checkout = {"port": "web", "route": "/api/v1/checkout", "method": "POST", "status": "201"}
    assert grew("oms_http_requests_total", **checkout) == 1
    assert grew("oms_http_request_duration_seconds_count", **checkout) == 1
    assert grew("oms_saga_duration_seconds_count", outcome="processing") == 1
    assert grew("oms_events_published_total", module="orders", type="order.created", result="ok")
    for module, event_type in [
        ("products", "order.created"),
        ("orders", "inventory.reserved"),
        ("payments", "order.confirmed"),
        ("orders", "payment.completed"),
    ]:
        assert grew("oms_events_handled_total", module=module, type=event_type, result="ok") == 1
    # no endpoint subscribes: webhooks lets the event go by without a transaction
    unwanted = {"module": "webhooks", "type": "order.created", "result": "unwanted"}
    assert grew("oms_events_handled_total", **unwanted) == 1
    modules = ("users", "products", "orders", "payments")

    def outboxes_empty() -> dict | None:
        now = scrape(ops)
        return now if all(sample(now, "oms_outbox_rows", module=m) == 0 for m in modules) else None

    # delivered events' outbox rows are forgotten in batches, a fraction of a second later
    after = wait_until(outboxes_empty, 2.0, what="the outboxes emptied")
    for module in modules:
        assert ("oms_outbox_rows", frozenset({("module", module)})) in after
        assert sample(after, "oms_outbox_rows", module=module) == 0
        assert sample(after, "oms_dead_letters", module=module) == 0
    assert sample(after, "oms_stock_holds", state="reserved") >= 1
    assert sample(after, "oms_orders", status="processing") >= 1
    assert sample(after, "oms_database_gauges_up") == 1


def test_declined_and_insufficient_checkouts_are_counted_by_outcome(
    shop: Shop, ops: FlaskClient
) -> None:
    product = shop.add_product(stock=1)["productId"]
    customer = shop.register()
    before = scrape(ops)

    assert shop.checkout(customer, [(product, 1)], payment_method=DECLINED).status_code == 402
    assert shop.checkout(customer, [(product, 5)]).status_code == 409

    after = scrape(ops)
    for outcome in ("declined", "insufficient"):
        grown = sample(after, "oms_checkouts_total", outcome=outcome)
        assert grown - sample(before, "oms_checkouts_total", outcome=outcome) == 1
    assert sample(after, "oms_saga_duration_seconds_count", outcome="cancelled") >= 2


def test_events_stuck_in_an_outbox_show_as_rows_and_age_and_the_checkout_as_pending(
    shop: Shop, ops: FlaskClient, monkeypatch
) -> None:
    product = shop.add_product(stock=3)["productId"]
    customer = shop.register()
    before = scrape(ops)

    def broker_down(event: Event) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(shop.runtime.bus.transport, "publish", broker_down)
    response = shop.checkout(customer, [(product, 1)])

    assert response.status_code == 202
    after = scrape(ops)
    assert sample(after, "oms_outbox_rows", module="orders") == 1
    assert sample(after, "oms_outbox_oldest_age_seconds", module="orders") > 0
    assert (
        sample(after, "oms_checkouts_total", outcome="pending")
        - sample(before, "oms_checkouts_total", outcome="pending")
        == 1
    )
    failed = {"module": "orders", "type": "order.created", "result": "error"}
    assert sample(after, "oms_events_published_total", **failed) >= 1


def test_a_consumer_that_keeps_failing_counts_retries_and_a_dead_letter(
    shop: Shop, ops: FlaskClient
) -> None:
    probe = FailingConsumer(shop.runtime, ["order.shipped"])
    before = scrape(ops)
    event = Event(type="order.shipped", source="oms/orders", data={"orderId": _uuid()})

    shop.runtime.bus.transport.publish(event)
    probe.retry_until_dead()

    after = scrape(ops)
    attempts = shop.runtime.settings.max_delivery_attempts
    assert probe.calls == attempts
    retried = {"module": "users", "type": "order.shipped"}
    assert (
        sample(after, "oms_event_retries_total", **retried)
        - sample(before, "oms_event_retries_total", **retried)
        == attempts - 1
    )
    assert (
        sample(after, "oms_events_dead_lettered_total", module="users")
        - sample(before, "oms_events_dead_lettered_total", module="users")
        == 1
    )
    assert sample(after, "oms_dead_letters", module="users") == 1


def test_unknown_paths_share_one_route_label(shop: Shop, ops: FlaskClient) -> None:
    shop.web.get(f"/no/such/{_uuid()}")
    samples = scrape(ops)
    routes = {
        dict(labels).get("route") for name, labels in samples if name == "oms_http_requests_total"
    }
    assert "unmatched" in routes
    assert not any(route and route.startswith("/no/such") for route in routes)


def test_the_dashboard_and_alert_rules_use_only_metrics_oms_exports(
    shop: Shop, ops: FlaskClient
) -> None:
    # Traffic first, so that every labelled series exists at least once.
    product = shop.add_product(stock=3)["productId"]
    shop.checkout(shop.register(), [(product, 1)])
    probe = FailingConsumer(shop.runtime, ["order.shipped"])
    shop.runtime.bus.transport.publish(
        Event(type="order.shipped", source="oms/orders", data={"orderId": _uuid()})
    )
    probe.retry_until_dead()
    exported = {name for name, _labels in scrape(ops)}

    dashboard = json.loads(DASHBOARD.read_text())
    rules = yaml.safe_load(ALERTS.read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {"OmsStuckOrders", "OmsDeadLetters", "OmsOutboxBacklogAging", "OmsHigh5xxRate"} <= {
        rule["alert"] for rule in alerts
    }
    expressions += [rule["expr"] for rule in alerts]
    referenced = {name for expr in expressions for name in re.findall(r"\boms_[a-z0-9_]+", expr)}
    assert referenced, "the dashboard and alerts query OMS's metrics"
    assert referenced <= exported, sorted(referenced - exported)
    assert dashboard["title"] and dashboard["panels"]


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())
