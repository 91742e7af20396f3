"""Schemathesis over every operation of every port's OpenAPI document, as an admin.

Each of the six ports gets one test per operation of the document it serves at
/openapi.json (examples, coverage and fuzzing phases; valid and invalid data). Every
case carries the bearer token of an admin made with `users.create_admin`, and every
response must: not be a 5xx, have a documented status code and content type, and match
the documented schema.

One OMS (a migrated SQLite copy, the in-memory bus) serves the whole module, seeded
through its API: products (plenty of stock, one left, the highest price), a customer,
and for both the admin and the customer an address, a card, a paid and a declined
order, plus the largest order a checkout may ask for. Hooks make generated requests use
these part of the time: a path parameter or body field named like a seeded value
(`product_id`, `orderId`, `email`, `token`, ...) is, as Hypothesis draws it, kept or
set to a seeded one, so by-id reads find something and checkouts and logins succeed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from oms.app import create_port_apps, start_runtime
from oms.config import Settings
from oms.db import sqlite_schema_files
from tests.conftest import TEST_SECRET
from tests.support import DECLINED, PASSWORD, VISA, Customer, Shop

pytestmark = pytest.mark.slow

MAX_EXAMPLES = int(os.environ.get("OMS_FUZZ_EXAMPLES", "25"))  # more for a deeper run

# Every check schemathesis has runs on every case, with two narrow exceptions:
# - positive_data_acceptance is not asserted where a rule no JSON Schema can state
#   decides: the password policy's list of common passwords and its "4 different
#   characters" (sign-up, password change; the documents describe the policy in words),
#   what a checkout or an order depends on besides its shape (products that exist,
#   the per-product quantity cap after lines are added up, a total matching the items),
#   an order search's createdFrom not after its createdTo, and a webhook URL whose host
#   resolves to a public address (DNS decides).
# - negative_data_rejection is not asserted for a case into which the hooks below put
#   a seeded value: the seeded value may replace the very part that made it invalid.
CANNOT_BE_STATED_IN_JSON_SCHEMA = {
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/users/register"),
    ("POST", "/api/v1/users/me/password"),
    ("POST", "/api/v1/checkout"),
    ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/orders"),
    ("POST", "/api/v1/webhooks"),
    ("PATCH", "/api/v1/webhooks/{webhook_id}"),
}
# Fields (body keys at any depth, camelCase; path parameters, snake_case) that the hooks
# below may set to seeded values, and the kind of value each takes.
SEEDABLE_FIELDS = {
    "productId": "product",
    "product_id": "product",
    "userId": "user",
    "user_id": "user",
    "orderId": "order",
    "order_id": "order",
    "addressId": "address",
    "address_id": "address",
    "paymentMethodId": "payment_method",
    "payment_method_id": "payment_method",
    "email": "email",
    "password": "password",
    "token": "card_token",
}
# Seeded values by kind (the admin's own first) while the module's OMS is up.
SEEDED: dict[str, list[str]] = {}


@dataclass(frozen=True)
class FuzzedOms:
    apps: dict[str, Flask]
    admin: Customer

    @property
    def admin_headers(self) -> dict[str, str]:
        return self.admin.headers


@pytest.fixture(scope="module")
def fuzzed_oms(
    tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path
) -> Iterator[FuzzedOms]:
    main = tmp_path_factory.mktemp("fuzz") / "oms.db"
    shutil.copy(migrated_sqlite, main)
    for schema, path in sqlite_schema_files(str(migrated_sqlite)).items():
        shutil.copy(path, sqlite_schema_files(str(main))[schema])
    runtime = start_runtime(
        Settings(
            database_url=f"sqlite:///{main}",
            jwt_secret=TEST_SECRET,
            bcrypt_rounds=4,
            checkout_wait_seconds=2.0,
        )
    )
    try:
        apps = create_port_apps(runtime)
        shop = Shop(runtime)  # signs in an admin made with users.create_admin
        SEEDED.update(_seed(shop))
        yield FuzzedOms(apps, shop.admin)
    finally:
        SEEDED.clear()
        runtime.close()


def _seed(shop: Shop) -> dict[str, list[str]]:
    """Real data for the admin (the fuzzing caller) and a customer, by kind of value."""
    plenty = shop.add_product(price="12.50", stock=100_000)["productId"]
    scarce = shop.add_product(price="0.99", stock=1)["productId"]  # checkouts may get 409
    dearest = shop.add_product(price="99999999.99", stock=100_000)["productId"]  # largest totals
    customer = shop.register()
    seeded: dict[str, list[str]] = {
        "product": [plenty, scarce, dearest],
        "password": [PASSWORD],
        "card_token": [VISA["token"], DECLINED["token"]],  # checkouts may get 402
    }
    for buyer in (shop.admin, customer):
        seeded.setdefault("user", []).append(buyer.user_id)
        seeded.setdefault("email", []).append(buyer.email)
        seeded.setdefault("address", []).append(shop.save_address(buyer))
        seeded.setdefault("payment_method", []).append(shop.save_card(buyer))
        paid = shop.checkout(buyer, [(plenty, 2)])
        declined = shop.checkout(buyer, [(plenty, 1)], payment_method=DECLINED)
        assert (paid.status_code, declined.status_code) == (201, 402), (paid.json, declined.json)
        seeded.setdefault("order", []).extend([paid.json["orderId"], declined.json["orderId"]])
    # As large an order as a checkout may ask for: refused as too large, or an order whose
    # amounts every read of it must still show as documented.
    largest = shop.checkout(shop.admin, [(dearest, 99)])
    assert largest.status_code in (201, 422), largest.json
    if largest.status_code == 201:
        seeded["order"].append(largest.json["orderId"])
    return seeded


def _openapi_schemas() -> dict[str, Any]:
    """Each port's OpenAPI document as its app serves it, loaded when pytest collects.

    Schemathesis needs the documents to make one test per operation. They depend on the
    code only, so apps over a runtime that never opens its database serve them; the cases
    then go to the module's real apps. (`schemathesis.pytest.from_fixture` would load them
    from a fixture instead, but schemathesis 4.32.5 reads `Function._nodeid`, which pytest
    9.2 no longer has.)
    """
    unused = Path(tempfile.gettempdir()) / "oms-openapi-only" / "oms.db"
    runtime = start_runtime(Settings(database_url=f"sqlite:///{unused}", jwt_secret=TEST_SECRET))
    try:
        schemas = {
            port: schemathesis.openapi.from_wsgi("/openapi.json", app)
            for port, app in create_port_apps(runtime).items()
        }
    finally:
        runtime.close()
    for schema in schemas.values():
        # Every case is sent as the admin: no generated (missing, malformed) Authorization.
        schema.config.generation.update(with_security_parameters=False)
    return schemas


def _fuzz_test(port: str, schema: Any) -> Callable[..., None]:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @schema.hooks.apply(flatmap_path_parameters)
    @schema.hooks.apply(flatmap_body)
    @schema.parametrize()
    def test(case: Any, fuzzed_oms: FuzzedOms) -> None:
        excluded = []
        if (case.method.upper(), case.operation.path) in CANNOT_BE_STATED_IN_JSON_SCHEMA:
            excluded.append(positive_data_acceptance)
        if _holds_seeded_value(case.body) or _holds_seeded_value(case.path_parameters):
            excluded.append(negative_data_rejection)
        case.call_and_validate(
            app=fuzzed_oms.apps[port],
            headers=fuzzed_oms.admin_headers,
            excluded_checks=excluded,
        )

    test.__name__ = f"test_{port}_port_honours_its_openapi_document"
    return test


def _holds_seeded_value(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_seeded_value(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_seeded_value(item) for item in value)
    return isinstance(value, str) and any(value in seeded for seeded in SEEDED.values())


def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy:
    return _sometimes_real_ids(path_parameters)


def flatmap_body(context: Any, body: Any) -> st.SearchStrategy:
    return _sometimes_real_ids(body)


def _sometimes_real_ids(value: Any) -> st.SearchStrategy:
    """`value`, with each seedable string field at any depth maybe set to a seeded value."""
    if isinstance(value, list):
        return st.tuples(*map(_sometimes_real_ids, value)).map(list)
    if not isinstance(value, dict):
        return st.just(value)
    fields = {}
    for key, item in value.items():
        real = SEEDED.get(SEEDABLE_FIELDS.get(key, "")) if isinstance(key, str) else None
        if real and isinstance(item, str):
            fields[key] = st.sampled_from([item, *real])
        else:
            fields[key] = _sometimes_real_ids(item)
    return st.fixed_dictionaries(fields)


# One test per port, one case per operation of its document: every port of PORT_APPS.
for _port, _schema in _openapi_schemas().items():
    globals()[f"test_{_port}_port_honours_its_openapi_document"] = _fuzz_test(_port, _schema)
