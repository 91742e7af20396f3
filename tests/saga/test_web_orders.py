"""Checkout validation and idempotency, and the caller's orders, on the web BFF."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support import ADDRESS, DECLINED, VISA, Customer, Shop

CHECKOUT = "/api/v1/checkout"
ORDERS = "/api/v1/orders"


@pytest.fixture
def shop(saga_shop: Shop) -> Shop:
    """Every test here runs on both modes: SQLite + in-memory bus, PostgreSQL + RabbitMQ."""
    return saga_shop


def _order_count(shop: Shop, customer: Customer) -> int:
    response = shop.web.get(ORDERS, headers=customer.headers)
    assert response.status_code == 200, response.json
    return response.json["total"]


def _checkout_body(product_id: str, quantity: object = 1, **change: object) -> dict:
    return {
        "items": [{"productId": product_id, "quantity": quantity}],
        "shippingAddress": ADDRESS,
        "paymentMethod": VISA,
        **change,
    }


def _post_checkout(shop: Shop, customer: Customer, body: object, key: str | None = None):
    headers = dict(customer.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return shop.web.post(CHECKOUT, json=body, headers=headers)


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return {k.lower() for k in value} | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


# --- checkout: who may buy -----------------------------------------------------------------


def test_checkout_with_the_callers_own_user_id_is_accepted(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(price="5.00", stock=3)

    response = shop.checkout(customer, [(product["productId"], 1)], userId=customer.user_id)

    assert response.status_code == 201
    assert set(response.json) == {"orderId", "status", "totalAmount"}
    assert response.json["status"] == "processing"
    assert response.json["totalAmount"] == "5.00"
    assert shop.order(customer, response.json["orderId"])["userId"] == customer.user_id


def test_checkout_for_another_user_id_is_403_and_creates_nothing(shop: Shop) -> None:
    buyer, victim = shop.register(), shop.register()
    product = shop.add_product(stock=3)

    response = shop.checkout(buyer, [(product["productId"], 1)], userId=victim.user_id)

    assert response.status_code == 403
    assert response.json["code"] == 403
    assert shop.stock_of(product["productId"]) == 3
    assert _order_count(shop, buyer) == 0
    assert _order_count(shop, victim) == 0


def test_checkout_without_a_token_is_401_and_creates_nothing(shop: Shop) -> None:
    product = shop.add_product(stock=3)

    response = shop.web.post(CHECKOUT, json=_checkout_body(product["productId"]))

    assert response.status_code == 401
    assert shop.stock_of(product["productId"]) == 3


def test_checkout_with_a_user_id_that_is_not_a_uuid_is_422(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=3)

    response = _post_checkout(shop, customer, _checkout_body(product["productId"], userId="me"))

    assert response.status_code == 422
    assert "userId" in response.json["errors"]
    assert _order_count(shop, customer) == 0


# --- checkout: validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"items": []}, "items"),
        ({"items": None}, "items"),
        ({"items": "everything"}, "items"),
        ({"shippingAddress": {**ADDRESS, "country": "Narnia"}}, "shippingAddress"),
        ({"shippingAddress": "1 Main Street"}, "shippingAddress"),
        ({"paymentMethod": {"type": "card", "token": "4242424242424242"}}, "paymentMethod"),
        ({"paymentMethod": {"type": "paypal", "token": "tok_visa"}}, "paymentMethod"),
        ({"totalAmount": "0.01"}, "totalAmount"),
        ({"coupon": "FREE"}, "coupon"),
    ],
)
def test_invalid_checkout_is_422_and_leaves_stock_and_orders_unchanged(
    shop: Shop, change: dict, field: str
) -> None:
    customer = shop.register()
    product = shop.add_product(stock=3)

    response = _post_checkout(shop, customer, _checkout_body(product["productId"], **change))

    assert response.status_code == 422
    assert response.json["code"] == 422
    assert field in response.json["errors"]
    assert shop.stock_of(product["productId"]) == 3
    assert _order_count(shop, customer) == 0


@pytest.mark.parametrize("missing", ["items", "shippingAddress", "paymentMethod"])
def test_checkout_missing_a_required_part_is_422(shop: Shop, missing: str) -> None:
    customer = shop.register()
    product = shop.add_product(stock=3)
    body = _checkout_body(product["productId"])
    del body[missing]

    response = _post_checkout(shop, customer, body)

    assert response.status_code == 422
    assert response.json["errors"][missing] == ["Missing data for required field."]
    assert _order_count(shop, customer) == 0


@pytest.mark.parametrize("quantity", [0, -1, 1001, None, "two"])
def test_checkout_with_an_invalid_quantity_is_422(shop: Shop, quantity: object) -> None:
    customer = shop.register()
    product = shop.add_product(stock=3)

    response = _post_checkout(shop, customer, _checkout_body(product["productId"], quantity))

    assert response.status_code == 422
    assert "quantity" in response.json["errors"]["items"]["0"]
    assert shop.stock_of(product["productId"]) == 3
    assert _order_count(shop, customer) == 0


def test_checkout_with_a_fractional_quantity_is_422_not_truncated(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(price="10.00", stock=3)

    response = _post_checkout(shop, customer, _checkout_body(product["productId"], 1.5))

    assert response.status_code == 422
    assert "quantity" in response.json["errors"]["items"]["0"]
    assert shop.stock_of(product["productId"]) == 3
    assert _order_count(shop, customer) == 0


def test_checkout_item_with_a_client_price_is_422(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(price="10.00", stock=3)
    body = _checkout_body(product["productId"])
    body["items"][0]["unitPrice"] = "0.01"

    response = _post_checkout(shop, customer, body)

    assert response.status_code == 422
    assert response.json["errors"]["items"]["0"] == {"unitPrice": ["Unknown field."]}
    assert shop.stock_of(product["productId"]) == 3


def test_checkout_of_an_unknown_product_is_422_and_holds_nothing(shop: Shop) -> None:
    customer = shop.register()
    known = shop.add_product(stock=3)
    unknown = str(uuid.uuid4())
    body = _checkout_body(known["productId"])
    body["items"].append({"productId": unknown, "quantity": 1})

    response = _post_checkout(shop, customer, body)

    assert response.status_code == 422
    assert unknown in json.dumps(response.json["errors"])
    assert shop.stock_of(known["productId"]) == 3
    assert _order_count(shop, customer) == 0


def test_checkout_with_a_product_id_that_is_not_a_uuid_is_422(shop: Shop) -> None:
    customer = shop.register()

    response = _post_checkout(shop, customer, _checkout_body("widget"))

    assert response.status_code == 422
    assert "productId" in response.json["errors"]["items"]["0"]


def test_checkout_with_more_than_100_lines_is_422(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=500)
    body = _checkout_body(product["productId"])
    body["items"] = [{"productId": product["productId"], "quantity": 1}] * 101

    response = _post_checkout(shop, customer, body)

    assert response.status_code == 422
    assert "items" in response.json["errors"]
    assert shop.stock_of(product["productId"]) == 500


def test_checkout_merges_a_product_named_twice_into_one_line(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(price="2.50", stock=10)

    response = shop.checkout(customer, [(product["productId"], 1), (product["productId"], 2)])

    assert response.status_code == 201
    assert response.json["totalAmount"] == "7.50"
    order = shop.order(customer, response.json["orderId"])
    assert [(i["productId"], i["quantity"]) for i in order["items"]] == [(product["productId"], 3)]
    assert shop.stock_of(product["productId"]) == 7


# --- checkout: idempotency -----------------------------------------------------------------


def test_replayed_checkout_returns_the_same_order_and_creates_nothing(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(price="4.00", stock=5)

    first = shop.checkout(customer, [(product["productId"], 2)], idempotency_key="order-1")
    replay = shop.checkout(customer, [(product["productId"], 2)], idempotency_key="order-1")

    assert first.status_code == 201
    assert replay.status_code == 201
    assert replay.json == first.json
    assert shop.stock_of(product["productId"]) == 3
    assert _order_count(shop, customer) == 1
    assert len(shop.details(customer, first.json["orderId"])["payments"]) == 1


def test_replay_with_keys_in_another_order_is_the_same_request(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    body = _checkout_body(product["productId"], 2)
    reordered = dict(reversed(list(body.items())))

    first = _post_checkout(shop, customer, body, key="same")
    replay = _post_checkout(shop, customer, reordered, key="same")

    assert replay.status_code == first.status_code == 201
    assert replay.json["orderId"] == first.json["orderId"]
    assert shop.stock_of(product["productId"]) == 3
    assert _order_count(shop, customer) == 1


def test_same_idempotency_key_with_another_body_is_422_and_creates_nothing(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    first = shop.checkout(customer, [(product["productId"], 1)], idempotency_key="order-1")

    reused = shop.checkout(customer, [(product["productId"], 2)], idempotency_key="order-1")

    assert first.status_code == 201
    assert reused.status_code == 422
    assert reused.json["code"] == 422
    assert "orderId" not in reused.json
    assert shop.stock_of(product["productId"]) == 4
    assert _order_count(shop, customer) == 1


def test_replay_of_a_declined_checkout_is_the_same_402_without_charging_again(
    shop: Shop,
) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)

    first = shop.checkout(
        customer, [(product["productId"], 1)], payment_method=DECLINED, idempotency_key="k"
    )
    replay = shop.checkout(
        customer, [(product["productId"], 1)], payment_method=DECLINED, idempotency_key="k"
    )

    assert first.status_code == replay.status_code == 402
    assert replay.json == first.json
    assert _order_count(shop, customer) == 1
    assert len(shop.details(customer, first.json["orderId"])["payments"]) == 1
    assert shop.stock_of(product["productId"]) == 5


def test_replay_of_an_out_of_stock_checkout_is_the_same_409(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=1)

    first = shop.checkout(customer, [(product["productId"], 2)], idempotency_key="k")
    replay = shop.checkout(customer, [(product["productId"], 2)], idempotency_key="k")

    assert first.status_code == replay.status_code == 409
    assert replay.json == first.json
    assert _order_count(shop, customer) == 1
    assert shop.stock_of(product["productId"]) == 1


def test_replay_after_the_order_was_cancelled_still_returns_the_first_response(
    shop: Shop,
) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    first = shop.checkout(customer, [(product["productId"], 1)], idempotency_key="k")
    shop.web.post(f"{ORDERS}/{first.json['orderId']}/cancel", headers=customer.headers)

    replay = shop.checkout(customer, [(product["productId"], 1)], idempotency_key="k")

    assert replay.status_code == 201
    assert replay.json == first.json
    assert _order_count(shop, customer) == 1
    assert shop.stock_of(product["productId"]) == 5


def test_idempotency_keys_of_different_customers_do_not_collide(shop: Shop) -> None:
    alice, bob = shop.register(), shop.register()
    product = shop.add_product(stock=5)

    alices = shop.checkout(alice, [(product["productId"], 1)], idempotency_key="cart-1")
    bobs = shop.checkout(bob, [(product["productId"], 1)], idempotency_key="cart-1")

    assert alices.status_code == bobs.status_code == 201
    assert alices.json["orderId"] != bobs.json["orderId"]
    assert shop.stock_of(product["productId"]) == 3


def test_checkouts_without_an_idempotency_key_are_separate_orders(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)

    first = shop.checkout(customer, [(product["productId"], 1)])
    second = shop.checkout(customer, [(product["productId"], 1)])

    assert first.json["orderId"] != second.json["orderId"]
    assert _order_count(shop, customer) == 2
    assert shop.stock_of(product["productId"]) == 3


def test_idempotency_key_longer_than_255_characters_is_422(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)

    response = shop.checkout(customer, [(product["productId"], 1)], idempotency_key="k" * 256)

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["errors"]
    assert _order_count(shop, customer) == 0
    assert shop.stock_of(product["productId"]) == 5


# --- orders list and get -------------------------------------------------------------------


def test_orders_list_shows_the_callers_orders_newest_first(shop: Shop) -> None:
    customer, other = shop.register(), shop.register()
    product = shop.add_product(stock=10)
    placed = [shop.checkout(customer, [(product["productId"], 1)]).json["orderId"] for _ in "ab"]
    shop.checkout(other, [(product["productId"], 1)])

    response = shop.web.get(ORDERS, headers=customer.headers)

    assert response.status_code == 200
    assert set(response.json) == {"items", "page", "pageSize", "total"}
    assert response.json["total"] == 2
    assert [o["orderId"] for o in response.json["items"]] == placed[::-1]
    assert {o["userId"] for o in response.json["items"]} == {customer.user_id}


def test_orders_list_is_paginated(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=10)
    placed = [shop.checkout(customer, [(product["productId"], 1)]).json["orderId"] for _ in "abc"]

    first = shop.web.get(f"{ORDERS}?page=1&pageSize=2", headers=customer.headers)
    second = shop.web.get(f"{ORDERS}?page=2&pageSize=2", headers=customer.headers)

    assert (first.json["page"], first.json["pageSize"], first.json["total"]) == (1, 2, 3)
    assert (second.json["page"], second.json["pageSize"], second.json["total"]) == (2, 2, 3)
    listed = [o["orderId"] for o in first.json["items"] + second.json["items"]]
    assert listed == placed[::-1]


@pytest.mark.parametrize("query", ["pageSize=101", "pageSize=0", "page=0", "page=x"])
def test_orders_list_with_bad_paging_is_422(shop: Shop, query: str) -> None:
    customer = shop.register()

    response = shop.web.get(f"{ORDERS}?{query}", headers=customer.headers)

    assert response.status_code == 422
    assert response.json["errors"]


def test_orders_list_without_a_token_is_401(shop: Shop) -> None:
    assert shop.web.get(ORDERS).status_code == 401


def test_order_shows_items_amounts_currency_address_and_timeline(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(price="3.35", stock=10)
    order_id = shop.checkout(customer, [(product["productId"], 3)]).json["orderId"]

    response = shop.web.get(f"{ORDERS}/{order_id}", headers=customer.headers)

    assert response.status_code == 200
    order = response.json
    assert order["orderId"] == order_id
    assert order["userId"] == customer.user_id
    assert order["status"] == "processing"
    assert order["totalAmount"] == "10.05"
    assert order["currency"] == "USD"
    assert order["items"] == [
        {
            "productId": product["productId"],
            "quantity": 3,
            "unitPrice": "3.35",
            "lineTotal": "10.05",
        }
    ]
    assert order["shippingAddress"] == {**ADDRESS, "line2": None}
    assert [e["status"] for e in order["events"]] == ["pending", "confirmed", "processing"]
    assert all({"type", "status", "cause", "at"} <= set(e) for e in order["events"])
    assert "tok_visa" not in response.get_data(as_text=True)


def test_another_customers_order_is_404(shop: Shop) -> None:
    owner, stranger = shop.register(), shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(owner, [(product["productId"], 1)]).json["orderId"]

    response = shop.web.get(f"{ORDERS}/{order_id}", headers=stranger.headers)

    assert response.status_code == 404
    assert response.json["code"] == 404
    assert order_id not in response.get_data(as_text=True)


def test_unknown_order_is_404(shop: Shop) -> None:
    customer = shop.register()

    response = shop.web.get(f"{ORDERS}/{uuid.uuid4()}", headers=customer.headers)

    assert response.status_code == 404
    assert response.json["code"] == 404


def test_order_without_a_token_is_401(shop: Shop) -> None:
    assert shop.web.get(f"{ORDERS}/{uuid.uuid4()}").status_code == 401


# --- order details -------------------------------------------------------------------------


def test_order_details_for_the_owner_aggregate_order_user_products_and_payments(
    shop: Shop,
) -> None:
    customer = shop.register()
    widget = shop.add_product(price="2.00", stock=5)
    gadget = shop.add_product(price="3.00", stock=5)
    order_id = shop.checkout(customer, [(widget["productId"], 1), (gadget["productId"], 2)]).json[
        "orderId"
    ]

    response = shop.web.get(f"{ORDERS}/{order_id}/details", headers=customer.headers)

    assert response.status_code == 200
    details = response.json
    assert set(details) == {"order", "user", "products", "payments"}
    assert details["order"]["orderId"] == order_id
    assert [e["status"] for e in details["order"]["events"]] == [
        "pending",
        "confirmed",
        "processing",
    ]
    assert details["user"]["userId"] == customer.user_id
    assert details["user"]["email"] == customer.email
    assert sorted(p["productId"] for p in details["products"]) == sorted(
        [widget["productId"], gadget["productId"]]
    )
    assert all("price" in p and "available" in p["stock"] for p in details["products"])
    [payment] = details["payments"]
    assert payment["status"] == "completed"
    assert payment["amount"] == "8.00"
    assert payment["currency"] == "USD"
    assert payment["orderId"] == order_id


def test_order_details_never_show_a_password_hash_or_card_token(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(customer, [(product["productId"], 1)]).json["orderId"]

    response = shop.web.get(f"{ORDERS}/{order_id}/details", headers=customer.headers)

    assert response.status_code == 200
    assert not any("password" in key or "hash" in key for key in _keys(response.json))
    assert "token" not in _keys(response.json)
    text = response.get_data(as_text=True)
    assert "$2" not in text  # a bcrypt hash
    assert "tok_visa" not in text


def test_admin_sees_any_orders_details(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(customer, [(product["productId"], 1)]).json["orderId"]

    response = shop.web.get(f"{ORDERS}/{order_id}/details", headers=shop.admin.headers)

    assert response.status_code == 200
    assert response.json["order"]["orderId"] == order_id
    assert response.json["user"]["userId"] == customer.user_id
    assert not any("password" in key for key in _keys(response.json))


def test_another_customers_order_details_are_404(shop: Shop) -> None:
    owner, stranger = shop.register(), shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(owner, [(product["productId"], 1)]).json["orderId"]

    response = shop.web.get(f"{ORDERS}/{order_id}/details", headers=stranger.headers)

    assert response.status_code == 404
    assert owner.email not in response.get_data(as_text=True)


def test_details_of_an_unknown_order_are_404_even_for_an_admin(shop: Shop) -> None:
    response = shop.web.get(f"{ORDERS}/{uuid.uuid4()}/details", headers=shop.admin.headers)

    assert response.status_code == 404


def test_order_details_without_a_token_are_401(shop: Shop) -> None:
    assert shop.web.get(f"{ORDERS}/{uuid.uuid4()}/details").status_code == 401


# --- cancel --------------------------------------------------------------------------------


def test_another_customer_cannot_cancel_an_order_and_it_stays_as_it_was(shop: Shop) -> None:
    owner, stranger = shop.register(), shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(owner, [(product["productId"], 2)]).json["orderId"]

    response = shop.web.post(f"{ORDERS}/{order_id}/cancel", headers=stranger.headers)

    assert response.status_code == 404
    assert shop.order(owner, order_id)["status"] == "processing"
    assert shop.stock_of(product["productId"]) == 3


def test_admin_cannot_cancel_a_customers_order_through_the_owner_route(shop: Shop) -> None:
    owner = shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(owner, [(product["productId"], 2)]).json["orderId"]

    response = shop.web.post(f"{ORDERS}/{order_id}/cancel", headers=shop.admin.headers)

    assert response.status_code == 404
    assert shop.order(owner, order_id)["status"] == "processing"


def test_cancelling_twice_is_409_and_refunds_once(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(price="6.00", stock=5)
    order_id = shop.checkout(customer, [(product["productId"], 1)]).json["orderId"]
    first = shop.web.post(f"{ORDERS}/{order_id}/cancel", headers=customer.headers)

    second = shop.web.post(f"{ORDERS}/{order_id}/cancel", headers=customer.headers)

    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json["code"] == 409
    assert shop.stock_of(product["productId"]) == 5
    [payment] = shop.details(customer, order_id)["payments"]
    assert [r["amount"] for r in payment["refunds"]] == ["6.00"]


@pytest.mark.parametrize("outcome", ["declined", "out_of_stock"])
def test_cancelling_an_order_the_saga_already_cancelled_is_409(shop: Shop, outcome: str) -> None:
    customer = shop.register()
    product = shop.add_product(stock=1)
    if outcome == "declined":
        response = shop.checkout(customer, [(product["productId"], 1)], payment_method=DECLINED)
    else:
        response = shop.checkout(customer, [(product["productId"], 2)])
    order_id = response.json["orderId"]

    cancel = shop.web.post(f"{ORDERS}/{order_id}/cancel", headers=customer.headers)

    assert cancel.status_code == 409
    assert shop.order(customer, order_id)["status"] == "cancelled"
    assert shop.stock_of(product["productId"]) == 1


def test_cancelling_an_unknown_order_is_404(shop: Shop) -> None:
    customer = shop.register()

    response = shop.web.post(f"{ORDERS}/{uuid.uuid4()}/cancel", headers=customer.headers)

    assert response.status_code == 404


def test_cancelling_without_a_token_is_401(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(customer, [(product["productId"], 1)]).json["orderId"]

    response = shop.web.post(f"{ORDERS}/{order_id}/cancel")

    assert response.status_code == 401
    assert shop.order(customer, order_id)["status"] == "processing"


def test_cancelled_order_records_the_customer_as_cause(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(customer, [(product["productId"], 1)]).json["orderId"]

    response = shop.web.post(f"{ORDERS}/{order_id}/cancel", headers=customer.headers)

    assert response.status_code == 200
    cancelled = [e for e in response.json["events"] if e["type"] == "order.cancelled"]
    assert [(e["status"], e["cause"]) for e in cancelled] == [("cancelled", "customer")]


# --- ship ----------------------------------------------------------------------------------


def test_customer_cannot_ship_their_own_order(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(customer, [(product["productId"], 1)]).json["orderId"]

    response = shop.web.post(f"{ORDERS}/{order_id}/ship", headers=customer.headers)

    assert response.status_code == 403
    assert response.json["code"] == 403
    assert shop.order(customer, order_id)["status"] == "processing"


def test_shipping_without_a_token_is_401(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(customer, [(product["productId"], 1)]).json["orderId"]

    response = shop.web.post(f"{ORDERS}/{order_id}/ship")

    assert response.status_code == 401
    assert shop.order(customer, order_id)["status"] == "processing"


def test_shipping_twice_is_409(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(customer, [(product["productId"], 1)]).json["orderId"]
    shop.web.post(f"{ORDERS}/{order_id}/ship", headers=shop.admin.headers)

    again = shop.web.post(f"{ORDERS}/{order_id}/ship", headers=shop.admin.headers)

    assert again.status_code == 409
    assert shop.order(customer, order_id)["status"] == "shipped"


def test_shipping_a_cancelled_order_is_409(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(customer, [(product["productId"], 1)]).json["orderId"]
    shop.web.post(f"{ORDERS}/{order_id}/cancel", headers=customer.headers)

    response = shop.web.post(f"{ORDERS}/{order_id}/ship", headers=shop.admin.headers)

    assert response.status_code == 409
    assert shop.order(customer, order_id)["status"] == "cancelled"


def test_shipping_an_unknown_order_is_404(shop: Shop) -> None:
    response = shop.web.post(f"{ORDERS}/{uuid.uuid4()}/ship", headers=shop.admin.headers)

    assert response.status_code == 404


def test_shipped_order_timeline_ends_with_shipped_by_admin(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    order_id = shop.checkout(customer, [(product["productId"], 1)]).json["orderId"]

    response = shop.web.post(f"{ORDERS}/{order_id}/ship", headers=shop.admin.headers)

    assert response.status_code == 200
    assert response.json["events"][-1]["status"] == "shipped"
    assert response.json["events"][-1]["cause"] == "admin"
    assert [o["status"] for o in shop.web.get(ORDERS, headers=customer.headers).json["items"]] == [
        "shipped"
    ]
