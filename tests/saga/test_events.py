"""The events OMS publishes: CloudEvents envelopes, catalogue payloads, and the saga's order."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from datetime import datetime, timedelta

import pytest

from oms.bus import Event
from oms.bus.catalogue import CATALOGUE
from tests.support import DECLINED, PASSWORD, Customer, Shop

SAGA = ["order.created", "inventory.reserved", "order.confirmed"]
MONEY_FIELDS = {"price", "unitPrice", "totalAmount", "amount"}
TWO_DECIMALS = re.compile(r"^\d+\.\d{2}$")


@pytest.fixture
def recorded(shop: Shop) -> list[Event]:
    """Every catalogued event the in-memory bus carries from now on."""
    events: list[Event] = []
    shop.runtime.bus.transport.bind("recorder", list(CATALOGUE), events.append)
    return events


def of_type(recorded: list[Event], event_type: str) -> list[Event]:
    return [event for event in recorded if event.type == event_type]


def of_order(recorded: list[Event], order_id: str) -> list[Event]:
    """The order's events in the order they were published.

    The in-memory bus delivers depth-first in the publishing thread, so a consumer
    bound after the modules sees nested events first; the publish time orders them.
    """
    mine = [event for event in recorded if event.data.get("orderId") == order_id]
    return sorted(mine, key=lambda event: datetime.fromisoformat(event.time))


def types(events: list[Event]) -> list[str]:
    return [event.type for event in events]


def assert_cloudevent(event: Event, source: str) -> None:
    envelope = json.loads(event.to_json())
    assert envelope["specversion"] == "1.0"
    assert str(uuid.UUID(envelope["id"])) == envelope["id"]
    assert envelope["source"] == source
    assert envelope["type"] in CATALOGUE
    assert envelope["datacontenttype"] == "application/json"
    assert datetime.fromisoformat(envelope["time"]).utcoffset() == timedelta(0)
    assert isinstance(envelope["correlationid"], str)
    assert envelope["correlationid"]
    assert isinstance(envelope["data"], dict)


def money_values(data: object) -> list[object]:
    """Every money field anywhere in an event's data."""
    if isinstance(data, list):
        return [value for item in data for value in money_values(item)]
    if not isinstance(data, dict):
        return []
    found = [value for key, value in data.items() if key in MONEY_FIELDS]
    return found + [value for value in data.values() for value in money_values(value)]


def paid_order(shop: Shop, customer: Customer, product: dict, quantity: int = 1) -> str:
    response = shop.checkout(customer, [(product["productId"], quantity)])
    assert response.status_code == 201, response.json
    return response.json["orderId"]


def payment_snapshot(shop: Shop, order_id: str) -> list[dict]:
    response = shop.clients["payments"].get(
        f"/api/v1/payments/order/{order_id}", headers=shop.admin.headers
    )
    assert response.status_code == 200, response.json
    return response.json


def timeline(shop: Shop, customer: Customer, order_id: str) -> list[tuple[str, str, str]]:
    events = shop.order(customer, order_id)["events"]
    return [(entry["type"], entry["status"], entry["cause"]) for entry in events]


# --- users and products -----------------------------------------------------------------------


def test_registering_publishes_user_created(shop: Shop, recorded: list[Event]) -> None:
    response = shop.web.post(
        "/api/v1/auth/register",
        json={
            "email": "Marie@Example.com",
            "password": PASSWORD,
            "firstName": "Marie",
            "lastName": "Curie",
        },
    )
    user_id = response.json["userId"]

    [event] = of_type(recorded, "user.created")
    assert_cloudevent(event, "oms/users")
    assert event.data == {
        "userId": user_id,
        "email": "marie@example.com",
        "firstName": "Marie",
        "lastName": "Curie",
    }


def test_creating_a_product_publishes_product_created(shop: Shop, recorded: list[Event]) -> None:
    product = shop.add_product(price=49.9, stock=3, name="Kettle")

    [event] = of_type(recorded, "product.created")
    assert_cloudevent(event, "oms/products")
    assert event.data == {
        "productId": product["productId"],
        "name": "Kettle",
        "sku": product["sku"],
        "price": "49.90",
    }


def test_updating_a_product_publishes_only_the_changed_fields(
    shop: Shop, recorded: list[Event]
) -> None:
    product = shop.add_product(price="10.00", name="Kettle")
    url = f"/api/v1/products/{product['productId']}"

    changed = shop.web.patch(
        url, json={"name": "Kettle", "price": 12.5}, headers=shop.admin.headers
    )
    unchanged = shop.web.patch(url, json={"name": "Kettle"}, headers=shop.admin.headers)

    assert changed.status_code == 200
    assert unchanged.status_code == 200
    [event] = of_type(recorded, "product.updated")
    assert_cloudevent(event, "oms/products")
    assert event.data == {"productId": product["productId"], "price": "12.50"}


# --- the order saga ---------------------------------------------------------------------------


def test_paid_checkout_publishes_the_saga_in_order_under_the_order_id(
    shop: Shop, recorded: list[Event]
) -> None:
    customer = shop.register()
    widget = shop.add_product(price="19.99", stock=5)

    order_id = paid_order(shop, customer, widget, quantity=2)

    saga = of_order(recorded, order_id)
    assert types(saga) == [*SAGA, "payment.completed"]
    assert [event.correlationid for event in saga] == [order_id] * 4
    assert [event.source for event in saga] == [
        "oms/orders",
        "oms/products",
        "oms/orders",
        "oms/payments",
    ]
    created, reserved, confirmed, completed = saga
    item = {"productId": widget["productId"], "quantity": 2}
    assert created.data["userId"] == customer.user_id
    assert created.data["items"] == [{**item, "unitPrice": "19.99"}]
    assert (created.data["totalAmount"], created.data["currency"]) == ("39.98", "USD")
    assert created.data["paymentMethod"]["type"] == "card"
    assert reserved.data["items"] == [item]
    assert (confirmed.data["userId"], confirmed.data["totalAmount"]) == (customer.user_id, "39.98")
    [payment] = payment_snapshot(shop, order_id)
    assert completed.data == {
        "orderId": order_id,
        "paymentId": payment["paymentId"],
        "amount": "39.98",
    }


def test_declined_checkout_publishes_payment_failed_then_order_cancelled(
    shop: Shop, recorded: list[Event]
) -> None:
    customer = shop.register()
    widget = shop.add_product(stock=5)

    response = shop.checkout(customer, [(widget["productId"], 3)], payment_method=DECLINED)
    order_id = response.json["orderId"]

    saga = of_order(recorded, order_id)
    assert types(saga) == [*SAGA, "payment.failed", "order.cancelled"]
    assert {event.correlationid for event in saga} == {order_id}
    failed, cancelled = saga[-2:]
    assert failed.data["reason"] == "card_declined"
    assert cancelled.data["items"] == [{"productId": widget["productId"], "quantity": 3}]
    assert cancelled.data["reason"] == "payment_declined"


def test_checkout_without_stock_publishes_inventory_insufficient_then_order_cancelled(
    shop: Shop, recorded: list[Event]
) -> None:
    customer = shop.register()
    scarce = shop.add_product(stock=1)

    response = shop.checkout(customer, [(scarce["productId"], 2)])
    order_id = response.json["orderId"]

    saga = of_order(recorded, order_id)
    assert types(saga) == ["order.created", "inventory.insufficient", "order.cancelled"]
    assert {event.correlationid for event in saga} == {order_id}
    shortage = {"productId": scarce["productId"], "requested": 2, "available": 1}
    assert saga[1].data["shortages"] == [shortage]
    assert saga[2].data["reason"] == "insufficient_inventory"
    assert of_type(recorded, "payment.completed") == []
    assert of_type(recorded, "payment.failed") == []


def test_customer_cancel_publishes_order_cancelled_then_refund_created(
    shop: Shop, recorded: list[Event]
) -> None:
    customer = shop.register()
    widget = shop.add_product(price="7.25", stock=5)
    order_id = paid_order(shop, customer, widget, quantity=2)
    before = len(recorded)

    response = shop.web.post(f"/api/v1/orders/{order_id}/cancel", headers=customer.headers)

    assert response.status_code == 200
    after_cancel = of_order(recorded[before:], order_id)
    assert types(after_cancel) == ["order.cancelled", "refund.created"]
    assert {event.correlationid for event in after_cancel} == {order_id}
    cancelled, refunded = after_cancel
    assert cancelled.data["reason"] == "customer_request"
    [payment] = payment_snapshot(shop, order_id)
    assert refunded.data == {
        "orderId": order_id,
        "paymentId": payment["paymentId"],
        "refundId": payment["refunds"][0]["refundId"],
        "amount": "14.50",
    }


def test_shipping_publishes_order_shipped(shop: Shop, recorded: list[Event]) -> None:
    customer = shop.register()
    widget = shop.add_product(stock=5)
    order_id = paid_order(shop, customer, widget)

    response = shop.web.post(f"/api/v1/orders/{order_id}/ship", headers=shop.admin.headers)

    assert response.status_code == 200
    [event] = of_type(recorded, "order.shipped")
    assert_cloudevent(event, "oms/orders")
    assert event.correlationid == order_id
    assert event.data == {"orderId": order_id}


def test_every_published_event_is_a_cloudevent_with_a_catalogue_payload(
    shop: Shop, recorded: list[Event]
) -> None:
    customer = shop.register()
    shop.web.patch("/api/v1/users/me", json={"lastName": "King"}, headers=customer.headers)
    widget = shop.add_product(price="3.10", stock=10)
    shop.web.patch(
        f"/api/v1/products/{widget['productId']}",
        json={"price": "3.20"},
        headers=shop.admin.headers,
    )
    shipped = paid_order(shop, customer, widget)
    shop.web.post(f"/api/v1/orders/{shipped}/ship", headers=shop.admin.headers)
    cancelled = paid_order(shop, customer, widget)
    shop.web.post(f"/api/v1/orders/{cancelled}/cancel", headers=customer.headers)
    shop.checkout(customer, [(widget["productId"], 1)], payment_method=DECLINED)
    shop.checkout(customer, [(widget["productId"], 500)])

    assert set(types(recorded)) == set(CATALOGUE)
    for event in recorded:
        CATALOGUE[event.type].check(event.data)
        assert_cloudevent(event, f"oms/{CATALOGUE[event.type].publisher}")
        for amount in money_values(event.data):
            assert isinstance(amount, str), (event.type, amount)
            assert TWO_DECIMALS.match(amount), (event.type, amount)
    assert len({event.id for event in recorded}) == len(recorded)
    assert shop.runtime.bus.dead_letters.entries(include_waiting=True) == []


# --- duplicate delivery -----------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["order.created", "order.confirmed"])
@pytest.mark.parametrize("same_id", [True, False], ids=["redelivered", "copied-under-a-new-id"])
def test_a_saga_event_seen_again_has_no_second_effect(
    shop: Shop, recorded: list[Event], event_type: str, same_id: bool
) -> None:
    customer = shop.register()
    widget = shop.add_product(price="6.00", stock=5)
    order_id = paid_order(shop, customer, widget, quantity=2)
    [event] = [e for e in of_order(recorded, order_id) if e.type == event_type]
    again = event if same_id else dataclasses.replace(event, id=str(uuid.uuid4()))
    before = (shop.stock_of(widget["productId"]), payment_snapshot(shop, order_id))
    history = timeline(shop, customer, order_id)
    published = len(recorded)

    shop.runtime.bus.transport.publish(again)

    assert (shop.stock_of(widget["productId"]), payment_snapshot(shop, order_id)) == before
    assert timeline(shop, customer, order_id) == history
    assert shop.order(customer, order_id)["status"] == "processing"
    assert recorded[published:] == [again]  # nothing but the event itself went by
    assert shop.runtime.bus.dead_letters.entries(include_waiting=True) == []


def test_redelivered_order_cancelled_releases_stock_and_refunds_only_once(
    shop: Shop, recorded: list[Event]
) -> None:
    customer = shop.register()
    widget = shop.add_product(price="6.00", stock=5)
    order_id = paid_order(shop, customer, widget, quantity=2)
    shop.web.post(f"/api/v1/orders/{order_id}/cancel", headers=customer.headers)
    [cancelled] = of_type(recorded, "order.cancelled")
    history = timeline(shop, customer, order_id)
    published = len(recorded)

    shop.runtime.bus.transport.publish(cancelled)

    assert shop.stock_of(widget["productId"]) == 5
    [payment] = payment_snapshot(shop, order_id)
    assert [refund["amount"] for refund in payment["refunds"]] == ["12.00"]
    assert timeline(shop, customer, order_id) == history
    assert recorded[published:] == [cancelled]
