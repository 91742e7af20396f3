"""Signing up, signing in, and the signed-in user's profile, addresses and cards (web BFF)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support import ADDRESS, PASSWORD, Shop

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/users/me"
ADDRESSES = "/api/v1/users/me/addresses"
CARDS = "/api/v1/users/me/payment-methods"


def _new_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def _registration(email: str, password: str = PASSWORD, **extra: object) -> dict:
    return {
        "email": email,
        "password": password,
        "firstName": "Bob",
        "lastName": "Builder",
        **extra,
    }


def _login(shop: Shop, email: str, password: str = PASSWORD) -> int:
    return shop.web.post(LOGIN, json={"email": email, "password": password}).status_code


def _keys(value: object) -> set[str]:
    """Every key anywhere in a JSON document, lower-cased."""
    if isinstance(value, dict):
        return {k.lower() for k in value} | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


# --- register ------------------------------------------------------------------------------


def test_register_returns_user_id_email_and_a_working_token(shop: Shop) -> None:
    email = _new_email()

    response = shop.web.post(REGISTER, json=_registration(email))

    assert response.status_code == 201
    body = response.json
    assert set(body) == {"userId", "email", "token"}
    assert str(uuid.UUID(body["userId"])) == body["userId"]
    assert body["email"] == email
    me = shop.web.get(ME, headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json["userId"] == body["userId"]


def test_register_stores_the_email_in_lower_case(shop: Shop) -> None:
    response = shop.web.post(REGISTER, json=_registration("Bob.Mixed@X.io"))

    assert response.status_code == 201
    assert response.json["email"] == "bob.mixed@x.io"


def test_register_twice_with_same_email_in_other_case_is_409(shop: Shop) -> None:
    first = shop.web.post(REGISTER, json=_registration("Bob@X.io"))

    second = shop.web.post(REGISTER, json=_registration("bob@x.io", password="another password"))

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json["code"] == 409
    assert _login(shop, "bob@x.io") == 200
    assert _login(shop, "bob@x.io", "another password") == 401


def test_login_with_email_in_other_case_signs_in_the_same_user(shop: Shop) -> None:
    registered = shop.web.post(REGISTER, json=_registration("Bob@X.io")).json

    response = shop.web.post(LOGIN, json={"email": "bob@x.io", "password": PASSWORD})

    assert response.status_code == 200
    assert set(response.json) == {"userId", "email", "token"}
    assert response.json["userId"] == registered["userId"]
    assert response.json["email"] == "bob@x.io"
    me = shop.web.get(ME, headers={"Authorization": f"Bearer {response.json['token']}"})
    assert me.json["userId"] == registered["userId"]


def test_register_with_a_password_over_72_bytes_is_422_and_creates_no_user(shop: Shop) -> None:
    email = _new_email()
    password = "é" * 37  # 37 characters, 74 bytes in UTF-8

    response = shop.web.post(REGISTER, json=_registration(email, password=password))

    assert response.status_code == 422
    assert "password" in response.json["errors"]
    assert _login(shop, email, "é" * 36) == 401
    assert shop.web.post(REGISTER, json=_registration(email)).status_code == 201


def test_register_with_a_password_of_exactly_72_bytes_can_sign_in(shop: Shop) -> None:
    email = _new_email()
    password = ("pass phrase " * 6)[:72]  # policy: 12+ characters, not all alike

    response = shop.web.post(REGISTER, json=_registration(email, password=password))

    assert response.status_code == 201
    assert _login(shop, email, password) == 200
    assert _login(shop, email, "p" * 71) == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"firstName": ""}, "firstName"),
        ({"lastName": None}, "lastName"),
    ],
)
def test_register_with_an_invalid_field_is_422_naming_the_field(
    shop: Shop, change: dict, field: str
) -> None:
    email = _new_email()

    response = shop.web.post(REGISTER, json={**_registration(email), **change})

    assert response.status_code == 422
    assert field in response.json["errors"]
    assert _login(shop, email) == 401


def test_register_without_required_fields_is_422_listing_each_missing_field(shop: Shop) -> None:
    response = shop.web.post(REGISTER, json={})

    assert response.status_code == 422
    assert set(response.json["errors"]) == {"email", "password", "firstName", "lastName"}


def test_register_cannot_choose_its_own_role(shop: Shop) -> None:
    email = _new_email()

    response = shop.web.post(REGISTER, json=_registration(email, role="admin"))

    assert response.status_code == 422
    assert response.json["errors"] == {"role": ["Unknown field."]}
    assert _login(shop, email) == 401


def test_registered_user_is_a_customer_and_cannot_use_admin_routes(shop: Shop) -> None:
    customer = shop.register()

    me = shop.web.get(ME, headers=customer.headers)
    create = shop.web.post(
        "/api/v1/products",
        json={"name": "X", "sku": "SKU-ROLE", "price": "1.00"},
        headers=customer.headers,
    )

    assert me.json["role"] == "customer"
    assert create.status_code == 403


# --- login ---------------------------------------------------------------------------------


def test_login_with_wrong_password_is_401_with_error_shape(shop: Shop) -> None:
    customer = shop.register()

    response = shop.web.post(LOGIN, json={"email": customer.email, "password": "wrong password"})

    assert response.status_code == 401
    assert response.json == {
        "code": 401,
        "status": "Unauthorized",
        "message": response.json["message"],
    }
    assert "token" not in response.json


def test_login_with_unknown_email_is_the_same_401_as_a_wrong_password(shop: Shop) -> None:
    customer = shop.register()

    unknown = shop.web.post(LOGIN, json={"email": _new_email(), "password": PASSWORD})
    wrong = shop.web.post(LOGIN, json={"email": customer.email, "password": "wrong password"})

    assert unknown.status_code == 401
    assert unknown.json == wrong.json


def test_login_without_a_password_is_422(shop: Shop) -> None:
    customer = shop.register()

    response = shop.web.post(LOGIN, json={"email": customer.email})

    assert response.status_code == 422
    assert "password" in response.json["errors"]


def test_login_rejects_unknown_fields_with_422(shop: Shop) -> None:
    customer = shop.register()

    response = shop.web.post(
        LOGIN, json={"email": customer.email, "password": PASSWORD, "remember": True}
    )

    assert response.status_code == 422
    assert response.json["errors"] == {"remember": ["Unknown field."]}


# --- me ------------------------------------------------------------------------------------


def test_me_returns_the_callers_profile_without_a_password_hash(shop: Shop) -> None:
    email = _new_email()
    registered = shop.web.post(REGISTER, json=_registration(email)).json

    response = shop.web.get(ME, headers={"Authorization": f"Bearer {registered['token']}"})

    assert response.status_code == 200
    assert response.json["userId"] == registered["userId"]
    assert response.json["email"] == email
    assert response.json["firstName"] == "Bob"
    assert response.json["lastName"] == "Builder"
    assert response.json["role"] == "customer"
    assert "createdAt" in response.json
    assert not any("password" in key or "hash" in key for key in _keys(response.json))
    assert PASSWORD not in response.get_data(as_text=True)
    assert "$2" not in response.get_data(as_text=True)  # no bcrypt hash


def test_me_without_a_token_is_401(shop: Shop) -> None:
    response = shop.web.get(ME)

    assert response.status_code == 401
    assert response.json["code"] == 401


# --- addresses -----------------------------------------------------------------------------


def test_add_address_returns_201_with_its_id_and_fields(shop: Shop) -> None:
    customer = shop.register()

    response = shop.web.post(
        ADDRESSES, json={**ADDRESS, "line2": "Flat 4"}, headers=customer.headers
    )

    assert response.status_code == 201
    assert uuid.UUID(response.json["addressId"])
    assert response.json["line1"] == ADDRESS["line1"]
    assert response.json["line2"] == "Flat 4"
    assert response.json["city"] == ADDRESS["city"]
    assert response.json["postalCode"] == ADDRESS["postalCode"]
    assert response.json["country"] == ADDRESS["country"]


def test_address_without_line2_has_line2_null(shop: Shop) -> None:
    customer = shop.register()

    response = shop.web.post(ADDRESSES, json=ADDRESS, headers=customer.headers)

    assert response.status_code == 201
    assert response.json["line2"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"country": "USA"}, "country"),
        ({"country": "us"}, "country"),
        ({"line1": ""}, "line1"),
        ({"postalCode": "1" * 21}, "postalCode"),
        ({"city": None}, "city"),
        ({"zip": "12345"}, "zip"),
    ],
)
def test_invalid_address_is_422_and_saves_nothing(shop: Shop, change: dict, field: str) -> None:
    customer = shop.register()

    response = shop.web.post(ADDRESSES, json={**ADDRESS, **change}, headers=customer.headers)

    assert response.status_code == 422
    assert field in response.json["errors"]
    assert shop.web.get(ADDRESSES, headers=customer.headers).json["total"] == 0


def test_address_without_required_fields_is_422(shop: Shop) -> None:
    customer = shop.register()

    response = shop.web.post(ADDRESSES, json={"line2": "x"}, headers=customer.headers)

    assert response.status_code == 422
    assert set(response.json["errors"]) == {"line1", "city", "postalCode", "country"}


def test_addresses_list_is_paginated_with_total(shop: Shop) -> None:
    customer = shop.register()
    saved = [shop.save_address(customer) for _ in range(3)]

    first = shop.web.get(f"{ADDRESSES}?page=1&pageSize=2", headers=customer.headers)
    second = shop.web.get(f"{ADDRESSES}?page=2&pageSize=2", headers=customer.headers)

    assert first.status_code == 200
    assert {k: first.json[k] for k in ("page", "pageSize", "total")} == {
        "page": 1,
        "pageSize": 2,
        "total": 3,
    }
    assert second.json["page"] == 2
    assert second.json["total"] == 3
    listed = [a["addressId"] for a in first.json["items"] + second.json["items"]]
    assert sorted(listed) == sorted(saved)


def test_addresses_list_shows_only_the_callers_addresses(shop: Shop) -> None:
    alice, bob = shop.register(), shop.register()
    alices = shop.save_address(alice)

    bobs_list = shop.web.get(ADDRESSES, headers=bob.headers)
    alices_list = shop.web.get(ADDRESSES, headers=alice.headers)

    assert bobs_list.status_code == 200
    assert bobs_list.json["items"] == []
    assert bobs_list.json["total"] == 0
    assert [a["addressId"] for a in alices_list.json["items"]] == [alices]


def test_addresses_page_size_over_100_is_422(shop: Shop) -> None:
    customer = shop.register()

    response = shop.web.get(f"{ADDRESSES}?pageSize=101", headers=customer.headers)

    assert response.status_code == 422
    assert "pageSize" in response.json["errors"]


@pytest.mark.parametrize(("method", "path"), [("post", ADDRESSES), ("get", ADDRESSES)])
def test_addresses_without_a_token_are_401(shop: Shop, method: str, path: str) -> None:
    response = getattr(shop.web, method)(path, json=ADDRESS if method == "post" else None)

    assert response.status_code == 401


# --- payment methods -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "brand", "last4"),
    [("tok_visa", "visa", "4242"), ("tok_mastercard", "mastercard", "4444")],
)
def test_save_card_returns_brand_and_last4_but_never_the_token(
    shop: Shop, token: str, brand: str, last4: str
) -> None:
    customer = shop.register()

    response = shop.web.post(CARDS, json={"type": "card", "token": token}, headers=customer.headers)

    assert response.status_code == 201
    assert uuid.UUID(response.json["paymentMethodId"])
    assert response.json["type"] == "card"
    assert response.json["brand"] == brand
    assert response.json["last4"] == last4
    assert "token" not in response.json
    assert token not in response.get_data(as_text=True)


def test_saved_cards_list_never_shows_the_token(shop: Shop) -> None:
    customer = shop.register()
    visa = shop.save_card(customer, "tok_visa")
    other = shop.save_card(customer, "tok_somethingElse")

    response = shop.web.get(CARDS, headers=customer.headers)

    assert response.status_code == 200
    assert sorted(m["paymentMethodId"] for m in response.json["items"]) == sorted([visa, other])
    assert response.json["total"] == 2
    text = response.get_data(as_text=True)
    assert "tok_" not in text
    assert "token" not in _keys(response.json)


@pytest.mark.parametrize(
    ("card", "field"),
    [
        ({"type": "card", "token": "4242424242424242"}, "token"),
        ({"type": "bank", "token": "tok_visa"}, "type"),
        ({"type": "card"}, "token"),
        ({"type": "card", "token": "tok_visa", "cvc": "123"}, "cvc"),
    ],
)
def test_invalid_card_is_422_and_saves_nothing(shop: Shop, card: dict, field: str) -> None:
    customer = shop.register()

    response = shop.web.post(CARDS, json=card, headers=customer.headers)

    assert response.status_code == 422
    assert field in response.json["errors"]
    assert "4242424242424242" not in json.dumps(response.json)
    assert shop.web.get(CARDS, headers=customer.headers).json["total"] == 0


def test_saved_cards_list_shows_only_the_callers_cards(shop: Shop) -> None:
    alice, bob = shop.register(), shop.register()
    shop.save_card(alice)

    response = shop.web.get(CARDS, headers=bob.headers)

    assert response.status_code == 200
    assert response.json == {"items": [], "page": 1, "pageSize": 20, "total": 0}


def test_saved_cards_list_is_paginated(shop: Shop) -> None:
    customer = shop.register()
    saved = [shop.save_card(customer) for _ in range(3)]

    first = shop.web.get(f"{CARDS}?page=1&pageSize=2", headers=customer.headers)
    second = shop.web.get(f"{CARDS}?page=2&pageSize=2", headers=customer.headers)
    too_big = shop.web.get(f"{CARDS}?pageSize=101", headers=customer.headers)

    assert first.status_code == 200
    assert (second.json["page"], second.json["pageSize"], second.json["total"]) == (2, 2, 3)
    assert len(first.json["items"]) == 2
    listed = [m["paymentMethodId"] for m in first.json["items"] + second.json["items"]]
    assert sorted(listed) == sorted(saved)
    assert too_big.status_code == 422


@pytest.mark.parametrize("method", ["post", "get"])
def test_payment_methods_without_a_token_are_401(shop: Shop, method: str) -> None:
    body = {"type": "card", "token": "tok_visa"} if method == "post" else None

    response = getattr(shop.web, method)(CARDS, json=body)

    assert response.status_code == 401
