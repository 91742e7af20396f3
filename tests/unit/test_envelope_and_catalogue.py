"""The CloudEvents envelope and the event catalogue every module reads payloads through."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from oms.bus import Event, MalformedEvent, events
from oms.bus.catalogue import CATALOGUE, event_type_of

MODULES = {"users", "products", "orders", "payments"}


def _new_id() -> str:
    return str(uuid.uuid4())


def _envelope(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "specversion": "1.0",
        "id": _new_id(),
        "source": "oms/orders",
        "type": "order.shipped",
        "time": "2024-05-01T12:00:00+00:00",
        "datacontenttype": "application/json",
        "data": {"orderId": _new_id()},
    }
    document.update(changes)
    return document


def _product_created(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "productId": _new_id(),
        "name": "Widget",
        "sku": "SKU-1",
        "price": "49.99",
    }
    data.update(changes)
    return data


# The envelope


def test_event_round_trips_through_json_with_every_cloudevents_attribute() -> None:
    event = Event(
        type="order.shipped",
        source="oms/orders",
        data={"orderId": _new_id(), "nested": {"list": [1, "two"]}},
        correlationid=_new_id(),
        dataschema="urn:oms:events:order.shipped:v1",
    )

    copy = Event.from_json(event.to_json())

    assert copy == event
    for attribute in (
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "datacontenttype",
        "dataschema",
        "correlationid",
        "data",
    ):
        assert getattr(copy, attribute) == getattr(event, attribute)


def test_event_json_is_cloudevents_structured_mode() -> None:
    event = Event(type="order.shipped", source="oms/orders", data={"orderId": _new_id()})

    document = json.loads(event.to_json())

    assert document["specversion"] == "1.0"
    assert document["datacontenttype"] == "application/json"
    assert uuid.UUID(document["id"])
    assert document["time"].endswith("+00:00")  # UTC


def test_from_json_reads_bytes_as_a_broker_delivers_them() -> None:
    event = Event(type="order.shipped", source="oms/orders", data={"orderId": _new_id()})

    assert Event.from_json(event.to_json().encode()) == event


def test_from_json_ignores_unknown_extension_attributes() -> None:
    event = Event.from_json(json.dumps(_envelope(traceparent="00-abc-def-01")))

    assert event.type == "order.shipped"


@pytest.mark.parametrize("raw", ["not json", "{", "", b"\xff\xfe", None])
def test_from_json_rejects_what_is_not_json(raw: Any) -> None:
    with pytest.raises(MalformedEvent):
        Event.from_json(raw)


@pytest.mark.parametrize("document", [[], "a string", 42, None, [_envelope()]])
def test_from_json_rejects_json_that_is_not_an_object(document: Any) -> None:
    with pytest.raises(MalformedEvent, match="object"):
        Event.from_json(json.dumps(document))


@pytest.mark.parametrize("attribute", ["specversion", "id", "source", "type", "data"])
def test_from_json_rejects_an_event_missing_a_required_attribute(attribute: str) -> None:
    document = _envelope()
    del document[attribute]

    with pytest.raises(MalformedEvent, match=attribute):
        Event.from_json(json.dumps(document))


@pytest.mark.parametrize("version", ["0.3", "2.0", 1.0, None])
def test_from_json_rejects_another_specversion(version: Any) -> None:
    with pytest.raises(MalformedEvent, match="specversion"):
        Event.from_json(json.dumps(_envelope(specversion=version)))


@pytest.mark.parametrize("data", [None, [], "text", 3, [{"orderId": "x"}]])
def test_from_json_rejects_data_that_is_not_an_object(data: Any) -> None:
    with pytest.raises(MalformedEvent, match="data"):
        Event.from_json(json.dumps(_envelope(data=data)))


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("id", None), ("id", ""), ("id", 7), ("source", ""), ("type", None), ("type", "")],
)
def test_from_json_rejects_id_source_or_type_that_is_not_a_non_empty_string(
    attribute: str, value: Any
) -> None:
    # CloudEvents 1.0: id, source and type are non-empty strings. An empty or null id
    # would make the inbox treat unrelated events as one and drop all but the first.
    with pytest.raises(MalformedEvent, match=attribute):
        Event.from_json(json.dumps(_envelope(**{attribute: value})))


# The catalogue


def test_a_valid_payload_passes_the_check() -> None:
    events.PRODUCT_CREATED.check(_product_created())


def test_a_valid_order_created_payload_passes_the_check() -> None:
    events.ORDER_CREATED.check(
        {
            "orderId": _new_id(),
            "userId": _new_id(),
            "items": [{"productId": _new_id(), "quantity": 2, "unitPrice": "10.00"}],
            "totalAmount": "20.00",
            "currency": "USD",
            "paymentMethod": {"type": "card", "token": "tok_visa"},
        }
    )


@pytest.mark.parametrize("field", ["productId", "name", "sku", "price"])
def test_a_payload_missing_a_required_field_is_malformed(field: str) -> None:
    data = _product_created()
    del data[field]

    with pytest.raises(MalformedEvent, match=field):
        events.PRODUCT_CREATED.check(data)


@pytest.mark.parametrize(
    "price", ["49.9", "49", "49.999", "4,99", "", "49.99 ", "49.99\n", 49.99, 50, None]
)
def test_a_money_field_that_is_not_a_two_decimal_string_is_malformed(price: Any) -> None:
    with pytest.raises(MalformedEvent, match="price"):
        events.PRODUCT_CREATED.check(_product_created(price=price))


def test_a_payload_whose_id_is_not_a_uuid_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="productId"):
        events.PRODUCT_CREATED.check(_product_created(productId="42"))


def test_unknown_extra_fields_are_tolerated_for_forward_compatibility() -> None:
    events.PRODUCT_CREATED.check(_product_created(colour="red", tags=["new"]))


def test_unknown_extra_fields_are_tolerated_in_nested_items() -> None:
    events.INVENTORY_RESERVED.check(
        {"orderId": _new_id(), "items": [{"productId": _new_id(), "quantity": 1, "bin": "A3"}]}
    )


def test_every_event_type_is_published_by_one_of_the_four_modules() -> None:
    assert CATALOGUE
    for name, event_type in CATALOGUE.items():
        assert event_type.name == name
        assert event_type.publisher in MODULES, name


def test_catalogue_names_the_contracts_publisher_of_each_event() -> None:
    publishers = {name: event_type.publisher for name, event_type in CATALOGUE.items()}

    assert publishers == {
        "user.created": "users",
        "user.updated": "users",
        "product.created": "products",
        "product.updated": "products",
        "order.created": "orders",
        "inventory.reserved": "products",
        "inventory.insufficient": "products",
        "order.confirmed": "orders",
        "payment.completed": "payments",
        "payment.failed": "payments",
        "order.cancelled": "orders",
        "order.shipped": "orders",
        "refund.created": "payments",
    }


def test_event_type_of_returns_the_catalogue_entry_after_checking_the_payload() -> None:
    event = Event(type="product.created", source="oms/products", data=_product_created())

    assert event_type_of(event) is events.PRODUCT_CREATED


def test_event_type_of_rejects_an_unknown_type() -> None:
    event = Event(type="order.teleported", source="oms/orders", data={"orderId": _new_id()})

    with pytest.raises(MalformedEvent, match=r"order\.teleported"):
        event_type_of(event)


def test_event_type_of_rejects_a_known_type_with_an_invalid_payload() -> None:
    event = Event(type="product.created", source="oms/products", data={"productId": _new_id()})

    with pytest.raises(MalformedEvent):
        event_type_of(event)
