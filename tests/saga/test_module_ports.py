"""The modules' own APIs on the seed's service ports 3001-3004: admin only."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient

from tests.support import ADDRESS, DECLINED, PASSWORD, VISA, Customer, Shop

SOME_ID = "3f0c5b7e-0d5e-4a43-9b59-7d3c1f1e2a10"
GUARDED_ROUTES = [
    ("users", "POST", "/api/v1/users/register"),
    ("users", "GET", f"/api/v1/users/{SOME_ID}"),
    ("users", "GET", f"/api/v1/users/{SOME_ID}/addresses/{SOME_ID}"),
    ("products", "POST", "/api/v1/products"),
    ("products", "GET", f"/api/v1/products/{SOME_ID}"),
    ("orders", "POST", "/api/v1/orders"),
    ("orders", "GET", f"/api/v1/orders/{SOME_ID}"),
    ("payments", "POST", "/api/v1/payments"),
    ("payments", "GET", f"/api/v1/payments/order/{SOME_ID}"),
    ("payments", "GET", f"/api/v1/payment-methods/{SOME_ID}"),
]


@pytest.fixture
def shop(saga_shop: Shop) -> Shop:
    """Every test here runs on both modes: SQLite + in-memory bus, PostgreSQL + RabbitMQ."""
    return saga_shop


def admin_call(
    shop: Shop, port: str, method: str, path: str, json: dict | None = None
) -> tuple[int, object]:
    client: FlaskClient = shop.clients[port]
    response = client.open(path, method=method, json=json, headers=shop.admin.headers)
    return response.status_code, response.json


def order_body(customer: Customer, product: dict, quantity: int, **extra: object) -> dict:
    return {
        "userId": customer.user_id,
        "items": [
            {"productId": product["productId"], "quantity": quantity, "unitPrice": product["price"]}
        ],
        "shippingAddress": ADDRESS,
        "paymentMethod": VISA,
        **extra,
    }


def payments_of(shop: Shop, order_id: str) -> list[dict]:
    status, body = admin_call(shop, "payments", "GET", f"/api/v1/payments/order/{order_id}")
    assert status == 200, body
    assert isinstance(body, list)
    return body


# --- who may call -----------------------------------------------------------------------------


@pytest.mark.parametrize(("port", "method", "path"), GUARDED_ROUTES)
def test_module_route_without_a_token_is_401(shop: Shop, port: str, method: str, path: str) -> None:
    response = shop.clients[port].open(path, method=method, json={})

    assert response.status_code == 401
    assert response.json["code"] == 401
    assert set(response.json) >= {"code", "status", "message"}


@pytest.mark.parametrize(("port", "method", "path"), GUARDED_ROUTES)
def test_module_route_with_a_customer_token_is_403(
    shop: Shop, port: str, method: str, path: str
) -> None:
    customer = shop.register()

    response = shop.clients[port].open(path, method=method, json={}, headers=customer.headers)

    assert response.status_code == 403
    assert response.json["code"] == 403


def test_customer_cannot_create_a_product_on_the_products_port(shop: Shop) -> None:
    customer = shop.register()
    body = {"name": "Contraband", "sku": "SKU-FORBIDDEN-1", "price": "1.00", "stock": 3}

    refused = shop.clients["products"].post("/api/v1/products", json=body, headers=customer.headers)
    status, created = admin_call(shop, "products", "POST", "/api/v1/products", body)

    assert refused.status_code == 403
    assert status == 201  # the SKU was still free: the refused request created nothing
    assert created["sku"] == "SKU-FORBIDDEN-1"


def test_customer_cannot_register_users_on_the_users_port(shop: Shop) -> None:
    customer = shop.register()
    body = {"email": "sneaky@example.com", "password": PASSWORD, "firstName": "S", "lastName": "N"}

    refused = shop.clients["users"].post(
        "/api/v1/users/register", json=body, headers=customer.headers
    )
    login = shop.web.post(
        "/api/v1/auth/login", json={"email": "sneaky@example.com", "password": PASSWORD}
    )

    assert refused.status_code == 403
    assert login.status_code == 401


# --- users, port 3003 -------------------------------------------------------------------------


def test_admin_registers_a_customer_on_the_users_port(shop: Shop) -> None:
    body = {"email": "Grace@Example.com", "password": PASSWORD, "firstName": "Grace"}

    status, created = admin_call(
        shop, "users", "POST", "/api/v1/users/register", {**body, "lastName": "Hopper"}
    )

    assert status == 201
    assert set(created) == {"userId", "email", "token"}
    assert created["email"] == "grace@example.com"
    me = shop.web.get("/api/v1/users/me", headers={"Authorization": f"Bearer {created['token']}"})
    assert me.status_code == 200
    assert me.json["role"] == "customer"
    login = shop.web.post(
        "/api/v1/auth/login", json={"email": "grace@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    assert login.json["userId"] == created["userId"]


def test_registering_a_taken_email_on_the_users_port_is_409(shop: Shop) -> None:
    customer = shop.register()
    body = {"email": customer.email.upper(), "password": PASSWORD, "firstName": "A"}

    status, error = admin_call(
        shop, "users", "POST", "/api/v1/users/register", {**body, "lastName": "B"}
    )

    assert status == 409
    assert error["code"] == 409


def test_admin_reads_a_user_without_the_password_hash(shop: Shop) -> None:
    customer = shop.register()

    status, user = admin_call(shop, "users", "GET", f"/api/v1/users/{customer.user_id}")
    missing, _ = admin_call(shop, "users", "GET", f"/api/v1/users/{uuid.uuid4()}")

    assert status == 200
    assert user["userId"] == customer.user_id
    assert user["email"] == customer.email
    assert (user["firstName"], user["lastName"], user["role"]) == ("Ada", "Lovelace", "customer")
    assert not any("password" in key.lower() for key in user)
    assert missing == 404


def test_admin_reads_a_users_address_but_not_under_another_user(shop: Shop) -> None:
    alice, bob = shop.register(), shop.register()
    address_id = shop.save_address(alice)

    status, address = admin_call(
        shop, "users", "GET", f"/api/v1/users/{alice.user_id}/addresses/{address_id}"
    )
    wrong_owner, error = admin_call(
        shop, "users", "GET", f"/api/v1/users/{bob.user_id}/addresses/{address_id}"
    )
    unknown, _ = admin_call(
        shop, "users", "GET", f"/api/v1/users/{alice.user_id}/addresses/{uuid.uuid4()}"
    )

    assert status == 200
    assert address["addressId"] == address_id
    assert {key: address[key] for key in ADDRESS} == ADDRESS
    assert wrong_owner == 404
    assert error["code"] == 404
    assert unknown == 404


# --- products, port 3002 ----------------------------------------------------------------------


def test_admin_creates_and_reads_a_product_on_the_products_port(shop: Shop) -> None:
    body = {"name": "Lamp", "sku": "LAMP-001", "price": 19.9, "stock": 7}

    status, created = admin_call(shop, "products", "POST", "/api/v1/products", body)
    read_status, product = admin_call(
        shop, "products", "GET", f"/api/v1/products/{created['productId']}"
    )

    assert status == 201
    assert created["price"] == "19.90"
    assert read_status == 200
    assert (product["name"], product["sku"], product["price"]) == ("Lamp", "LAMP-001", "19.90")
    assert product["stock"] == {"available": 7}
    assert shop.stock_of(created["productId"]) == 7  # the web catalogue sees it too


def test_product_port_rejects_a_duplicate_sku_and_unknown_ids(shop: Shop) -> None:
    existing = shop.add_product()
    body = {"name": "Copy", "sku": existing["sku"], "price": "1.00"}

    duplicate, error = admin_call(shop, "products", "POST", "/api/v1/products", body)
    missing, _ = admin_call(shop, "products", "GET", f"/api/v1/products/{uuid.uuid4()}")

    assert duplicate == 409
    assert error["code"] == 409
    assert missing == 404


# --- orders, port 3001 ------------------------------------------------------------------------


def test_order_with_a_total_that_does_not_match_the_items_is_422_and_creates_nothing(
    shop: Shop,
) -> None:
    customer = shop.register()
    widget = shop.add_product(price="10.00", stock=5)

    status, error = admin_call(
        shop, "orders", "POST", "/api/v1/orders", order_body(customer, widget, 2, totalAmount="5")
    )

    assert status == 422
    assert "totalAmount" in error["errors"]
    assert shop.stock_of(widget["productId"]) == 5
    orders = shop.web.get("/api/v1/orders", headers=customer.headers)
    assert orders.json["total"] == 0


def test_admin_order_runs_the_whole_saga(shop: Shop) -> None:
    customer = shop.register()
    widget = shop.add_product(price="12.50", stock=5)

    status, placed = admin_call(
        shop, "orders", "POST", "/api/v1/orders", order_body(customer, widget, 2, totalAmount=25)
    )
    shop.settle()  # the orders port answers at once; the saga runs on the bus
    read_status, order = admin_call(shop, "orders", "GET", f"/api/v1/orders/{placed['orderId']}")

    assert status == 201
    assert placed["userId"] == customer.user_id
    assert placed["totalAmount"] == "25.00"
    assert placed["currency"] == "USD"
    assert read_status == 200
    assert order["status"] == "processing"
    assert [entry["status"] for entry in order["events"]] == ["pending", "confirmed", "processing"]
    assert shop.stock_of(widget["productId"]) == 3
    payments = payments_of(shop, placed["orderId"])
    assert [(p["status"], p["amount"]) for p in payments] == [("completed", "25.00")]
    assert shop.order(customer, placed["orderId"])["status"] == "processing"  # the owner sees it


def test_admin_order_without_a_total_is_priced_from_its_items(shop: Shop) -> None:
    customer = shop.register()
    widget = shop.add_product(price="3.33", stock=5)

    status, placed = admin_call(
        shop, "orders", "POST", "/api/v1/orders", order_body(customer, widget, 3)
    )

    assert status == 201
    assert placed["totalAmount"] == "9.99"
    assert placed["items"][0]["unitPrice"] == "3.33"


def test_admin_order_with_a_declined_card_ends_cancelled_with_stock_released(shop: Shop) -> None:
    customer = shop.register()
    widget = shop.add_product(price="8.00", stock=5)
    body = order_body(customer, widget, 2, paymentMethod=DECLINED)

    status, placed = admin_call(shop, "orders", "POST", "/api/v1/orders", body)
    shop.settle()
    _, order = admin_call(shop, "orders", "GET", f"/api/v1/orders/{placed['orderId']}")

    assert status == 201
    assert order["status"] == "cancelled"
    assert shop.stock_of(widget["productId"]) == 5
    assert [p["status"] for p in payments_of(shop, placed["orderId"])] == ["failed"]


def test_unknown_order_on_the_orders_port_is_404(shop: Shop) -> None:
    status, error = admin_call(shop, "orders", "GET", f"/api/v1/orders/{uuid.uuid4()}")

    assert status == 404
    assert error["code"] == 404


# --- payments, port 3004 ----------------------------------------------------------------------


def test_admin_charges_an_order_directly_and_reads_its_payments(shop: Shop) -> None:
    customer = shop.register()
    order_id = str(uuid.uuid4())
    body = {"orderId": order_id, "userId": customer.user_id, "amount": 12.5, "paymentMethod": VISA}

    status, payment = admin_call(shop, "payments", "POST", "/api/v1/payments", body)

    assert status == 201
    assert payment["orderId"] == order_id
    assert (payment["status"], payment["amount"], payment["currency"]) == (
        "completed",
        "12.50",
        "USD",
    )
    assert "token" not in payment
    listed = payments_of(shop, order_id)
    assert [p["paymentId"] for p in listed] == [payment["paymentId"]]


def test_direct_charge_with_a_declined_card_is_a_failed_payment(shop: Shop) -> None:
    customer = shop.register()
    order_id = str(uuid.uuid4())
    body = {"orderId": order_id, "userId": customer.user_id, "amount": "5.00"}

    status, payment = admin_call(
        shop, "payments", "POST", "/api/v1/payments", {**body, "paymentMethod": DECLINED}
    )

    assert status == 201
    assert payment["status"] == "failed"
    assert payment["failureReason"] == "card_declined"


def test_direct_charge_of_an_order_the_saga_already_paid_is_409(shop: Shop) -> None:
    customer = shop.register()
    widget = shop.add_product(price="4.00", stock=5)
    order_id = shop.checkout(customer, [(widget["productId"], 1)]).json["orderId"]
    body = {"orderId": order_id, "userId": customer.user_id, "amount": "4.00"}

    status, error = admin_call(
        shop, "payments", "POST", "/api/v1/payments", {**body, "paymentMethod": VISA}
    )

    assert status == 409
    assert error["code"] == 409
    assert [p["status"] for p in payments_of(shop, order_id)] == ["completed"]


def test_direct_charge_refuses_a_raw_card_number(shop: Shop) -> None:
    customer = shop.register()
    order_id = str(uuid.uuid4())
    body = {
        "orderId": order_id,
        "userId": customer.user_id,
        "amount": "5.00",
        "paymentMethod": {"type": "card", "token": "4242424242424242"},
    }

    status, error = admin_call(shop, "payments", "POST", "/api/v1/payments", body)

    assert status == 422
    assert "paymentMethod" in error["errors"]
    assert payments_of(shop, order_id) == []


def test_admin_reads_a_saved_card_without_its_token(shop: Shop) -> None:
    customer = shop.register()
    card_id = shop.save_card(customer, "tok_visa")

    response = shop.clients["payments"].get(
        f"/api/v1/payment-methods/{card_id}", headers=shop.admin.headers
    )
    missing, _ = admin_call(shop, "payments", "GET", f"/api/v1/payment-methods/{uuid.uuid4()}")

    assert response.status_code == 200
    assert response.json["paymentMethodId"] == card_id
    assert (response.json["type"], response.json["brand"], response.json["last4"]) == (
        "card",
        "visa",
        "4242",
    )
    assert "token" not in response.json
    assert "tok_visa" not in response.get_data(as_text=True)
    assert missing == 404
