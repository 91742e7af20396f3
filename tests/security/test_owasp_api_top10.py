"""The OWASP API Security Top 10 (2023), one section per risk, tried against OMS's ports.

Each probe is something an attacker (or a careless client) would send; each must be
refused the way the contract says. Every probe is counted in a ledger; at the end of the
module a table of probes tried and refused per risk is printed (the README's figures
come from it: `pytest tests/security -q -s`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import jwt
import pytest
from werkzeug.test import TestResponse

from oms.app import start_runtime
from oms.bus import Event, MalformedEvent
from oms.bus.catalogue import event_type_of
from oms.config import Settings
from tests.support import ADDRESS, PASSWORD, VISA, Customer, Shop

RISKS = {
    "API1": "Broken Object Level Authorization",
    "API2": "Broken Authentication",
    "API3": "Broken Object Property Level Authorization",
    "API4": "Unrestricted Resource Consumption",
    "API5": "Broken Function Level Authorization",
    "API6": "Unrestricted Access to Sensitive Business Flows",
    "API7": "Server Side Request Forgery",
    "API8": "Security Misconfiguration",
    "API9": "Improper Inventory Management",
    "API10": "Unsafe Consumption of APIs",
}
TRIED: Counter[str] = Counter()
REFUSED: Counter[str] = Counter()


def figures() -> list[str]:
    """The table of probes tried and refused per risk (printed by tests/security/conftest.py)."""
    lines = ["OWASP API Security Top 10 (2023): probes tried / refused"]
    for risk, name in RISKS.items():
        lines.append(f"  {risk:<6}{name:<50}{TRIED[risk]:>4} /{REFUSED[risk]:>4}")
    lines.append(f"  {'total':<56}{sum(TRIED.values()):>4} /{sum(REFUSED.values()):>4}")
    return lines


def refused(risk: str, response: TestResponse, *statuses: int) -> None:
    """Count a probe; it must be refused with one of `statuses`, in the one error shape."""
    TRIED[risk] += 1
    assert response.status_code in statuses, (risk, response.status_code, response.get_data())
    body = response.json
    assert body is not None and body.get("code") == response.status_code, body
    assert set(body) >= {"code", "status", "message"}
    REFUSED[risk] += 1


def held(risk: str, condition: bool, what: str) -> None:
    """Count a probe that is judged by a condition rather than a refusal status."""
    TRIED[risk] += 1
    assert condition, what
    REFUSED[risk] += 1


@pytest.fixture
def owasp_shop(settings: Settings) -> Iterator[Shop]:
    runtime = start_runtime(replace(settings, cors_origins=("https://shop.example.com",)))
    yield Shop(runtime)
    runtime.close()


def _token(
    shop: Shop, secret: str | None = None, algorithm: str = "HS256", **claims: object
) -> str:
    now = int(time.time())
    payload: dict[str, object] = {
        "sub": str(uuid.uuid4()),
        "role": "customer",
        "iat": now,
        "exp": now + 60,
    }
    payload.update(claims)
    key = None if algorithm == "none" else (secret or shop.runtime.settings.jwt_secret)
    return jwt.encode(payload, key, algorithm=algorithm)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _paid_order(shop: Shop, customer: Customer) -> str:
    product = shop.add_product(stock=100)["productId"]
    response = shop.checkout(customer, [(product, 1)])
    assert response.status_code == 201, response.json
    return response.json["orderId"]


# -- API1: Broken Object Level Authorization -------------------------------------------
# Tries: another customer's order, its details, cancelling it; another customer's saved
# address and card in a mobile checkout; ids that do not exist. Asserts: 404 every time
# (the object's existence is not revealed), never 200 or 403.


def test_api1_objects_of_another_customer_are_not_found(owasp_shop: Shop) -> None:
    shop = owasp_shop
    owner, attacker = shop.register(), shop.register()
    order_id = _paid_order(shop, owner)
    address_id, card_id = shop.save_address(owner), shop.save_card(owner)
    headers = attacker.headers
    refused("API1", shop.web.get(f"/api/v1/orders/{order_id}", headers=headers), 404)
    refused("API1", shop.web.get(f"/api/v1/orders/{order_id}/details", headers=headers), 404)
    refused("API1", shop.web.post(f"/api/v1/orders/{order_id}/cancel", headers=headers), 404)
    refused("API1", shop.mobile.get(f"/api/v1/orders/{order_id}", headers=headers), 404)
    product = shop.add_product(stock=10)["productId"]
    for address, card in (
        (address_id, shop.save_card(attacker)),
        (shop.save_address(attacker), card_id),
    ):
        body = {"items": [{"productId": product, "quantity": 1}], "addressId": address}
        body["paymentMethodId"] = card
        refused("API1", shop.mobile.post("/api/v1/checkout", json=body, headers=headers), 404)
    refused("API1", shop.web.get(f"/api/v1/orders/{uuid.uuid4()}", headers=headers), 404)
    held("API1", shop.order(owner, order_id)["status"] == "processing", "owner's order intact")


# -- API2: Broken Authentication ----------------------------------------------------------
# Tries: no token, a malformed one, alg=none, a wrong key, an expired token, a token for
# a user that does not exist, a forged role, a lifetime beyond the configured one, a
# token from before a password change, and 30 wrong passwords for one account.
# Asserts: 401 for each token, 429 (with Retry-After) once the account is locked.


def test_api2_tokens_that_do_not_belong_to_a_live_account_are_401(owasp_shop: Shop) -> None:
    shop = owasp_shop
    customer = shop.register()
    now = int(time.time())
    tokens = [
        "not-a-jwt",
        _token(shop, algorithm="none", sub=customer.user_id),
        _token(shop, secret="another-secret-that-is-long-enough-32b", sub=customer.user_id),
        _token(shop, sub=customer.user_id, iat=now - 7200, exp=now - 3600),
        _token(shop),  # signed correctly, for nobody
        _token(shop, sub=customer.user_id, role="admin"),
        _token(shop, sub=customer.user_id, exp=now + 30 * 86400),
    ]
    refused("API2", shop.web.get("/api/v1/users/me"), 401)
    for token in tokens:
        refused("API2", shop.web.get("/api/v1/users/me", headers=_bearer(token)), 401)
    change = shop.web.post(
        "/api/v1/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": "an entirely new pass phrase"},
        headers=customer.headers,
    )
    assert change.status_code == 204
    refused("API2", shop.web.get("/api/v1/users/me", headers=customer.headers), 401)


def test_api2_guessing_a_password_is_locked_out(owasp_shop: Shop) -> None:
    shop = owasp_shop
    victim = shop.register()
    answers = [
        shop.web.post("/api/v1/auth/login", json={"email": victim.email, "password": f"guess {n}!"})
        for n in range(30)
    ]
    for answer in answers:
        refused("API2", answer, 401, 429)
    held("API2", answers[-1].status_code == 429, "locked after repeated failures")
    held("API2", "Retry-After" in answers[-1].headers, "Retry-After on the lockout")


# -- API3: Broken Object Property Level Authorization --------------------------------------
# Tries: mass assignment (a role at sign-up, prices and totals in a checkout, an owner in
# an address), and reads that could leak properties (password hash, gateway token).
# Asserts: unknown properties are 422; no response carries a hash or a card token.


def test_api3_properties_a_client_may_not_set_are_refused(owasp_shop: Shop) -> None:
    shop = owasp_shop
    customer = shop.register()
    product = shop.add_product(price="10.00")["productId"]
    registration = {
        "email": f"mass-{uuid.uuid4().hex[:8]}@example.com",
        "password": PASSWORD,
        "firstName": "Eve",
        "lastName": "Adams",
    }
    for extra in ({"role": "admin"}, {"userId": str(uuid.uuid4())}, {"tokenVersion": 0}):
        refused("API3", shop.web.post("/api/v1/auth/register", json=registration | extra), 422)
    item = {"productId": product, "quantity": 1}
    for line in (item | {"unitPrice": "0.01"}, item | {"price": "0.01"}):
        body = {"items": [line], "shippingAddress": ADDRESS, "paymentMethod": VISA}
        refused("API3", shop.web.post("/api/v1/checkout", json=body, headers=customer.headers), 422)
    body = {"items": [item], "shippingAddress": ADDRESS, "paymentMethod": VISA, "totalAmount": "1"}
    refused("API3", shop.web.post("/api/v1/checkout", json=body, headers=customer.headers), 422)
    address = ADDRESS | {"userId": str(uuid.uuid4())}
    response = shop.web.post("/api/v1/users/me/addresses", json=address, headers=customer.headers)
    refused("API3", response, 422)
    shop.save_card(customer)
    order_id = _paid_order(shop, customer)
    for path in ("/api/v1/users/me", f"/api/v1/orders/{order_id}/details"):
        text = shop.web.get(path, headers=customer.headers).get_data(as_text=True)
        held("API3", "$2b$" not in text and "password" not in text.lower(), f"{path} leaks")
    cards = shop.web.get("/api/v1/users/me/payment-methods", headers=customer.headers)
    held("API3", "tok_visa" not in cards.get_data(as_text=True), "card token echoed")


# -- API4: Unrestricted Resource Consumption ---------------------------------------------
# Tries: a body over the limit, a page size over the maximum, a quantity over the cap,
# the cap split over two lines, more lines than allowed, deep JSON nesting, a huge
# number. Asserts: 413 or 422, never a 500.


def test_api4_oversized_requests_are_refused(owasp_shop: Shop) -> None:
    shop = owasp_shop
    customer = shop.register()
    product = shop.add_product(stock=100_000)["productId"]
    big = {"email": "a@example.com", "password": "x" * 70_000}
    refused("API4", shop.web.post("/api/v1/auth/login", json=big), 413)
    refused("API4", shop.web.get("/api/v1/products?pageSize=100000"), 422)
    refused("API4", shop.web.get("/api/v1/products?page=99999999999"), 422)
    refused("API4", shop.checkout(customer, [(product, 1001)]), 422)
    refused("API4", shop.checkout(customer, [(product, 1000), (product, 1000)]), 422)
    refused("API4", shop.checkout(customer, [(product, 1)] * 101), 422)
    refused("API4", shop.checkout(customer, [(product, 10**30)]), 422)
    nested = "[" * 5000 + "]" * 5000
    refused(
        "API4",
        shop.web.post(
            "/api/v1/auth/login", data=nested, headers={"Content-Type": "application/json"}
        ),
        400,
        422,
    )


# -- API5: Broken Function Level Authorization ---------------------------------------------
# Tries: a customer on admin functions (create, change and restock products, ship an
# order, the module ports' admin APIs). Asserts: 403 for each.


def test_api5_customers_cannot_call_admin_functions(owasp_shop: Shop) -> None:
    shop = owasp_shop
    customer = shop.register()
    product = shop.add_product()["productId"]
    order_id = _paid_order(shop, customer)
    headers = customer.headers
    new_product = {"name": "X", "sku": f"X-{uuid.uuid4().hex[:6]}", "price": "1.00"}
    calls = [
        shop.web.post("/api/v1/products", json=new_product, headers=headers),
        shop.web.patch(f"/api/v1/products/{product}", json={"price": "0.01"}, headers=headers),
        shop.web.post(f"/api/v1/products/{product}/inventory", json={"delta": 5}, headers=headers),
        shop.web.post(f"/api/v1/orders/{order_id}/ship", headers=headers),
        shop.clients["orders"].get(f"/api/v1/orders/{order_id}", headers=headers),
        shop.clients["products"].post("/api/v1/products", json=new_product, headers=headers),
        shop.clients["users"].get(f"/api/v1/users/{customer.user_id}", headers=headers),
        shop.clients["payments"].get(f"/api/v1/payments/order/{order_id}", headers=headers),
    ]
    for response in calls:
        refused("API5", response, 403)


# -- API6: Unrestricted Access to Sensitive Business Flows ----------------------------------
# Tries: a burst of checkouts by one customer, a burst of sign-ups from one address, and
# an Idempotency-Key replayed with another body. Asserts: 429 with Retry-After and
# RateLimit headers past the limits, 422 for the reused key.


def test_api6_bursts_of_checkouts_and_sign_ups_are_limited(settings: Settings) -> None:
    runtime = start_runtime(replace(settings, checkout_rate_limit=5, register_rate_limit=5))
    try:
        shop = Shop(runtime)
        customer = shop.register()
        product = shop.add_product(stock=1000)["productId"]
        answers = [shop.checkout(customer, [(product, 1)]) for _ in range(8)]
        held("API6", [a.status_code for a in answers[:5]] == [201] * 5, "within the limit")
        for answer in answers[5:]:
            refused("API6", answer, 429)
            held("API6", "RateLimit-Limit" in answer.headers, "RateLimit headers")
        sign_ups = [
            shop.web.post(
                "/api/v1/auth/register",
                json={
                    "email": f"bot-{n}-{uuid.uuid4().hex[:6]}@example.com",
                    "password": PASSWORD,
                    "firstName": "Bot",
                    "lastName": "Net",
                },
            )
            for n in range(6)
        ]
        refused("API6", sign_ups[-1], 429)
    finally:
        runtime.close()


def test_api6_an_idempotency_key_cannot_be_reused_for_another_order(owasp_shop: Shop) -> None:
    shop = owasp_shop
    customer = shop.register()
    product = shop.add_product(stock=100)["productId"]
    first = shop.checkout(customer, [(product, 1)], idempotency_key="replay-1")
    assert first.status_code == 201
    refused("API6", shop.checkout(customer, [(product, 50)], idempotency_key="replay-1"), 422)


# -- API7: Server Side Request Forgery ------------------------------------------------------
# OMS fetches no URL a client gives it in these routes: there is no field that takes one.
# Tries: URL-valued fields slipped into bodies (callback, image, avatar URLs pointing at
# the metadata service and loopback). Asserts: 422 (unknown fields), nothing fetched.


def test_api7_no_body_field_takes_a_url(owasp_shop: Shop) -> None:
    shop = owasp_shop
    customer = shop.register()
    product = shop.add_product()["productId"]
    target = "http://169.254.169.254/latest/meta-data/"
    checkout = {"items": [{"productId": product, "quantity": 1}], "shippingAddress": ADDRESS}
    checkout["paymentMethod"] = VISA
    probes = [
        shop.web.post(
            "/api/v1/checkout", json=checkout | {"callbackUrl": target}, headers=customer.headers
        ),
        shop.web.post(
            "/api/v1/products",
            json={"name": "X", "sku": "X-SSRF", "price": "1.00", "imageUrl": target},
            headers=shop.admin.headers,
        ),
        shop.web.post(
            "/api/v1/users/me/payment-methods",
            json={"type": "card", "token": "http://127.0.0.1:22/"},
            headers=customer.headers,
        ),
    ]
    for response in probes:
        refused("API7", response, 422)


# -- API8: Security Misconfiguration ----------------------------------------------------------
# Tries: responses without hardening headers, a cross-origin preflight from an origin not
# on the allow-list, methods a route does not take (TRACE, DELETE), errors that could
# leak a stack trace or an HTML page. Asserts: nosniff, frame denial and CSP everywhere,
# no-store on token responses, no CORS grant, 405 in the JSON error shape.


def test_api8_hardening_headers_and_json_errors_everywhere(owasp_shop: Shop) -> None:
    shop = owasp_shop
    customer = shop.register()
    for port, client in shop.clients.items():
        response = client.get("/api/v1/no-such-route")
        refused("API8", response, 404)
        headers = response.headers
        held("API8", headers.get("X-Content-Type-Options") == "nosniff", f"{port}: nosniff")
        held("API8", headers.get("X-Frame-Options") == "DENY", f"{port}: frame denial")
        held("API8", "default-src 'none'" in headers.get("Content-Security-Policy", ""), "CSP")
    login = shop.web.post(
        "/api/v1/auth/login", json={"email": customer.email, "password": PASSWORD}
    )
    held("API8", login.headers.get("Cache-Control") == "no-store", "token response not stored")
    preflight = shop.web.options(
        "/api/v1/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    held("API8", "Access-Control-Allow-Origin" not in preflight.headers, "CORS for evil origin")
    refused("API8", shop.web.open("/api/v1/products", method="TRACE"), 405)
    refused("API8", shop.web.delete("/api/v1/products"), 405)
    broken = shop.web.post(
        "/api/v1/auth/login", data="{not json", headers={"Content-Type": "application/json"}
    )
    refused("API8", broken, 400)
    held("API8", "Traceback" not in broken.get_data(as_text=True), "no stack trace")


# -- API9: Improper Inventory Management --------------------------------------------------------
# Tries: routes that exist but are not documented, an older or newer API version, the
# documents themselves. Asserts: every /api route each port serves is in its OpenAPI
# document; /api/v0 and /api/v2 do not exist (404).


def test_api9_every_route_is_documented_and_no_other_version_exists(owasp_shop: Shop) -> None:
    shop = owasp_shop
    for port, client in shop.clients.items():
        document = client.get("/openapi.json").json
        documented = {path.replace("{", "<").replace("}", ">") for path in document["paths"]}
        app = client.application
        served = {
            str(rule.rule)
            for rule in app.url_map.iter_rules()
            if str(rule.rule).startswith("/api/")
        }
        normalised = {_normalise(rule) for rule in served}
        held("API9", normalised <= {_normalise(path) for path in documented}, f"{port} hidden")
        for version in ("v0", "v2"):
            refused("API9", client.get(f"/api/{version}/products"), 404)


def _normalise(path: str) -> str:
    """`/orders/<uuid:order_id>` and `/orders/{order_id}` both become `/orders/<>`."""
    parts = []
    for part in path.split("/"):
        parts.append("<>" if part.startswith("<") else part)
    return "/".join(parts)


# -- API10: Unsafe Consumption of APIs -----------------------------------------------------------
# OMS consumes the payment gateway and the events on its bus. Tries: raw card numbers
# instead of gateway tokens, events that are not valid CloudEvents or whose data does not
# match the catalogue's schema. Asserts: 422 for the cards; the envelope and catalogue
# refuse the events (they would go to the dead-letter queue, never to a handler).


def test_api10_what_oms_consumes_is_validated(owasp_shop: Shop) -> None:
    shop = owasp_shop
    customer = shop.register()
    for card in ("4242424242424242", "tok_", "tok_visa; DROP TABLE users"):
        response = shop.web.post(
            "/api/v1/users/me/payment-methods",
            json={"type": "card", "token": card},
            headers=customer.headers,
        )
        refused("API10", response, 422)
    bad_envelopes = [
        b"not json",
        json.dumps({"specversion": "1.0", "type": "order.created"}).encode(),
        json.dumps(
            {
                "specversion": "0.3",
                "id": str(uuid.uuid4()),
                "source": "oms/orders",
                "type": "order.shipped",
                "data": {"orderId": str(uuid.uuid4())},
            }
        ).encode(),
    ]
    for raw in bad_envelopes:
        TRIED["API10"] += 1
        with pytest.raises(MalformedEvent):
            Event.from_json(raw)
        REFUSED["API10"] += 1
    TRIED["API10"] += 1
    with pytest.raises(Exception):  # noqa: B017 - any validation error will do
        event_type_of("order.shipped").check({"orderId": "not-a-uuid"})
    REFUSED["API10"] += 1
