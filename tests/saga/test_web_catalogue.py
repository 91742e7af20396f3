"""The catalogue on the web BFF: anyone browses, only an admin creates, edits and restocks."""

from __future__ import annotations

import uuid

import pytest

from tests.support import Shop

PRODUCTS = "/api/v1/products"


@pytest.fixture
def shop(saga_shop: Shop) -> Shop:
    """Every test here runs on both modes: SQLite + in-memory bus, PostgreSQL + RabbitMQ."""
    return saga_shop


def _new_product(**change: object) -> dict:
    return {"name": "Lamp", "sku": f"LAMP-{uuid.uuid4().hex[:8]}", "price": "19.90", **change}


def _total_products(shop: Shop) -> int:
    return shop.web.get(PRODUCTS).json["total"]


def _product(shop: Shop, product_id: str) -> dict:
    response = shop.web.get(f"{PRODUCTS}/{product_id}")
    assert response.status_code == 200, response.json
    return response.json


# --- browsing ------------------------------------------------------------------------------


def test_anyone_can_get_a_product_with_price_string_and_available_stock(shop: Shop) -> None:
    created = shop.add_product(price="49.99", stock=7, description="A fine widget")

    response = shop.web.get(f"{PRODUCTS}/{created['productId']}")

    assert response.status_code == 200
    assert response.json["productId"] == created["productId"]
    assert response.json["name"] == "Widget"
    assert response.json["sku"] == created["sku"]
    assert response.json["price"] == "49.99"
    assert response.json["description"] == "A fine widget"
    assert response.json["stock"] == {"available": 7}


def test_products_list_is_paginated_for_anyone(shop: Shop) -> None:
    created = [shop.add_product()["productId"] for _ in range(3)]

    first = shop.web.get(f"{PRODUCTS}?page=1&pageSize=2")
    second = shop.web.get(f"{PRODUCTS}?page=2&pageSize=2")
    beyond = shop.web.get(f"{PRODUCTS}?page=3&pageSize=2")

    assert first.status_code == 200
    assert set(first.json) == {"items", "page", "pageSize", "total"}
    assert (first.json["page"], first.json["pageSize"], first.json["total"]) == (1, 2, 3)
    assert len(first.json["items"]) == 2
    assert (second.json["page"], second.json["total"]) == (2, 3)
    listed = [p["productId"] for p in first.json["items"] + second.json["items"]]
    assert sorted(listed) == sorted(created)
    assert beyond.json["items"] == []
    assert beyond.json["total"] == 3


def test_products_list_defaults_to_page_1_of_20(shop: Shop) -> None:
    shop.add_product()

    response = shop.web.get(PRODUCTS)

    assert response.status_code == 200
    assert (response.json["page"], response.json["pageSize"], response.json["total"]) == (1, 20, 1)
    assert response.json["items"][0]["stock"] == {"available": 10}


def test_products_list_allows_page_size_100(shop: Shop) -> None:
    response = shop.web.get(f"{PRODUCTS}?pageSize=100")

    assert response.status_code == 200
    assert response.json["pageSize"] == 100


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("pageSize=101", "pageSize"),
        ("pageSize=0", "pageSize"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("pageSize=1.5", "pageSize"),
    ],
)
def test_products_list_with_bad_paging_is_422(shop: Shop, query: str, field: str) -> None:
    response = shop.web.get(f"{PRODUCTS}?{query}")

    assert response.status_code == 422
    assert field in response.json["errors"]


def test_unknown_product_is_404(shop: Shop) -> None:
    response = shop.web.get(f"{PRODUCTS}/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json["code"] == 404


def test_product_id_that_is_not_a_uuid_is_404_json(shop: Shop) -> None:
    response = shop.web.get(f"{PRODUCTS}/not-a-uuid")

    assert response.status_code == 404
    assert response.is_json


# --- creating ------------------------------------------------------------------------------


def test_admin_creates_a_product_with_stock(shop: Shop) -> None:
    body = _new_product(price="19.90", description="Bright", stock=12)

    response = shop.web.post(PRODUCTS, json=body, headers=shop.admin.headers)

    assert response.status_code == 201
    created = response.json
    assert uuid.UUID(created["productId"])
    assert created["name"] == "Lamp"
    assert created["sku"] == body["sku"]
    assert created["price"] == "19.90"
    assert created["description"] == "Bright"
    assert created["stock"] == {"available": 12}
    assert _product(shop, created["productId"]) == created


def test_new_product_stock_defaults_to_zero(shop: Shop) -> None:
    response = shop.web.post(PRODUCTS, json=_new_product(), headers=shop.admin.headers)

    assert response.status_code == 201
    assert response.json["stock"] == {"available": 0}
    assert response.json["description"] is None
    assert shop.stock_of(response.json["productId"]) == 0


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (12, "12.00"),
        (12.5, "12.50"),
        ("12.5", "12.50"),
        ("0.10", "0.10"),
        ("1000000.00", "1000000.00"),
        ("99999999.99", "99999999.99"),
    ],
)
def test_price_accepts_a_json_number_or_a_decimal_string(
    shop: Shop, price: object, expected: str
) -> None:
    response = shop.web.post(PRODUCTS, json=_new_product(price=price), headers=shop.admin.headers)

    assert response.status_code == 201
    assert response.json["price"] == expected
    assert _product(shop, response.json["productId"])["price"] == expected


@pytest.mark.parametrize(
    "price",
    [
        "49.999",
        49.999,
        "0.001",
        -1,
        "-0.01",
        "NaN",
        "Infinity",
        "-Infinity",
        "sNaN",
        "100000000.00",
        "99999999999999999999",
        1e300,
        "abc",
        "",
        True,
        None,
        [],
        {"amount": "1.00"},
    ],
)
def test_invalid_price_is_422_and_creates_no_product(shop: Shop, price: object) -> None:
    before = _total_products(shop)

    response = shop.web.post(PRODUCTS, json=_new_product(price=price), headers=shop.admin.headers)

    assert response.status_code == 422
    assert "price" in response.json["errors"]
    assert _total_products(shop) == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_json_number_price_is_422(shop: Shop, literal: str) -> None:
    raw = f'{{"name": "Lamp", "sku": "LAMP-NAN", "price": {literal}}}'

    response = shop.web.post(
        PRODUCTS, data=raw, content_type="application/json", headers=shop.admin.headers
    )

    assert response.status_code == 422
    assert "price" in response.json["errors"]
    assert _total_products(shop) == 0


ARABIC_INDIC_12_50 = "\u0661\u0662.\u0665\u0660"


@pytest.mark.parametrize("price", ["1_000", "1e2", ARABIC_INDIC_12_50])
def test_price_string_not_written_as_plain_decimal_digits_is_422(shop: Shop, price: str) -> None:
    """The OpenAPI document publishes the pattern ^\\d{1,7}(\\.\\d{1,2})?$ for money."""
    response = shop.web.post(PRODUCTS, json=_new_product(price=price), headers=shop.admin.headers)

    assert response.status_code == 422
    assert "price" in response.json["errors"]
    assert _total_products(shop) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"sku": "has spaces"}, "sku"),
        ({"sku": ""}, "sku"),
        ({"stock": -1}, "stock"),
        ({"stock": 1_000_001}, "stock"),
        ({"stock": "many"}, "stock"),
        ({"description": "x" * 5001}, "description"),
        ({"category": "lamps"}, "category"),
        ({"productId": str(uuid.uuid4())}, "productId"),
    ],
)
def test_invalid_product_is_422_and_creates_no_product(
    shop: Shop, change: dict, field: str
) -> None:
    response = shop.web.post(PRODUCTS, json=_new_product(**change), headers=shop.admin.headers)

    assert response.status_code == 422
    assert field in response.json["errors"]
    assert _total_products(shop) == 0


def test_fractional_stock_is_422_not_truncated(shop: Shop) -> None:
    response = shop.web.post(PRODUCTS, json=_new_product(stock=2.5), headers=shop.admin.headers)

    assert response.status_code == 422
    assert "stock" in response.json["errors"]
    assert _total_products(shop) == 0


def test_product_without_required_fields_is_422(shop: Shop) -> None:
    response = shop.web.post(PRODUCTS, json={}, headers=shop.admin.headers)

    assert response.status_code == 422
    assert set(response.json["errors"]) == {"name", "sku", "price"}


def test_duplicate_sku_is_409_and_keeps_the_first_product(shop: Shop) -> None:
    first = shop.add_product(price="5.00", stock=3)

    response = shop.web.post(
        PRODUCTS,
        json=_new_product(sku=first["sku"], price="6.00", stock=9),
        headers=shop.admin.headers,
    )

    assert response.status_code == 409
    assert response.json["code"] == 409
    assert _total_products(shop) == 1
    assert _product(shop, first["productId"])["price"] == "5.00"
    assert shop.stock_of(first["productId"]) == 3


def test_customer_cannot_create_a_product(shop: Shop) -> None:
    customer = shop.register()

    response = shop.web.post(PRODUCTS, json=_new_product(), headers=customer.headers)

    assert response.status_code == 403
    assert response.json["code"] == 403
    assert _total_products(shop) == 0


def test_creating_a_product_without_a_token_is_401(shop: Shop) -> None:
    response = shop.web.post(PRODUCTS, json=_new_product())

    assert response.status_code == 401
    assert _total_products(shop) == 0


# --- editing -------------------------------------------------------------------------------


def test_admin_patches_name_price_and_description(shop: Shop) -> None:
    product = shop.add_product(price="10.00", stock=4)

    response = shop.web.patch(
        f"{PRODUCTS}/{product['productId']}",
        json={"name": "Better widget", "price": 12.5, "description": "Now blue"},
        headers=shop.admin.headers,
    )

    assert response.status_code == 200
    assert response.json["name"] == "Better widget"
    assert response.json["price"] == "12.50"
    assert response.json["description"] == "Now blue"
    assert response.json["sku"] == product["sku"]
    assert response.json["stock"] == {"available": 4}
    assert _product(shop, product["productId"]) == response.json


def test_patch_changes_only_the_fields_sent(shop: Shop) -> None:
    product = shop.add_product(price="10.00", description="Keep me")

    response = shop.web.patch(
        f"{PRODUCTS}/{product['productId']}", json={"price": "11.00"}, headers=shop.admin.headers
    )

    assert response.status_code == 200
    assert response.json["price"] == "11.00"
    assert response.json["name"] == product["name"]
    assert response.json["description"] == "Keep me"


def test_patched_price_is_what_the_next_checkout_charges(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(price="10.00", stock=5)
    shop.web.patch(
        f"{PRODUCTS}/{product['productId']}", json={"price": "7.25"}, headers=shop.admin.headers
    )

    response = shop.checkout(customer, [(product["productId"], 2)])

    assert response.status_code == 201
    assert response.json["totalAmount"] == "14.50"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "1.001"}, "price"),
        ({"price": -5}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": None}, "price"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"sku": "NEW-SKU"}, "sku"),
        ({"stock": 99}, "stock"),
        ({"productId": str(uuid.uuid4())}, "productId"),
    ],
)
def test_invalid_patch_is_422_and_changes_nothing(shop: Shop, change: dict, field: str) -> None:
    product = shop.add_product(price="10.00", stock=4)

    response = shop.web.patch(
        f"{PRODUCTS}/{product['productId']}", json=change, headers=shop.admin.headers
    )

    assert response.status_code == 422
    assert field in response.json["errors"]
    assert _product(shop, product["productId"]) == product


def test_customer_cannot_patch_a_product(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(price="10.00")

    response = shop.web.patch(
        f"{PRODUCTS}/{product['productId']}", json={"price": "0.01"}, headers=customer.headers
    )

    assert response.status_code == 403
    assert _product(shop, product["productId"])["price"] == "10.00"


def test_patch_without_a_token_is_401(shop: Shop) -> None:
    product = shop.add_product(price="10.00")

    response = shop.web.patch(f"{PRODUCTS}/{product['productId']}", json={"price": "0.01"})

    assert response.status_code == 401
    assert _product(shop, product["productId"])["price"] == "10.00"


def test_patching_an_unknown_product_is_404(shop: Shop) -> None:
    response = shop.web.patch(
        f"{PRODUCTS}/{uuid.uuid4()}", json={"price": "1.00"}, headers=shop.admin.headers
    )

    assert response.status_code == 404
    assert response.json["code"] == 404


# --- inventory -----------------------------------------------------------------------------


def _adjust(shop: Shop, product_id: str, delta: object, headers: dict | None = None):
    return shop.web.post(
        f"{PRODUCTS}/{product_id}/inventory",
        json={"delta": delta},
        headers=shop.admin.headers if headers is None else headers,
    )


def test_admin_restocks_and_gets_the_new_stock(shop: Shop) -> None:
    product = shop.add_product(stock=5)

    response = _adjust(shop, product["productId"], 3)

    assert response.status_code == 200
    assert response.json["stock"] == {"available": 8}
    assert shop.stock_of(product["productId"]) == 8


def test_admin_writes_off_stock_down_to_zero(shop: Shop) -> None:
    product = shop.add_product(stock=5)

    response = _adjust(shop, product["productId"], -5)

    assert response.status_code == 200
    assert response.json["stock"] == {"available": 0}
    assert shop.stock_of(product["productId"]) == 0


def test_writing_off_more_than_available_is_409_and_keeps_stock(shop: Shop) -> None:
    product = shop.add_product(stock=5)

    response = _adjust(shop, product["productId"], -6)

    assert response.status_code == 409
    assert response.json["code"] == 409
    assert shop.stock_of(product["productId"]) == 5


def test_restocking_past_the_maximum_is_409_and_keeps_stock(shop: Shop) -> None:
    product = shop.add_product(stock=5)

    response = _adjust(shop, product["productId"], 1_000_000)

    assert response.status_code == 409
    assert shop.stock_of(product["productId"]) == 5


@pytest.mark.parametrize("delta", [0, 1.5, "lots", None, 1_000_001, -1_000_001])
def test_invalid_stock_delta_is_422_and_keeps_stock(shop: Shop, delta: object) -> None:
    product = shop.add_product(stock=5)

    response = _adjust(shop, product["productId"], delta)

    assert response.status_code == 422
    assert "delta" in response.json["errors"]
    assert shop.stock_of(product["productId"]) == 5


def test_stock_change_without_delta_or_with_extra_fields_is_422(shop: Shop) -> None:
    product = shop.add_product(stock=5)
    url = f"{PRODUCTS}/{product['productId']}/inventory"

    missing = shop.web.post(url, json={}, headers=shop.admin.headers)
    extra = shop.web.post(url, json={"delta": 1, "reason": "x"}, headers=shop.admin.headers)

    assert missing.status_code == 422
    assert "delta" in missing.json["errors"]
    assert extra.status_code == 422
    assert "reason" in extra.json["errors"]
    assert shop.stock_of(product["productId"]) == 5


def test_customer_cannot_change_stock(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)

    response = _adjust(shop, product["productId"], 100, headers=customer.headers)

    assert response.status_code == 403
    assert shop.stock_of(product["productId"]) == 5


def test_changing_stock_without_a_token_is_401(shop: Shop) -> None:
    product = shop.add_product(stock=5)

    response = _adjust(shop, product["productId"], 100, headers={})

    assert response.status_code == 401
    assert shop.stock_of(product["productId"]) == 5


def test_changing_stock_of_an_unknown_product_is_404(shop: Shop) -> None:
    response = _adjust(shop, str(uuid.uuid4()), 1)

    assert response.status_code == 404
    assert response.json["code"] == 404
