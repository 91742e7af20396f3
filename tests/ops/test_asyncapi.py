"""GET /asyncapi.json: the event catalogue as AsyncAPI 3.0, valid by the spec's own schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
from flask.testing import FlaskClient

from oms.bus.catalogue import CATALOGUE

ASYNCAPI_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "asyncapi-3.0.0-without-id.json"


def test_the_document_is_valid_asyncapi_3(ops: FlaskClient) -> None:
    response = ops.get("/asyncapi.json")

    assert response.status_code == 200
    document = response.json
    validator = jsonschema_rs.validator_for(json.loads(ASYNCAPI_SCHEMA.read_text()))
    errors = [
        f"{error.instance_path}: {error.message}" for error in validator.iter_errors(document)
    ]
    assert errors == []
    assert document["asyncapi"] == "3.0.0"


def test_every_catalogued_event_is_there_with_its_publisher_exchange_and_consumers(
    ops: FlaskClient,
) -> None:
    document = ops.get("/asyncapi.json").json

    assert set(document["channels"]) == set(CATALOGUE)
    assert set(document["components"]["messages"]) == set(CATALOGUE)
    for name, event_type in CATALOGUE.items():
        channel = document["channels"][name]
        message = document["components"]["messages"][name]
        assert channel["address"] == name
        assert channel["bindings"]["amqp"]["exchange"]["name"] == event_type.publisher
        assert message["x-oms-version"] == event_type.version
        assert message["x-oms-publisher"] == event_type.publisher
        assert message["x-oms-routing-key"] == name
        data = message["payload"]["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
        assert data in document["components"]["schemas"]
        assert document["operations"][f"{event_type.publisher}.send.{name}"]["action"] == "send"
    created = document["components"]["messages"]["order.created"]
    assert created["x-oms-consumers"] == ["products", "webhooks"]
    assert "products.receive.order.created" in document["operations"]
    assert document["components"]["messages"]["user.created"]["x-oms-consumers"] == ["webhooks"]
    order_created = document["components"]["schemas"]["OrderCreated"]
    assert {"orderId", "items", "totalAmount", "paymentMethod"} <= set(order_created["required"])


def test_the_readable_page_lists_every_event(ops: FlaskClient) -> None:
    response = ops.get("/asyncapi")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for name in CATALOGUE:
        assert f'id="event-{name}"' in page
