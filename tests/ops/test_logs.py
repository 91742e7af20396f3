"""Log lines: request ids, event context and trace context, in JSON or text."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from oms import users
from oms.bus import Event, events
from oms.telemetry.context import parse_traceparent, request_id_from
from oms.telemetry.logs import OmsFormatter
from tests.ops.conftest import retry_until_dead
from tests.support import Shop

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged at INFO and above while the test runs, in OMS's JSON format."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OmsFormatter("json"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def parsed(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("probe-1", True), ("A.b_c-9" * 18, True), ("has spaces", False), ("x" * 129, False)],
)
def test_a_valid_request_id_is_kept_and_an_invalid_one_replaced(
    shop: Shop, sent: str, kept: bool
) -> None:
    response = shop.web.get("/healthz", headers={"X-Request-ID": sent})

    echoed = response.headers["X-Request-ID"]
    assert (echoed == sent) is kept
    assert 1 <= len(echoed) <= 128


def test_every_answer_carries_a_request_id_errors_included(shop: Shop) -> None:
    answers = [
        shop.web.get("/healthz"),
        shop.web.get("/api/v1/users/me"),  # 401
        shop.web.post("/api/v1/auth/login", data="{", content_type="application/json"),  # 400
        shop.clients["orders"].get("/no/such/route"),  # 404
    ]
    ids = [answer.headers.get("X-Request-ID") for answer in answers]
    assert all(ids) and len(set(ids)) == len(ids)


def test_a_checkouts_lines_carry_its_request_id_and_each_events_context(
    shop: Shop, json_lines: io.StringIO
) -> None:
    product = shop.add_product(stock=2)["productId"]
    customer = shop.register()
    headers = {**customer.headers, "X-Request-ID": "probe-1", "traceparent": TRACEPARENT}
    body = {
        "items": [{"productId": product, "quantity": 1}],
        "shippingAddress": {"line1": "1 Main", "city": "X", "postalCode": "1", "country": "US"},
        "paymentMethod": {"type": "card", "token": "tok_visa"},
    }

    response = shop.web.post("/api/v1/checkout", json=body, headers=headers)

    assert response.headers["X-Request-ID"] == "probe-1"
    order_id = response.json["orderId"]
    lines = parsed(json_lines)
    answered = [line for line in lines if line["message"] == "checkout answered 201"]
    assert answered and answered[0]["request_id"] == "probe-1"
    assert answered[0]["order_id"] == order_id
    # this checkout's events (webhooks also took the sign-up and the new product)
    handled = [
        line for line in lines if line.get("event_type") and line.get("request_id") == "probe-1"
    ]
    assert {line["message"] for line in handled} >= {
        "products handled order.created",
        "orders handled inventory.reserved",
        "payments handled order.confirmed",
        "orders handled payment.completed",
    }
    for line in handled:
        assert line["correlation_id"] == order_id
        assert line["event_id"]
        assert line["request_id"] == "probe-1"  # in memory the saga runs inside the request
        assert line["traceparent"].split("-")[1] == TRACE_ID


def test_events_carry_the_requests_trace_context(shop: Shop) -> None:
    seen: list[Event] = []
    shop.runtime.bus.transport.bind("probe", ["order.created", "order.confirmed"], seen.append)
    product = shop.add_product(stock=2)["productId"]
    customer = shop.register()
    headers = {**customer.headers, "traceparent": TRACEPARENT}
    body = {
        "items": [{"productId": product, "quantity": 1}],
        "shippingAddress": {"line1": "1 Main", "city": "X", "postalCode": "1", "country": "US"},
        "paymentMethod": {"type": "card", "token": "tok_visa"},
    }

    shop.web.post("/api/v1/checkout", json=body, headers=headers)

    assert sorted(event.type for event in seen) == ["order.confirmed", "order.created"]
    for event in seen:
        assert parse_traceparent(event.traceparent) == event.traceparent
        assert event.traceparent.split("-")[1] == TRACE_ID
        assert json.loads(event.to_json())["traceparent"] == event.traceparent
    assert len({event.traceparent for event in seen}) == 2  # one span each, one trace


def test_a_handler_failure_is_logged_with_the_event_it_failed_on(
    shop: Shop, json_lines: io.StringIO
) -> None:
    def failing(event: Event, uow: object) -> None:
        raise RuntimeError("boom")

    shop.runtime.bus.subscribe(users.MESSAGES, {events.ORDER_SHIPPED: failing})
    event = Event(
        type="order.shipped",
        source="oms/orders",
        data={"orderId": str(uuid.uuid4())},
        correlationid="order-42",
    )
    shop.runtime.bus.transport.publish(event)
    retry_until_dead(shop.runtime)

    lines = parsed(json_lines)
    attempts = shop.runtime.settings.max_delivery_attempts
    failures = [line for line in lines if line["message"].startswith("users failed")]
    assert len(failures) == attempts
    # the transport's own lines about each failed try and the dead letter name it too
    failures += [
        line
        for line in lines
        if line["message"].startswith(("consumer users failed", "dead-lettered for users"))
    ]
    assert len(failures) == 2 * attempts + 1
    for line in failures:
        assert (line["event_id"], line["event_type"], line["correlation_id"]) == (
            event.id,
            "order.shipped",
            "order-42",
        )


def test_text_lines_read_well_and_json_lines_parse() -> None:
    record = logging.makeLogRecord(
        {"name": "oms.x", "levelname": "INFO", "levelno": 20, "msg": "hello %s", "args": ("you",)}
    )
    text = OmsFormatter("text").format(record)
    assert "INFO" in text and "oms.x: hello you" in text
    assert json.loads(OmsFormatter("json").format(record))["message"] == "hello you"


def test_gunicorns_access_line_becomes_oms_fields() -> None:
    atoms = {
        "m": "POST",
        "U": "/api/v1/checkout",
        "s": "201",
        "D": 12345,
        "h": "127.0.0.1",
        "{oms.request_id}e": "probe-1",
        "{oms.route}e": "/api/v1/checkout",
        "{oms.port}e": "web",
    }
    record = logging.makeLogRecord(
        {"name": "gunicorn.access", "levelname": "INFO", "msg": "%(h)s", "args": ()}
    )
    record.args = atoms
    line = json.loads(OmsFormatter("json").format(record))
    assert line["request_id"] == "probe-1"
    assert (line["method"], line["route"], line["status"], line["port"]) == (
        "POST",
        "/api/v1/checkout",
        201,
        "web",
    )
    assert line["duration_ms"] == 12.345


def test_trace_and_request_ids_are_checked() -> None:
    assert parse_traceparent(TRACEPARENT) == TRACEPARENT
    assert parse_traceparent("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert parse_traceparent("garbage") is None
    assert request_id_from(None) != request_id_from(None)
