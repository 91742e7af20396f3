"""The mobile BFF on its own: a phone app needs no other port, and gets light bodies."""

from __future__ import annotations

import uuid

from tests.support import ADDRESS, PASSWORD, VISA, Customer, Shop

PRODUCT_KEYS = {"productId", "name", "price", "stock"}
ADDRESS_KEYS = {"addressId", "line1", "line2", "city", "postalCode", "country", "isDefault"}
CARD_KEYS = {"paymentMethodId", "brand", "last4", "isDefault"}
SUMMARY_KEYS = {"orderId", "status", "totalAmount", "createdAt", "itemCount"}


def register_on_mobile(shop: Shop) -> Customer:
    email = f"phone-{uuid.uuid4().hex[:10]}@example.com"
    response = shop.mobile.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "firstName": "Grace", "lastName": "Hopper"},
    )
    assert response.status_code == 201, response.json
    assert set(response.json) == {"userId", "email", "token"}
    return Customer(response.json["userId"], email, response.json["token"])


def test_a_new_user_does_everything_on_the_mobile_port_alone(saga_shop: Shop) -> None:
    shop = saga_shop
    widget = shop.add_product(price="12.50", stock=5, name="Blue widget")
    shop.add_product(price="1.00", stock=5, name="Red gadget")
    phone = shop.mobile
    customer = register_on_mobile(shop)
    me = customer.headers

    found = phone.get("/api/v1/products?search=WIDGET&pageSize=10")
    product = phone.get(f"/api/v1/products/{widget['productId']}")
    address = phone.post("/api/v1/users/me/addresses", json=ADDRESS, headers=me)
    card = phone.post("/api/v1/users/me/payment-methods", json=VISA, headers=me)
    checkout = shop.mobile_checkout(
        customer,
        [(widget["productId"], 2)],
        addressId=address.json["addressId"],
        paymentMethodId=card.json["paymentMethodId"],
    )
    listed = phone.get("/api/v1/orders", headers=me)
    order_id = checkout.json["orderId"]
    cancelled = phone.post(f"/api/v1/orders/{order_id}/cancel", headers=me)
    deleted = phone.delete(f"/api/v1/users/me/addresses/{address.json['addressId']}", headers=me)
    addresses_left = phone.get("/api/v1/users/me/addresses", headers=me)

    assert found.status_code == 200
    assert [p["productId"] for p in found.json["items"]] == [widget["productId"]]
    assert found.json["total"] == 1
    assert product.json == {
        "productId": widget["productId"],
        "name": "Blue widget",
        "price": "12.50",
        "stock": {"available": 5},
    }
    assert (address.status_code, card.status_code) == (201, 201)
    assert checkout.status_code == 201, checkout.json
    assert checkout.json == {"orderId": order_id, "status": "processing", "totalAmount": "25.00"}
    assert listed.json["total"] == 1
    assert set(listed.json["items"][0]) == SUMMARY_KEYS
    assert cancelled.status_code == 200
    assert set(cancelled.json) == SUMMARY_KEYS
    assert cancelled.json["status"] == "cancelled"
    assert deleted.status_code == 204
    assert addresses_left.json["total"] == 0
    assert shop.stock_of(widget["productId"]) == 5
    refunded = [p["status"] for p in shop.details(customer, order_id)["payments"]]
    assert refunded == ["refunded"]


def test_mobile_bodies_hold_only_what_a_phone_screen_shows(shop: Shop) -> None:
    customer = register_on_mobile(shop)
    shop.add_product(stock=3)

    products = shop.mobile.get("/api/v1/products")
    address = shop.mobile.post("/api/v1/users/me/addresses", json=ADDRESS, headers=customer.headers)
    card = shop.mobile.post("/api/v1/users/me/payment-methods", json=VISA, headers=customer.headers)
    addresses = shop.mobile.get("/api/v1/users/me/addresses", headers=customer.headers)
    cards = shop.mobile.get("/api/v1/users/me/payment-methods", headers=customer.headers)

    assert all(set(item) == PRODUCT_KEYS for item in products.json["items"])
    assert set(address.json) == ADDRESS_KEYS
    assert set(card.json) == CARD_KEYS
    assert card.json["brand"] == "visa" and card.json["last4"] == "4242"
    assert [set(item) for item in addresses.json["items"]] == [ADDRESS_KEYS]
    assert [set(item) for item in cards.json["items"]] == [CARD_KEYS]
    assert "tok_" not in cards.get_data(as_text=True)


def test_product_search_is_paged_and_ignores_case(shop: Shop) -> None:
    for n in range(3):
        shop.add_product(name=f"Garden hose {n}")
    shop.add_product(name="Shovel")
    shop.add_product(name="100%_cotton gloves")

    first = shop.mobile.get("/api/v1/products?search=hOSE&page=1&pageSize=2")
    second = shop.mobile.get("/api/v1/products?search=hose&page=2&pageSize=2")
    literal = shop.mobile.get("/api/v1/products?search=%25_")
    on_web = shop.web.get("/api/v1/products?search=shovel")
    empty = shop.mobile.get("/api/v1/products?search=")

    assert (first.json["total"], len(first.json["items"]), len(second.json["items"])) == (3, 2, 1)
    assert [p["name"] for p in literal.json["items"]] == ["100%_cotton gloves"]
    assert [p["name"] for p in on_web.json["items"]] == ["Shovel"]
    assert empty.status_code == 422


def test_mobile_checkout_with_a_new_address_and_card(saga_shop: Shop) -> None:
    shop = saga_shop
    customer = register_on_mobile(shop)
    widget = shop.add_product(price="3.00", stock=4)

    response = shop.mobile_checkout(
        customer, [(widget["productId"], 1)], shippingAddress=ADDRESS, paymentMethod=VISA
    )

    assert response.status_code == 201, response.json
    assert set(response.json) == {"orderId", "status", "totalAmount"}
    order = shop.details(customer, response.json["orderId"])["order"]
    assert order["shippingAddress"] == {**ADDRESS, "line2": None}


def test_mobile_checkout_without_saved_ids_uses_the_defaults(shop: Shop) -> None:
    customer = register_on_mobile(shop)
    widget = shop.add_product(price="2.00", stock=4)
    shop.save_address(customer)
    other_address = shop.mobile.post(
        "/api/v1/users/me/addresses",
        json={**ADDRESS, "city": "Shelbyville"},
        headers=customer.headers,
    ).json["addressId"]
    shop.save_card(customer)
    shop.mobile.patch(
        f"/api/v1/users/me/addresses/{other_address}",
        json={"isDefault": True},
        headers=customer.headers,
    )

    response = shop.mobile_checkout(customer, [(widget["productId"], 1)])

    assert response.status_code == 201, response.json
    order = shop.details(customer, response.json["orderId"])["order"]
    assert order["shippingAddress"]["city"] == "Shelbyville"


def test_mobile_checkout_with_nothing_saved_and_nothing_given_is_422(shop: Shop) -> None:
    customer = register_on_mobile(shop)
    widget = shop.add_product(stock=4)
    items = [(widget["productId"], 1)]

    no_address = shop.mobile_checkout(customer, items, paymentMethod=VISA)
    no_card = shop.mobile_checkout(customer, items, shippingAddress=ADDRESS)

    assert no_address.status_code == 422
    assert "addressId" in no_address.json["errors"]
    assert no_card.status_code == 422
    assert "paymentMethodId" in no_card.json["errors"]
    assert shop.stock_of(widget["productId"]) == 4


def test_mobile_checkout_naming_a_saved_and_a_new_card_is_422(shop: Shop) -> None:
    customer = register_on_mobile(shop)
    widget = shop.add_product(stock=4)
    card_id = shop.save_card(customer)

    response = shop.mobile_checkout(
        customer,
        [(widget["productId"], 1)],
        shippingAddress=ADDRESS,
        paymentMethodId=card_id,
        paymentMethod=VISA,
    )

    assert response.status_code == 422
    assert "paymentMethod" in response.json["errors"]
    assert shop.stock_of(widget["productId"]) == 4
