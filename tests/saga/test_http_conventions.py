"""The conventions every port keeps: one JSON error shape, status codes, auth, health, docs."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import jwt
import pytest
from werkzeug.test import TestResponse

from tests.support import ADDRESS, PASSWORD, VISA, Customer, Shop

PORTS = ["orders", "products", "users", "payments", "web", "mobile"]
REGISTER = "/api/v1/auth/register"
PRODUCTS = "/api/v1/products"
CHECKOUT = "/api/v1/checkout"
# No product has this id; fixed, so every pytest-xdist worker collects the same test ids.
UNKNOWN_PRODUCT = f"{PRODUCTS}/6f1c2e0a-3b7d-4c5e-9a8f-0d1e2f3a4b5c"
ME = "/api/v1/users/me"

# The routes the contract gives each port, with their methods.
CONTRACT_PATHS = {
    "orders": {"/api/v1/orders": {"post"}, "/api/v1/orders/{order_id}": {"get"}},
    "products": {"/api/v1/products": {"post"}, "/api/v1/products/{product_id}": {"get"}},
    "users": {
        "/api/v1/users/register": {"post"},
        "/api/v1/users/{user_id}": {"get"},
        "/api/v1/users/{user_id}/addresses/{address_id}": {"get"},
    },
    "payments": {
        "/api/v1/payments": {"post"},
        "/api/v1/payments/order/{order_id}": {"get"},
        "/api/v1/payment-methods/{payment_method_id}": {"get"},
    },
    "web": {
        "/api/v1/auth/register": {"post"},
        "/api/v1/auth/login": {"post"},
        "/api/v1/users/me": {"get", "patch"},
        "/api/v1/users/me/addresses": {"get", "post"},
        "/api/v1/users/me/addresses/{address_id}": {"patch", "delete"},
        "/api/v1/users/me/payment-methods": {"get", "post"},
        "/api/v1/users/me/payment-methods/{payment_method_id}": {"patch", "delete"},
        "/api/v1/webhooks": {"get", "post"},
        "/api/v1/webhooks/{webhook_id}": {"get", "patch", "delete"},
        "/api/v1/webhooks/{webhook_id}/deliveries": {"get"},
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": {"post"},
        "/api/v1/products": {"get", "post"},
        "/api/v1/products/{product_id}": {"get", "patch"},
        "/api/v1/products/{product_id}/inventory": {"post"},
        "/api/v1/checkout": {"post"},
        "/api/v1/orders": {"get"},
        "/api/v1/orders/{order_id}": {"get"},
        "/api/v1/orders/{order_id}/details": {"get"},
        "/api/v1/orders/{order_id}/cancel": {"post"},
        "/api/v1/orders/{order_id}/ship": {"post"},
    },
    "mobile": {
        "/api/v1/auth/login": {"post"},
        "/api/v1/auth/register": {"post"},
        "/api/v1/products": {"get"},
        "/api/v1/products/{product_id}": {"get"},
        "/api/v1/users/me/addresses": {"get", "post"},
        "/api/v1/users/me/addresses/{address_id}": {"patch", "delete"},
        "/api/v1/users/me/payment-methods": {"get", "post"},
        "/api/v1/users/me/payment-methods/{payment_method_id}": {"patch", "delete"},
        "/api/v1/checkout": {"post"},
        "/api/v1/orders": {"get"},
        "/api/v1/orders/{order_id}": {"get"},
        "/api/v1/orders/{order_id}/cancel": {"post"},
    },
}


def assert_error(response: TestResponse, code: int) -> dict:
    """The contract's one error shape, as JSON, never HTML."""
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) <= {"code", "status", "message", "errors"}
    assert body["code"] == code
    assert body["status"] == HTTPStatus(code).phrase
    assert isinstance(body["message"], str)
    assert body["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def _token(shop: Shop, customer: Customer, secret: str | None = None, **claims: object) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": customer.user_id,
        "role": "customer",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        **claims,
    }
    payload = {key: value for key, value in payload.items() if value is not None}
    return jwt.encode(payload, secret or shop.runtime.settings.jwt_secret, algorithm="HS256")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _product_total(shop: Shop) -> int:
    return shop.web.get(PRODUCTS).json["total"]


def _can_log_in(shop: Shop, email: str) -> bool:
    response = shop.web.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return response.status_code == 200


# --- error shape ---------------------------------------------------------------------------


def test_validation_error_has_the_error_shape_with_errors_per_field(shop: Shop) -> None:
    response = shop.web.post(REGISTER, json={"email": "nope", "password": PASSWORD})

    body = assert_error(response, 422)
    assert set(body["errors"]) == {"email", "firstName", "lastName"}
    assert all(isinstance(messages, list) for messages in body["errors"].values())


def test_conflict_has_the_error_shape_without_errors(shop: Shop) -> None:
    customer = shop.register()
    body = {"email": customer.email, "password": PASSWORD, "firstName": "A", "lastName": "B"}

    response = shop.web.post(REGISTER, json=body)

    assert "errors" not in assert_error(response, 409)


# --- 400 malformed JSON --------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b'{"email": "a@b.io", ', b"{'email': 'a@b.io'}", b"not json", b'{"a": 1}}', b"\xff\xfe\x00"],
)
def test_malformed_json_is_400_and_creates_nothing(shop: Shop, raw: bytes) -> None:
    response = shop.web.post(REGISTER, data=raw, content_type="application/json")

    assert_error(response, 400)


def test_malformed_json_on_an_authenticated_route_is_400_and_creates_nothing(shop: Shop) -> None:
    response = shop.web.post(
        PRODUCTS,
        data=b'{"name": "Lamp", "sku": "LAMP-1", "price": ',
        content_type="application/json",
        headers=shop.admin.headers,
    )

    assert_error(response, 400)
    assert _product_total(shop) == 0


def test_deeply_nested_json_is_a_client_error_not_500(shop: Shop) -> None:
    customer = shop.register()
    depth = 5000  # 10 KB, well under the body limit

    response = shop.web.post(
        CHECKOUT,
        data="[" * depth + "]" * depth,
        content_type="application/json",
        headers=customer.headers,
    )

    assert_error(response, 400)


@pytest.mark.parametrize("raw", ["[]", "null", '"text"', "42"])
def test_json_that_is_not_an_object_is_422(shop: Shop, raw: str) -> None:
    response = shop.web.post(REGISTER, data=raw, content_type="application/json")

    assert_error(response, 422)


# --- 413 body too large --------------------------------------------------------------------


def test_body_over_the_limit_is_413_and_creates_nothing(shop: Shop) -> None:
    email = f"big-{uuid.uuid4().hex[:8]}@example.com"
    limit = shop.runtime.settings.max_body_bytes
    body = {"email": email, "password": PASSWORD, "firstName": "x" * limit, "lastName": "B"}

    response = shop.web.post(REGISTER, json=body)

    assert_error(response, 413)
    assert not _can_log_in(shop, email)


def test_checkout_body_over_the_limit_is_413_and_holds_no_stock(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    limit = shop.runtime.settings.max_body_bytes
    body = {
        "items": [{"productId": product["productId"], "quantity": 1}],
        "shippingAddress": {**ADDRESS, "line2": "x" * limit},
        "paymentMethod": VISA,
    }

    response = shop.web.post(CHECKOUT, json=body, headers=customer.headers)

    assert_error(response, 413)
    assert shop.stock_of(product["productId"]) == 5
    assert shop.web.get("/api/v1/orders", headers=customer.headers).json["total"] == 0


# --- 422 unknown fields --------------------------------------------------------------------


def test_unknown_top_level_field_is_422_naming_it(shop: Shop) -> None:
    body = {
        "name": "Lamp",
        "sku": "LAMP-1",
        "price": "1.00",
        "discount": "0.50",
    }

    response = shop.web.post(PRODUCTS, json=body, headers=shop.admin.headers)

    assert assert_error(response, 422)["errors"] == {"discount": ["Unknown field."]}
    assert _product_total(shop) == 0


@pytest.mark.parametrize(
    ("part", "value", "expected"),
    [
        (
            "shippingAddress",
            {**ADDRESS, "zip": "1"},
            {"shippingAddress": {"zip": ["Unknown field."]}},
        ),
        ("paymentMethod", {**VISA, "cvc": "123"}, {"paymentMethod": {"cvc": ["Unknown field."]}}),
    ],
)
def test_unknown_nested_field_is_422_at_its_path(
    shop: Shop, part: str, value: dict, expected: dict
) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    body = {
        "items": [{"productId": product["productId"], "quantity": 1}],
        "shippingAddress": ADDRESS,
        "paymentMethod": VISA,
        part: value,
    }

    response = shop.web.post(CHECKOUT, json=body, headers=customer.headers)

    assert assert_error(response, 422)["errors"] == expected
    assert shop.stock_of(product["productId"]) == 5


def test_unknown_field_in_a_list_item_is_422_at_its_index(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=5)
    items = [
        {"productId": product["productId"], "quantity": 1},
        {"productId": product["productId"], "quantity": 1, "gift": True},
    ]
    body = {"items": items, "shippingAddress": ADDRESS, "paymentMethod": VISA}

    response = shop.web.post(CHECKOUT, json=body, headers=customer.headers)

    assert assert_error(response, 422)["errors"] == {"items": {"1": {"gift": ["Unknown field."]}}}
    assert shop.stock_of(product["productId"]) == 5


# --- never a 500 for bad input -------------------------------------------------------------


LONE_SURROGATE = "\\ud800"  # valid JSON escape, but not a Unicode scalar value


@pytest.mark.parametrize(
    ("path", "raw", "admin"),
    [
        (
            REGISTER,
            '{"email": "s@example.com", "password": "pass%sword", "firstName": "A", '
            '"lastName": "B"}',
            False,
        ),
        (
            REGISTER,
            '{"email": "s@example.com", "password": "password1", "firstName": "%s", '
            '"lastName": "B"}',
            False,
        ),
        ("/api/v1/auth/login", '{"email": "s@example.com", "password": "pass%sword"}', False),
        (PRODUCTS, '{"name": "Lamp%s", "sku": "LAMP-S", "price": "1.00"}', True),
    ],
    ids=["register-password", "register-name", "login-password", "product-name"],
)
def test_string_with_a_lone_surrogate_is_a_client_error_not_500(
    shop: Shop, path: str, raw: str, admin: bool
) -> None:
    headers = shop.admin.headers if admin else {}

    response = shop.web.post(
        path, data=raw % LONE_SURROGATE, content_type="application/json", headers=headers
    )

    assert response.status_code in (400, 422), response.get_data(as_text=True)
    assert_error(response, response.status_code)


def test_address_with_a_lone_surrogate_is_a_client_error_not_500(shop: Shop) -> None:
    customer = shop.register()
    raw = '{"line1": "1 Main%s", "city": "X", "postalCode": "1", "country": "US"}'

    response = shop.web.post(
        "/api/v1/users/me/addresses",
        data=raw % LONE_SURROGATE,
        content_type="application/json",
        headers=customer.headers,
    )

    assert response.status_code in (400, 422), response.get_data(as_text=True)
    assert shop.web.get("/api/v1/users/me/addresses", headers=customer.headers).json["total"] == 0


# --- 401 -----------------------------------------------------------------------------------


def test_missing_token_is_401(shop: Shop) -> None:
    assert_error(shop.web.get(ME), 401)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer not.a.jwt", "Bearer abc"],
)
def test_malformed_authorization_header_is_401(shop: Shop, authorization: str) -> None:
    assert_error(shop.web.get(ME, headers={"Authorization": authorization}), 401)


def test_expired_token_is_401(shop: Shop) -> None:
    customer = shop.register()
    now = datetime.now(UTC)
    token = _token(shop, customer, iat=now - timedelta(hours=2), exp=now - timedelta(seconds=1))

    response = shop.web.get(ME, headers=_bearer(token))

    assert_error(response, 401)


def test_token_signed_with_another_secret_is_401(shop: Shop) -> None:
    customer = shop.register()
    token = _token(shop, customer, secret="some-other-secret-that-is-long-enough!!")

    assert_error(shop.web.get(ME, headers=_bearer(token)), 401)


def test_unsigned_token_is_401(shop: Shop) -> None:
    customer = shop.register()
    now = datetime.now(UTC)
    claims = {"sub": customer.user_id, "role": "admin", "iat": now, "exp": now + timedelta(hours=1)}
    token = jwt.encode(claims, key=None, algorithm="none")

    response = shop.web.post(
        PRODUCTS,
        json={"name": "Lamp", "sku": "LAMP-1", "price": "1.00"},
        headers=_bearer(token),
    )

    assert_error(response, 401)
    assert _product_total(shop) == 0


@pytest.mark.parametrize("claim", ["exp", "sub", "role", "iat"])
def test_token_missing_a_required_claim_is_401(shop: Shop, claim: str) -> None:
    customer = shop.register()
    token = _token(shop, customer, **{claim: None})

    assert_error(shop.web.get(ME, headers=_bearer(token)), 401)


def test_token_with_an_unknown_role_is_401(shop: Shop) -> None:
    customer = shop.register()
    token = _token(shop, customer, role="superuser")

    assert_error(shop.web.get(ME, headers=_bearer(token)), 401)


def test_valid_token_is_accepted_with_a_lower_case_scheme(shop: Shop) -> None:
    customer = shop.register()

    response = shop.web.get(ME, headers={"Authorization": f"bearer {customer.token}"})

    assert response.status_code == 200


def test_401_tells_the_client_to_use_a_bearer_token(shop: Shop) -> None:
    response = shop.web.get(ME)

    assert_error(response, 401)
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_missing_token_is_401_even_when_the_body_is_invalid(shop: Shop) -> None:
    response = shop.web.post(PRODUCTS, json={"bogus": True})

    assert_error(response, 401)


# --- 403 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", PRODUCTS, {"name": "Lamp", "sku": "LAMP-1", "price": "1.00"}),
        ("patch", PRODUCTS + "/{product}", {"price": "0.01"}),
        ("post", PRODUCTS + "/{product}/inventory", {"delta": 100}),
        ("post", "/api/v1/orders/{order}/ship", None),
    ],
)
def test_customer_on_an_admin_route_is_403_and_changes_nothing(
    shop: Shop, method: str, path: str, body: dict | None
) -> None:
    customer = shop.register()
    product = shop.add_product(price="10.00", stock=5)
    order_id = shop.checkout(customer, [(product["productId"], 1)]).json["orderId"]
    url = path.format(product=product["productId"], order=order_id)

    response = getattr(shop.web, method)(url, json=body, headers=customer.headers)

    assert_error(response, 403)
    assert _product_total(shop) == 1
    after = shop.web.get(f"{PRODUCTS}/{product['productId']}").json
    assert (after["price"], after["stock"]["available"]) == ("10.00", 4)
    assert shop.order(customer, order_id)["status"] == "processing"


def test_customer_token_forged_with_admin_role_by_another_secret_is_401_not_admin(
    shop: Shop,
) -> None:
    customer = shop.register()
    token = _token(shop, customer, secret="attacker-secret-that-is-long-enough!!", role="admin")

    response = shop.web.post(
        PRODUCTS,
        json={"name": "Lamp", "sku": "LAMP-1", "price": "1.00"},
        headers=_bearer(token),
    )

    assert_error(response, 401)
    assert _product_total(shop) == 0


# --- 404 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("port", PORTS)
def test_unknown_route_is_a_json_404_on_every_port(shop: Shop, port: str) -> None:
    response = shop.clients[port].get("/api/v1/no-such-thing")

    assert_error(response, 404)
    assert "<html" not in response.get_data(as_text=True).lower()


@pytest.mark.parametrize("path", [UNKNOWN_PRODUCT, f"{PRODUCTS}/not-a-uuid", "/api/v1/products/"])
def test_unknown_or_malformed_id_is_a_json_404(shop: Shop, path: str) -> None:
    response = shop.web.get(path, follow_redirects=True)

    assert_error(response, 404)


# --- 405 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("put", "/api/v1/auth/login", {"POST"}),
        ("get", "/api/v1/auth/register", {"POST"}),
        ("delete", UNKNOWN_PRODUCT, {"GET", "PATCH"}),
        ("get", CHECKOUT, {"POST"}),
        ("delete", "/api/v1/orders", {"GET"}),
    ],
)
def test_wrong_method_is_405_with_an_allow_header(
    shop: Shop, method: str, path: str, allowed: set[str]
) -> None:
    response = getattr(shop.web, method)(path)

    assert_error(response, 405)
    allow = {part.strip() for part in response.headers["Allow"].split(",")}
    assert allowed <= allow
    assert method.upper() not in allow


# --- operations ----------------------------------------------------------------------------


@pytest.mark.parametrize("port", PORTS)
def test_healthz_is_200_on_every_port(shop: Shop, port: str) -> None:
    response = shop.clients[port].get("/healthz")

    assert response.status_code == 200
    assert response.is_json


@pytest.mark.parametrize("port", PORTS)
def test_readyz_is_200_when_database_and_broker_are_reachable(shop: Shop, port: str) -> None:
    response = shop.clients[port].get("/readyz")

    assert response.status_code == 200
    assert response.is_json


# --- OpenAPI and docs ----------------------------------------------------------------------


@pytest.mark.parametrize("port", PORTS)
def test_openapi_document_lists_the_contract_routes_of_every_port(shop: Shop, port: str) -> None:
    response = shop.clients[port].get("/openapi.json")

    assert response.status_code == 200
    assert response.is_json
    document = response.json
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, methods in CONTRACT_PATHS[port].items():
        assert path in paths, f"{path} missing from the {port} document"
        assert methods <= set(paths[path]), f"{path} on {port}: {sorted(paths[path])}"


def test_web_openapi_document_declares_bearer_auth(shop: Shop) -> None:
    document = shop.web.get("/openapi.json").json

    schemes = document["components"]["securitySchemes"]
    assert any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes.values())
    assert "security" in document["paths"]["/api/v1/checkout"]["post"]
    assert "security" not in document["paths"]["/api/v1/auth/login"]["post"]


@pytest.mark.parametrize("port", PORTS)
def test_docs_page_is_served_on_every_port(shop: Shop, port: str) -> None:
    response = shop.clients[port].get("/docs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "openapi.json" in response.get_data(as_text=True)


@pytest.mark.parametrize("port", PORTS)
def test_docs_page_uses_only_local_assets_that_load(shop: Shop, port: str) -> None:
    client = shop.clients[port]
    html = client.get("/docs").get_data(as_text=True)

    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)

    assert assets, "the docs page loads no assets at all"
    assert not re.search(r"(https?:)?//", html.replace("://localhost", "")), "absolute URL"
    for name in ("unpkg", "jsdelivr", "cdnjs", "googleapis", "cloudflare"):
        assert name not in html.lower()
    for asset in assets:
        assert asset.startswith("/"), asset
        loaded = client.get(asset)
        assert loaded.status_code == 200, asset
        assert loaded.data
