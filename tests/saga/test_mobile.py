"""The mobile BFF (port 3011): saved address and card in, light responses out."""

from __future__ import annotations

import uuid

from werkzeug.test import TestResponse

from tests.support import ADDRESS, PASSWORD, Customer, Shop

CHECKOUT_KEYS = {"orderId", "status", "totalAmount"}
SUMMARY_KEYS = {"orderId", "status", "totalAmount", "createdAt", "itemCount"}


def mobile_checkout(
    shop: Shop,
    customer: Customer,
    items: list[tuple[str, int]],
    address_id: str,
    payment_method_id: str,
    idempotency_key: str | None = None,
    **extra: object,
) -> TestResponse:
    headers = dict(customer.headers)
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    body = {
        "items": [{"productId": pid, "quantity": qty} for pid, qty in items],
        "addressId": address_id,
        "paymentMethodId": payment_method_id,
        **extra,
    }
    return shop.mobile.post("/api/v1/checkout", json=body, headers=headers)


def saved_preferences(shop: Shop, customer: Customer, token: str = "tok_visa") -> tuple[str, str]:
    """The customer's saved address and card, as the web app saves them."""
    return shop.save_address(customer), shop.save_card(customer, token)


def mobile_orders(shop: Shop, customer: Customer) -> dict:
    response = shop.mobile.get("/api/v1/orders", headers=customer.headers)
    assert response.status_code == 200, response.json
    return response.json


def web_order_count(shop: Shop, customer: Customer) -> int:
    response = shop.web.get("/api/v1/orders", headers=customer.headers)
    assert response.status_code == 200, response.json
    return response.json["total"]


# --- signing in -------------------------------------------------------------------------------


def test_login_on_mobile_signs_in_the_account_registered_on_web(shop: Shop) -> None:
    customer = shop.register()

    response = shop.mobile.post(
        "/api/v1/auth/login", json={"email": customer.email.upper(), "password": PASSWORD}
    )

    assert response.status_code == 200
    assert set(response.json) == {"userId", "email", "token"}
    assert response.json["userId"] == customer.user_id
    assert response.json["email"] == customer.email
    token = response.json["token"]
    me = shop.mobile.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200


def test_login_on_mobile_with_a_wrong_password_is_401(shop: Shop) -> None:
    customer = shop.register()

    response = shop.mobile.post(
        "/api/v1/auth/login", json={"email": customer.email, "password": "not the password"}
    )

    assert response.status_code == 401
    assert response.json["code"] == 401
    assert "token" not in response.json


def test_mobile_routes_need_a_token(shop: Shop) -> None:
    checkout = shop.mobile.post("/api/v1/checkout", json={})
    orders = shop.mobile.get("/api/v1/orders")
    order = shop.mobile.get(f"/api/v1/orders/{uuid.uuid4()}")

    assert [checkout.status_code, orders.status_code, order.status_code] == [401, 401, 401]


# --- checkout ---------------------------------------------------------------------------------


def test_paid_checkout_returns_only_order_id_status_and_server_side_total(saga_shop: Shop) -> None:
    shop = saga_shop
    customer = shop.register()
    address_id, card_id = saved_preferences(shop, customer)
    widget = shop.add_product(price="49.99", stock=5)
    gadget = shop.add_product(price="0.10", stock=5)

    response = mobile_checkout(
        shop, customer, [(widget["productId"], 2), (gadget["productId"], 3)], address_id, card_id
    )

    assert response.status_code == 201
    assert set(response.json) == CHECKOUT_KEYS
    assert response.json["status"] == "processing"
    assert response.json["totalAmount"] == "100.28"
    assert shop.stock_of(widget["productId"]) == 3
    assert shop.stock_of(gadget["productId"]) == 2
    details = shop.details(customer, response.json["orderId"])
    assert details["order"]["shippingAddress"] == {**ADDRESS, "line2": None}
    assert [(p["status"], p["amount"]) for p in details["payments"]] == [("completed", "100.28")]


def test_checkout_rejects_a_client_supplied_price_and_creates_nothing(shop: Shop) -> None:
    customer = shop.register()
    address_id, card_id = saved_preferences(shop, customer)
    widget = shop.add_product(price="49.99", stock=5)

    response = shop.mobile.post(
        "/api/v1/checkout",
        json={
            "items": [{"productId": widget["productId"], "quantity": 1, "unitPrice": "0.01"}],
            "addressId": address_id,
            "paymentMethodId": card_id,
        },
        headers=customer.headers,
    )

    assert response.status_code == 422
    assert "items" in response.json["errors"]
    assert shop.stock_of(widget["productId"]) == 5
    assert mobile_orders(shop, customer)["total"] == 0


def test_checkout_without_enough_stock_is_409_and_holds_nothing(saga_shop: Shop) -> None:
    shop = saga_shop
    customer = shop.register()
    address_id, card_id = saved_preferences(shop, customer)
    plenty = shop.add_product(stock=10)
    scarce = shop.add_product(stock=1)

    response = mobile_checkout(
        shop, customer, [(plenty["productId"], 2), (scarce["productId"], 2)], address_id, card_id
    )

    assert response.status_code == 409
    assert set(response.json) == CHECKOUT_KEYS | {"error"}
    assert response.json["error"] == "Insufficient inventory"
    assert response.json["status"] == "cancelled"
    assert shop.stock_of(plenty["productId"]) == 10
    assert shop.stock_of(scarce["productId"]) == 1


def test_checkout_with_a_saved_declined_card_is_402_and_releases_stock(saga_shop: Shop) -> None:
    shop = saga_shop
    customer = shop.register()
    address_id, card_id = saved_preferences(shop, customer, token="tok_chargeDeclined")
    widget = shop.add_product(price="15.00", stock=4)

    response = mobile_checkout(shop, customer, [(widget["productId"], 3)], address_id, card_id)

    assert response.status_code == 402
    assert set(response.json) == CHECKOUT_KEYS | {"error"}
    assert response.json["error"] == "Payment declined"
    assert response.json["status"] == "cancelled"
    assert response.json["totalAmount"] == "45.00"
    assert shop.stock_of(widget["productId"]) == 4
    details = shop.details(customer, response.json["orderId"])
    assert [p["status"] for p in details["payments"]] == ["failed"]


def test_checkout_with_another_users_address_is_404_and_creates_nothing(shop: Shop) -> None:
    alice, mallory = shop.register(), shop.register()
    alices_address = shop.save_address(alice)
    mallorys_card = shop.save_card(mallory)
    widget = shop.add_product(stock=5)

    response = mobile_checkout(
        shop, mallory, [(widget["productId"], 1)], alices_address, mallorys_card
    )

    assert response.status_code == 404
    assert response.json["code"] == 404
    assert "orderId" not in response.json
    assert shop.stock_of(widget["productId"]) == 5
    assert web_order_count(shop, mallory) == 0
    assert web_order_count(shop, alice) == 0


def test_checkout_with_another_users_card_is_404_and_creates_nothing(shop: Shop) -> None:
    alice, mallory = shop.register(), shop.register()
    alices_card = shop.save_card(alice)
    mallorys_address = shop.save_address(mallory)
    widget = shop.add_product(stock=5)

    response = mobile_checkout(
        shop, mallory, [(widget["productId"], 1)], mallorys_address, alices_card
    )

    assert response.status_code == 404
    assert "orderId" not in response.json
    assert shop.stock_of(widget["productId"]) == 5
    assert web_order_count(shop, mallory) == 0
    assert web_order_count(shop, alice) == 0


def test_checkout_with_unknown_saved_ids_is_404_and_creates_nothing(shop: Shop) -> None:
    customer = shop.register()
    address_id, card_id = saved_preferences(shop, customer)
    widget = shop.add_product(stock=5)
    items = [(widget["productId"], 1)]

    no_address = mobile_checkout(shop, customer, items, str(uuid.uuid4()), card_id)
    no_card = mobile_checkout(shop, customer, items, address_id, str(uuid.uuid4()))

    assert [no_address.status_code, no_card.status_code] == [404, 404]
    assert shop.stock_of(widget["productId"]) == 5
    assert web_order_count(shop, customer) == 0


def test_checkout_for_another_user_id_is_403_and_creates_nothing(shop: Shop) -> None:
    customer, other = shop.register(), shop.register()
    address_id, card_id = saved_preferences(shop, customer)
    widget = shop.add_product(stock=5)

    response = mobile_checkout(
        shop, customer, [(widget["productId"], 1)], address_id, card_id, userId=other.user_id
    )

    assert response.status_code == 403
    assert response.json["code"] == 403
    assert shop.stock_of(widget["productId"]) == 5
    assert web_order_count(shop, customer) == 0
    assert web_order_count(shop, other) == 0


def test_checkout_naming_the_callers_own_user_id_is_accepted(shop: Shop) -> None:
    customer = shop.register()
    address_id, card_id = saved_preferences(shop, customer)
    widget = shop.add_product(stock=5)

    response = mobile_checkout(
        shop, customer, [(widget["productId"], 1)], address_id, card_id, userId=customer.user_id
    )

    assert response.status_code == 201
    assert shop.stock_of(widget["productId"]) == 4


def test_idempotency_key_replay_returns_the_same_order_and_takes_stock_once(
    saga_shop: Shop,
) -> None:
    shop = saga_shop
    customer = shop.register()
    address_id, card_id = saved_preferences(shop, customer)
    widget = shop.add_product(price="5.00", stock=5)
    items = [(widget["productId"], 2)]

    first = mobile_checkout(shop, customer, items, address_id, card_id, idempotency_key="tap-1")
    replay = mobile_checkout(shop, customer, items, address_id, card_id, idempotency_key="tap-1")

    assert first.status_code == 201
    assert replay.status_code == 201
    assert replay.json == first.json
    assert shop.stock_of(widget["productId"]) == 3
    assert mobile_orders(shop, customer)["total"] == 1
    payments = shop.details(customer, first.json["orderId"])["payments"]
    assert [p["amount"] for p in payments] == ["10.00"]


def test_idempotency_key_reused_with_another_body_is_422_and_creates_nothing(shop: Shop) -> None:
    customer = shop.register()
    address_id, card_id = saved_preferences(shop, customer)
    widget = shop.add_product(stock=5)

    first = mobile_checkout(
        shop, customer, [(widget["productId"], 1)], address_id, card_id, idempotency_key="tap-2"
    )
    other = mobile_checkout(
        shop, customer, [(widget["productId"], 3)], address_id, card_id, idempotency_key="tap-2"
    )

    assert first.status_code == 201
    assert other.status_code == 422
    assert shop.stock_of(widget["productId"]) == 4
    assert mobile_orders(shop, customer)["total"] == 1


# --- orders -----------------------------------------------------------------------------------


def test_order_list_is_lightweight_and_holds_only_the_callers_orders(shop: Shop) -> None:
    customer, other = shop.register(), shop.register()
    address_id, card_id = saved_preferences(shop, customer)
    widget = shop.add_product(price="2.50", stock=20)
    on_mobile = mobile_checkout(shop, customer, [(widget["productId"], 3)], address_id, card_id)
    on_web = shop.checkout(customer, [(widget["productId"], 1)])
    shop.checkout(other, [(widget["productId"], 1)])

    listing = mobile_orders(shop, customer)

    assert listing["total"] == 2
    assert all(set(row) == SUMMARY_KEYS for row in listing["items"])
    rows = {row["orderId"]: row for row in listing["items"]}
    assert set(rows) == {on_mobile.json["orderId"], on_web.json["orderId"]}
    mobile_row = rows[on_mobile.json["orderId"]]
    assert mobile_row["status"] == "processing"
    assert mobile_row["totalAmount"] == "7.50"
    assert mobile_row["itemCount"] == 3
    assert rows[on_web.json["orderId"]]["itemCount"] == 1


def test_order_is_lightweight(shop: Shop) -> None:
    customer = shop.register()
    address_id, card_id = saved_preferences(shop, customer)
    widget = shop.add_product(price="3.00", stock=20)
    gadget = shop.add_product(price="1.25", stock=20)
    order_id = mobile_checkout(
        shop, customer, [(widget["productId"], 2), (gadget["productId"], 4)], address_id, card_id
    ).json["orderId"]

    response = shop.mobile.get(f"/api/v1/orders/{order_id}", headers=customer.headers)

    assert response.status_code == 200
    assert set(response.json) == SUMMARY_KEYS
    assert response.json["orderId"] == order_id
    assert response.json["status"] == "processing"
    assert response.json["totalAmount"] == "11.00"
    assert response.json["itemCount"] == 6
    assert response.json["createdAt"] == shop.order(customer, order_id)["createdAt"]


def test_another_users_order_is_404_on_mobile(shop: Shop) -> None:
    alice, mallory = shop.register(), shop.register()
    widget = shop.add_product(stock=5)
    order_id = shop.checkout(alice, [(widget["productId"], 1)]).json["orderId"]

    theirs = shop.mobile.get(f"/api/v1/orders/{order_id}", headers=mallory.headers)
    unknown = shop.mobile.get(f"/api/v1/orders/{uuid.uuid4()}", headers=mallory.headers)

    assert theirs.status_code == 404
    assert theirs.json["code"] == 404
    assert unknown.status_code == 404
    assert mobile_orders(shop, mallory)["total"] == 0
