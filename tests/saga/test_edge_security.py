"""Safe at the edge: CORS, security headers, lockout and rate limits, tokens bound to live
accounts, the password policy and input limits, through the ports' HTTP API."""

from __future__ import annotations

import os
import stat
import time
import uuid
from dataclasses import replace
from pathlib import Path

import jwt
import pytest

from oms.app import start_runtime
from oms.config import Settings, _local_secret
from oms.db import sqlite_schema_files
from oms.runtime import Runtime
from tests.support import ADDRESS, PASSWORD, Shop

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ALLOWED = "https://shop.example.com"


def _shop(settings: Settings, **changes: object) -> tuple[Shop, Runtime]:
    runtime = start_runtime(replace(settings, **changes))
    return Shop(runtime), runtime


@pytest.fixture
def edge_shop(settings: Settings) -> Shop:
    shop, runtime = _shop(settings, cors_origins=(ALLOWED,))
    yield shop
    runtime.close()


def _registration(email: str, password: str = PASSWORD) -> dict:
    return {"email": email, "password": password, "firstName": "Ada", "lastName": "Lovelace"}


def _email() -> str:
    return f"edge-{uuid.uuid4().hex[:10]}@example.com"


# -- CORS ---------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["web", "mobile"])
def test_a_preflight_from_an_allowed_origin_allows_the_headers_clients_send(
    edge_shop: Shop, port: str
) -> None:
    response = edge_shop.clients[port].options(
        "/api/v1/checkout",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, "
            "x-request-id",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    for header in ("authorization", "content-type", "idempotency-key", "x-request-id"):
        assert header in allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_a_preflight_from_another_origin_gets_no_cors_headers(edge_shop: Shop) -> None:
    response = edge_shop.web.options(
        "/api/v1/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cross_origin_responses_expose_the_headers_clients_need(edge_shop: Shop) -> None:
    response = edge_shop.web.get("/api/v1/products", headers={"Origin": ALLOWED})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    for header in ("location", "retry-after", "ratelimit-limit", "x-request-id"):
        assert header in exposed


def test_no_origin_is_allowed_by_default(shop: Shop) -> None:
    response = shop.web.get("/api/v1/products", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_origins_are_read_from_the_environment() -> None:
    env = {"OMS_CORS_ORIGINS": "https://a.example, https://b.example/", "OMS_JWT_SECRET": "x" * 40}
    assert Settings.from_env(env).cors_origins == ("https://a.example", "https://b.example")


# -- headers and files --------------------------------------------------------------


def test_api_responses_carry_the_security_headers(shop: Shop) -> None:
    for port, client in shop.clients.items():
        response = client.get("/healthz")
        assert response.headers["X-Content-Type-Options"] == "nosniff", port
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_responses_with_a_token_or_personal_data_are_not_stored(shop: Shop) -> None:
    customer = shop.register()
    login = shop.web.post(LOGIN, json={"email": customer.email, "password": PASSWORD})
    assert login.status_code == 200
    assert login.headers["Cache-Control"] == "no-store"
    me = shop.web.get("/api/v1/users/me", headers=customer.headers)
    assert me.headers["Cache-Control"] == "no-store"
    assert "no-store" not in shop.web.get("/api/v1/products").headers.get("Cache-Control", "")


def test_the_docs_page_gets_a_csp_that_allows_its_own_assets_and_inline_script(
    shop: Shop,
) -> None:
    response = shop.web.get("/docs")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy


def test_sqlite_files_and_the_local_jwt_secret_are_private(tmp_path: Path) -> None:
    from oms.db import Database

    database = Database(f"sqlite:///{tmp_path / 'oms.db'}")
    database.ping()
    database.dispose()
    files = [
        tmp_path / "oms.db",
        *map(Path, sqlite_schema_files(str(tmp_path / "oms.db")).values()),
    ]
    for path in files:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    _local_secret(tmp_path / ".oms-jwt-secret")
    assert stat.S_IMODE(os.stat(tmp_path / ".oms-jwt-secret").st_mode) == 0o600


# -- lockout and rate limits ----------------------------------------------------------


def test_thirty_wrong_passwords_lock_the_account_out_with_429(shop: Shop) -> None:
    customer = shop.register()
    codes = [
        shop.web.post(LOGIN, json={"email": customer.email, "password": "wrong password!"})
        for _ in range(30)
    ]
    statuses = [response.status_code for response in codes]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    locked = codes[-1]
    assert int(locked.headers["Retry-After"]) >= 1
    assert locked.headers["RateLimit-Remaining"] == "0"
    assert "RateLimit-Limit" in locked.headers and "RateLimit-Reset" in locked.headers
    assert locked.json["code"] == 429
    # the right password is refused too while locked, with no password check
    right = shop.web.post(LOGIN, json={"email": customer.email, "password": PASSWORD})
    assert right.status_code == 429


def test_the_lockout_grows_and_ends(settings: Settings) -> None:
    shop, runtime = _shop(settings, login_max_failures=2, login_lockout_seconds=1)
    try:
        customer = shop.register()
        wrong = {"email": customer.email, "password": "wrong password!"}
        assert [shop.web.post(LOGIN, json=wrong).status_code for _ in range(2)] == [401, 401]
        assert shop.web.post(LOGIN, json=wrong).headers["Retry-After"] == "1"
        time.sleep(1.1)
        assert shop.web.post(LOGIN, json=wrong).status_code == 401  # third failure: 2 s
        assert shop.web.post(LOGIN, json=wrong).headers["Retry-After"] == "2"
        time.sleep(2.1)
        right = {"email": customer.email, "password": PASSWORD}
        assert shop.web.post(LOGIN, json=right).status_code == 200
        assert shop.web.post(LOGIN, json=wrong).status_code == 401  # the count was reset
    finally:
        runtime.close()


def test_failed_sign_ins_from_one_address_lock_that_address(settings: Settings) -> None:
    shop, runtime = _shop(settings, login_address_max_failures=4)
    try:
        for _ in range(4):
            wrong = {"email": _email(), "password": "wrong password!"}
            assert shop.web.post(LOGIN, json=wrong).status_code == 401
        customer = shop.register()
        right = {"email": customer.email, "password": PASSWORD}
        assert shop.web.post(LOGIN, json=right).status_code == 429
        other_address = shop.web.post(
            LOGIN, json=right, environ_overrides={"REMOTE_ADDR": "192.0.2.7"}
        )
        assert other_address.status_code == 200
    finally:
        runtime.close()


def test_the_lockout_is_seen_by_another_process_on_the_same_database(settings: Settings) -> None:
    first, first_runtime = _shop(settings, login_max_failures=3)
    second, second_runtime = _shop(settings, login_max_failures=3)
    try:
        customer = first.register()
        wrong = {"email": customer.email, "password": "wrong password!"}
        for _ in range(3):
            first.web.post(LOGIN, json=wrong)
        assert second.mobile.post(LOGIN, json=wrong).status_code == 429
    finally:
        first_runtime.close()
        second_runtime.close()


def test_sign_ups_per_address_are_limited(settings: Settings) -> None:
    shop, runtime = _shop(settings, register_rate_limit=3)
    try:
        codes = [
            shop.web.post(REGISTER, json=_registration(_email())).status_code for _ in range(4)
        ]
        assert codes == [201, 201, 201, 429]
    finally:
        runtime.close()


def test_checkouts_per_customer_are_limited(settings: Settings) -> None:
    shop, runtime = _shop(settings, checkout_rate_limit=2)
    try:
        customer = shop.register()
        product = shop.add_product(stock=10)["productId"]
        codes = [shop.checkout(customer, [(product, 1)]).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        other = shop.register()
        assert shop.checkout(other, [(product, 1)]).status_code == 201
    finally:
        runtime.close()


# -- tokens bound to live accounts ------------------------------------------------------


def _token(shop: Shop, **claims: object) -> str:
    now = int(time.time())
    payload = {"sub": str(uuid.uuid4()), "role": "customer", "iat": now, "exp": now + 60}
    payload.update(claims)
    return jwt.encode(payload, shop.runtime.settings.jwt_secret, algorithm="HS256")


def test_a_signed_token_for_no_user_is_401(shop: Shop) -> None:
    headers = {"Authorization": f"Bearer {_token(shop)}"}
    product = shop.add_product()["productId"]
    assert shop.web.get("/api/v1/users/me", headers=headers).status_code == 401
    checkout = shop.web.post(
        "/api/v1/checkout",
        json={
            "items": [{"productId": product, "quantity": 1}],
            "shippingAddress": ADDRESS,
            "paymentMethod": {"type": "card", "token": "tok_visa"},
        },
        headers=headers,
    )
    assert checkout.status_code == 401


def test_a_token_claiming_another_role_than_the_users_is_401(shop: Shop) -> None:
    customer = shop.register()
    forged = _token(shop, sub=customer.user_id, role="admin")
    response = shop.web.get("/api/v1/orders", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_a_token_living_longer_than_the_configured_lifetime_is_401(shop: Shop) -> None:
    customer = shop.register()
    now = int(time.time())
    long_lived = _token(shop, sub=customer.user_id, iat=now, exp=now + 10 * 365 * 86400)
    headers = {"Authorization": f"Bearer {long_lived}"}
    assert shop.web.get("/api/v1/users/me", headers=headers).status_code == 401


def test_changing_the_password_voids_every_earlier_token(shop: Shop) -> None:
    customer = shop.register()
    second = shop.web.post(LOGIN, json={"email": customer.email, "password": PASSWORD}).json
    new = "a brand new pass phrase"
    response = shop.web.post(
        "/api/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": new},
        headers=customer.headers,
    )
    assert response.status_code == 204
    for token in (customer.token, second["token"]):
        me = shop.web.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401
    assert (
        shop.web.post(LOGIN, json={"email": customer.email, "password": PASSWORD}).status_code
        == 401
    )
    fresh = shop.web.post(LOGIN, json={"email": customer.email, "password": new})
    assert fresh.status_code == 200
    me = shop.web.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {fresh.json['token']}"}
    )
    assert me.status_code == 200


def test_changing_the_password_needs_the_current_one_and_a_good_new_one(shop: Shop) -> None:
    customer = shop.register()
    url = "/api/v1/users/me/password"
    wrong = shop.web.post(
        url,
        json={"currentPassword": "not my password", "newPassword": "a brand new pass phrase"},
        headers=customer.headers,
    )
    assert wrong.status_code == 403
    weak = shop.web.post(
        url, json={"currentPassword": PASSWORD, "newPassword": "password"}, headers=customer.headers
    )
    assert weak.status_code == 422
    assert "newPassword" in weak.json["errors"]
    assert shop.web.post(url, json={}, headers=customer.headers).status_code == 422
    assert shop.web.post(url, json={"currentPassword": PASSWORD}).status_code == 401


# -- password policy and input ---------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "12345678",
        "        ",
        "short pass",
        "passwordpassword",
        "aaaaaaaaaaaaaa",
        "é" * 37,
    ],
)
def test_weak_passwords_are_refused_at_sign_up(shop: Shop, password: str) -> None:
    response = shop.web.post(REGISTER, json=_registration(_email(), password=password))
    assert response.status_code == 422
    assert "password" in response.json["errors"]


def test_the_email_is_not_a_password(shop: Shop) -> None:
    email = _email()
    response = shop.web.post(REGISTER, json=_registration(email, password=email))
    assert response.status_code == 422
    assert "password" in response.json["errors"]


def test_two_lines_of_a_thousand_of_one_product_are_422(shop: Shop) -> None:
    customer = shop.register()
    product = shop.add_product(stock=10_000)["productId"]
    response = shop.checkout(customer, [(product, 1000), (product, 1000)])
    assert response.status_code == 422
    assert "items" in response.json["errors"]
    assert shop.checkout(customer, [(product, 500), (product, 500)]).status_code == 201


@pytest.mark.parametrize("country", ["ZZ", "XX", "us", "USA"])
def test_an_unknown_country_is_422(shop: Shop, country: str) -> None:
    customer = shop.register()
    response = shop.web.post(
        "/api/v1/users/me/addresses", json={**ADDRESS, "country": country}, headers=customer.headers
    )
    assert response.status_code == 422
    assert "country" in response.json["errors"]


def test_names_and_address_lines_are_stripped_and_must_not_be_blank(shop: Shop) -> None:
    blank = shop.web.post(REGISTER, json={**_registration(_email()), "firstName": "    "})
    assert blank.status_code == 422
    customer = shop.register()
    spaced = shop.web.post(
        "/api/v1/users/me/addresses",
        json={**ADDRESS, "line1": "  1 Main Street  ", "city": " Springfield"},
        headers=customer.headers,
    )
    assert spaced.status_code == 201
    assert (spaced.json["line1"], spaced.json["city"]) == ("1 Main Street", "Springfield")
    empty_line = shop.web.post(
        "/api/v1/users/me/addresses", json={**ADDRESS, "line1": " \t "}, headers=customer.headers
    )
    assert empty_line.status_code == 422


@pytest.mark.parametrize("price", ["0", "0.00", 0])
def test_a_free_product_is_422(shop: Shop, price: object) -> None:
    response = shop.web.post(
        "/api/v1/products",
        json={"name": "Gift", "sku": f"G-{uuid.uuid4().hex[:8]}", "price": price},
        headers=shop.admin.headers,
    )
    assert response.status_code == 422
    assert "price" in response.json["errors"]


def test_created_resources_link_to_the_operations_that_read_them(shop: Shop) -> None:
    for port, client in shop.clients.items():
        document = client.get("/openapi.json").json
        for path, operations in document["paths"].items():
            created = operations.get("post", {}).get("responses", {}).get("201")
            if created is None:
                continue
            assert created.get("links"), f"{port} POST {path}: no links"
            for link in created["links"].values():
                pointer = link["operationRef"].removeprefix("#/paths/")
                target_path, _, method = pointer.rpartition("/")
                target = target_path.replace("~1", "/").replace("~0", "~")
                assert method in document["paths"][target], (port, path, link)


def test_lockout_and_password_change_hold_in_both_modes(saga_shop: Shop) -> None:
    """SQLite + in-memory bus, and PostgreSQL + RabbitMQ (row locks on the throttle)."""
    shop = saga_shop
    customer = shop.register()
    wrong = {"email": customer.email, "password": "wrong password!"}
    statuses = [shop.web.post(LOGIN, json=wrong).status_code for _ in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    change = shop.web.post(
        "/api/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": "a brand new pass phrase"},
        headers=customer.headers,
    )
    assert change.status_code == 429  # locked: not even the current password is checked
    other = shop.register()
    change = shop.web.post(
        "/api/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": "a brand new pass phrase"},
        headers=other.headers,
    )
    assert change.status_code == 204
    assert shop.web.get("/api/v1/users/me", headers=other.headers).status_code == 401
