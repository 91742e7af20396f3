"""Saved addresses and cards on both BFFs: one default of each, deleting them, and whose
they are; the customer's own names (web)."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient

from tests.support import ADDRESS, VISA, Customer, Shop

ADDRESSES = "/api/v1/users/me/addresses"
CARDS = "/api/v1/users/me/payment-methods"
KINDS = [(ADDRESSES, ADDRESS, "addressId"), (CARDS, VISA, "paymentMethodId")]
PORTS = ["web", "mobile"]
# Each port with each kind of saved thing: (port, collection path, body to save, id key).
EVERY_PORT_AND_KIND = pytest.mark.parametrize(
    ("port", "path", "body", "key"), [(port, *kind) for port in PORTS for kind in KINDS]
)


def save(client: FlaskClient, customer: Customer, path: str, body: dict, key: str) -> str:
    response = client.post(path, json=body, headers=customer.headers)
    assert response.status_code == 201, response.json
    return response.json[key]


def defaults(client: FlaskClient, customer: Customer, path: str, key: str) -> dict[str, bool]:
    response = client.get(path, headers=customer.headers)
    assert response.status_code == 200, response.json
    return {item[key]: item["isDefault"] for item in response.json["items"]}


@EVERY_PORT_AND_KIND
def test_the_first_saved_is_the_default_until_another_is_marked(
    saga_shop: Shop, port: str, path: str, body: dict, key: str
) -> None:
    shop = saga_shop
    client, customer = shop.clients[port], shop.register()
    first = save(client, customer, path, body, key)
    second = save(client, customer, path, body, key)
    assert defaults(client, customer, path, key) == {first: True, second: False}

    marked = client.patch(f"{path}/{second}", json={"isDefault": True}, headers=customer.headers)

    assert marked.status_code == 200
    assert marked.json[key] == second
    assert marked.json["isDefault"] is True
    assert defaults(client, customer, path, key) == {first: False, second: True}
    unmarked = client.patch(f"{path}/{second}", json={"isDefault": False}, headers=customer.headers)
    assert unmarked.json["isDefault"] is False
    assert defaults(client, customer, path, key) == {first: False, second: False}


@EVERY_PORT_AND_KIND
def test_deleting_a_saved_one_is_204_and_it_is_gone(
    saga_shop: Shop, port: str, path: str, body: dict, key: str
) -> None:
    shop = saga_shop
    client, customer = shop.clients[port], shop.register()
    kept, dropped = save(client, customer, path, body, key), save(client, customer, path, body, key)

    deleted = client.delete(f"{path}/{dropped}", headers=customer.headers)
    again = client.delete(f"{path}/{dropped}", headers=customer.headers)
    mark = client.patch(f"{path}/{dropped}", json={"isDefault": True}, headers=customer.headers)

    assert deleted.status_code == 204
    assert deleted.get_data() == b""
    assert again.status_code == 404
    assert mark.status_code == 404
    assert list(defaults(client, customer, path, key)) == [kept]


@EVERY_PORT_AND_KIND
def test_another_users_saved_one_is_404_and_stays_as_it_was(
    shop: Shop, port: str, path: str, body: dict, key: str
) -> None:
    client = shop.clients[port]
    alice, mallory = shop.register(), shop.register()
    alices = save(client, alice, path, body, key)

    mark = client.patch(f"{path}/{alices}", json={"isDefault": False}, headers=mallory.headers)
    deleted = client.delete(f"{path}/{alices}", headers=mallory.headers)
    unknown = client.delete(f"{path}/{uuid.uuid4()}", headers=mallory.headers)

    assert (mark.status_code, deleted.status_code, unknown.status_code) == (404, 404, 404)
    assert mark.json["code"] == 404
    assert defaults(client, alice, path, key) == {alices: True}


@EVERY_PORT_AND_KIND
def test_marking_default_checks_the_body_and_the_token(
    shop: Shop, port: str, path: str, body: dict, key: str
) -> None:
    client, customer = shop.clients[port], shop.register()
    saved = save(client, customer, path, body, key)

    unknown_field = client.patch(
        f"{path}/{saved}", json={"isDefault": True, "city": "X"}, headers=customer.headers
    )
    missing = client.patch(f"{path}/{saved}", json={}, headers=customer.headers)
    no_token = client.patch(f"{path}/{saved}", json={"isDefault": True})
    no_token_delete = client.delete(f"{path}/{saved}")

    assert unknown_field.status_code == 422
    assert missing.status_code == 422
    assert "isDefault" in missing.json["errors"]
    assert (no_token.status_code, no_token_delete.status_code) == (401, 401)


def test_deleting_the_card_and_address_of_an_order_keeps_the_order_whole(saga_shop: Shop) -> None:
    shop = saga_shop
    customer = shop.register()
    widget = shop.add_product(price="8.00", stock=5)
    address_id, card_id = shop.save_address(customer), shop.save_card(customer)
    items = [(widget["productId"], 1)]
    paid = shop.mobile_checkout(customer, items, addressId=address_id, paymentMethodId=card_id)
    assert paid.status_code == 201, paid.json
    order_id = paid.json["orderId"]

    gone_address = shop.web.delete(f"{ADDRESSES}/{address_id}", headers=customer.headers)
    gone_card = shop.web.delete(f"{CARDS}/{card_id}", headers=customer.headers)
    cancelled = shop.web.post(f"/api/v1/orders/{order_id}/cancel", headers=customer.headers)

    assert (gone_address.status_code, gone_card.status_code) == (204, 204)
    assert cancelled.status_code == 200
    details = shop.details(customer, order_id)
    assert details["order"]["shippingAddress"] == {**ADDRESS, "line2": None}
    assert [(p["status"], len(p["refunds"])) for p in details["payments"]] == [("refunded", 1)]
    again = shop.mobile_checkout(customer, items, shippingAddress=ADDRESS, paymentMethodId=card_id)
    assert again.status_code == 404


def test_customer_changes_their_names_on_the_web(saga_shop: Shop) -> None:
    shop = saga_shop
    customer = shop.register()

    response = shop.web.patch(
        "/api/v1/users/me", json={"firstName": "Augusta"}, headers=customer.headers
    )
    both = shop.web.patch(
        "/api/v1/users/me",
        json={"firstName": "Ada", "lastName": "King"},
        headers=customer.headers,
    )
    me = shop.web.get("/api/v1/users/me", headers=customer.headers)

    assert response.status_code == 200
    assert (response.json["firstName"], response.json["lastName"]) == ("Augusta", "Lovelace")
    assert both.status_code == 200
    assert (me.json["firstName"], me.json["lastName"]) == ("Ada", "King")
    assert me.json["email"] == customer.email


@pytest.mark.parametrize(
    "body", [{"email": "new@example.com"}, {"role": "admin"}, {"firstName": ""}, {"lastName": None}]
)
def test_customer_cannot_change_anything_else_or_blank_a_name(shop: Shop, body: dict) -> None:
    customer = shop.register()

    response = shop.web.patch("/api/v1/users/me", json=body, headers=customer.headers)
    me = shop.web.get("/api/v1/users/me", headers=customer.headers)

    assert response.status_code == 422
    assert (me.json["firstName"], me.json["role"], me.json["email"]) == (
        "Ada",
        "customer",
        customer.email,
    )


def test_changing_names_needs_a_token(shop: Shop) -> None:
    assert shop.web.patch("/api/v1/users/me", json={"firstName": "X"}).status_code == 401
