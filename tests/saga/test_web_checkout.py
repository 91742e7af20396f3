"""The order saga through the web BFF, every path, on the in-memory bus."""

from __future__ import annotations

from tests.support import DECLINED, Shop


def test_paid_checkout_is_processing_with_server_side_total(saga_shop: Shop) -> None:
    shop = saga_shop
    customer = shop.register()
    widget = shop.add_product(price="49.99", stock=5)
    gadget = shop.add_product(price="0.10", stock=5)

    response = shop.checkout(customer, [(widget["productId"], 2), (gadget["productId"], 3)])

    assert response.status_code == 201
    assert response.json["status"] == "processing"
    assert response.json["totalAmount"] == "100.28"
    assert shop.stock_of(widget["productId"]) == 3
    assert shop.stock_of(gadget["productId"]) == 2
    timeline = [
        entry["status"] for entry in shop.order(customer, response.json["orderId"])["events"]
    ]
    assert timeline == ["pending", "confirmed", "processing"]


def test_checkout_without_enough_stock_is_cancelled_and_holds_nothing(saga_shop: Shop) -> None:
    shop = saga_shop
    customer = shop.register()
    plenty = shop.add_product(stock=10)
    scarce = shop.add_product(stock=1)

    response = shop.checkout(customer, [(plenty["productId"], 2), (scarce["productId"], 2)])

    assert response.status_code == 409
    assert response.json["error"] == "Insufficient inventory"
    assert response.json["status"] == "cancelled"
    assert shop.stock_of(plenty["productId"]) == 10
    assert shop.stock_of(scarce["productId"]) == 1
    order = shop.order(customer, response.json["orderId"])
    assert [entry["cause"] for entry in order["events"]] == ["checkout", "inventory.insufficient"]


def test_checkout_with_declined_card_releases_stock(saga_shop: Shop) -> None:
    shop = saga_shop
    customer = shop.register()
    widget = shop.add_product(stock=4)

    response = shop.checkout(customer, [(widget["productId"], 3)], payment_method=DECLINED)

    assert response.status_code == 402
    assert response.json["error"] == "Payment declined"
    assert response.json["status"] == "cancelled"
    assert shop.stock_of(widget["productId"]) == 4
    details = shop.details(customer, response.json["orderId"])
    assert [p["status"] for p in details["payments"]] == ["failed"]
    assert [e["status"] for e in details["order"]["events"]] == [
        "pending",
        "confirmed",
        "cancelled",
    ]


def test_customer_cancel_after_payment_releases_stock_and_refunds(saga_shop: Shop) -> None:
    shop = saga_shop
    customer = shop.register()
    widget = shop.add_product(price="20.00", stock=5)
    order_id = shop.checkout(customer, [(widget["productId"], 2)]).json["orderId"]

    response = shop.web.post(f"/api/v1/orders/{order_id}/cancel", headers=customer.headers)

    assert response.status_code == 200
    assert response.json["status"] == "cancelled"
    assert shop.stock_of(widget["productId"]) == 5
    details = shop.details(customer, order_id)
    payment = details["payments"][0]
    assert payment["status"] == "refunded"
    assert [refund["amount"] for refund in payment["refunds"]] == ["40.00"]
    assert [e["type"] for e in details["order"]["events"]][-2:] == [
        "order.cancelled",
        "refund.created",
    ]


def test_admin_ships_a_paid_order_and_it_can_no_longer_be_cancelled(saga_shop: Shop) -> None:
    shop = saga_shop
    customer = shop.register()
    widget = shop.add_product(stock=5)
    order_id = shop.checkout(customer, [(widget["productId"], 1)]).json["orderId"]

    shipped = shop.web.post(f"/api/v1/orders/{order_id}/ship", headers=shop.admin.headers)
    cancel = shop.web.post(f"/api/v1/orders/{order_id}/cancel", headers=customer.headers)

    assert shipped.status_code == 200
    assert shipped.json["status"] == "shipped"
    assert cancel.status_code == 409
    assert shop.order(customer, order_id)["status"] == "shipped"
    assert shop.stock_of(widget["productId"]) == 4
