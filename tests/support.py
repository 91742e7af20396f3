"""Driving OMS the way its clients do: over HTTP, through the contract's routes."""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from kombu import Connection
from sqlalchemy import text
from werkzeug.test import TestResponse

from oms import users
from oms.runtime import Runtime

ADDRESS = {"line1": "1 Main Street", "city": "Springfield", "postalCode": "12345", "country": "US"}
VISA = {"type": "card", "token": "tok_visa"}
DECLINED = {"type": "card", "token": "tok_chargeDeclined"}
PASSWORD = "correct horse battery"
_sequence = itertools.count(1)
# Other sessions busy in this database: a consumer handling a message, or the relay.
OPEN_TRANSACTIONS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
)


@dataclass(frozen=True)
class Customer:
    user_id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Shop:
    """OMS behind its six ports, with an admin and helpers to build data through the API."""

    def __init__(self, apps: dict[str, Flask], runtime: Runtime) -> None:
        self.runtime = runtime
        self.clients: dict[str, FlaskClient] = {
            name: app.test_client() for name, app in apps.items()
        }
        self.web = self.clients["web"]
        self.mobile = self.clients["mobile"]
        signed_in = users.create_admin(
            runtime, f"admin-{uuid.uuid4().hex[:8]}@example.com", PASSWORD
        )
        self.admin = Customer(signed_in.user_id, signed_in.email, signed_in.token)

    def register(self, email: str | None = None) -> Customer:
        email = email or f"customer-{next(_sequence)}-{uuid.uuid4().hex[:6]}@example.com"
        response = self.web.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "firstName": "Ada", "lastName": "Lovelace"},
        )
        assert response.status_code == 201, response.json
        body = response.json
        return Customer(body["userId"], body["email"], body["token"])

    def add_product(self, price: str = "10.00", stock: int = 10, **extra: Any) -> dict:
        body = {
            "name": "Widget",
            "sku": f"SKU-{uuid.uuid4().hex[:10]}",
            "price": price,
            "stock": stock,
        }
        response = self.web.post(
            "/api/v1/products", json={**body, **extra}, headers=self.admin.headers
        )
        assert response.status_code == 201, response.json
        return response.json

    def checkout(
        self,
        customer: Customer,
        items: list[tuple[str, int]],
        payment_method: dict | None = None,
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> TestResponse:
        headers = dict(customer.headers)
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        body = {
            "items": [{"productId": pid, "quantity": qty} for pid, qty in items],
            "shippingAddress": ADDRESS,
            "paymentMethod": payment_method or VISA,
            **extra,
        }
        return self.web.post("/api/v1/checkout", json=body, headers=headers)

    def mobile_checkout(
        self, customer: Customer, items: list[tuple[str, int]], **choice: object
    ) -> TestResponse:
        """Checkout on the phone's port. `choice` names the address and the card (addressId
        or shippingAddress, paymentMethodId or paymentMethod); left out, the defaults."""
        body = {"items": [{"productId": pid, "quantity": qty} for pid, qty in items], **choice}
        return self.mobile.post("/api/v1/checkout", json=body, headers=customer.headers)

    def save_address(self, customer: Customer) -> str:
        response = self.web.post(
            "/api/v1/users/me/addresses", json=ADDRESS, headers=customer.headers
        )
        assert response.status_code == 201, response.json
        return response.json["addressId"]

    def save_card(self, customer: Customer, token: str = "tok_visa") -> str:
        response = self.web.post(
            "/api/v1/users/me/payment-methods",
            json={"type": "card", "token": token},
            headers=customer.headers,
        )
        assert response.status_code == 201, response.json
        return response.json["paymentMethodId"]

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until the bus is quiet a few checks in a row: outboxes and consumers'
        queues empty, no transaction open (a handler at work) in the database."""
        if not self.runtime.settings.uses_broker:
            return  # in memory the saga has run by the time a request returns
        deadline = time.monotonic() + timeout
        quiet_checks = 0
        while quiet_checks < 3:
            if time.monotonic() > deadline:
                raise AssertionError(f"the bus did not settle within {timeout}s")
            quiet_checks = quiet_checks + 1 if self._bus_is_quiet() else 0
            time.sleep(0.03)

    def _bus_is_quiet(self) -> bool:
        waiting = sum(count for count, _ in self.runtime.bus.outbox_backlog().values())
        return waiting == 0 and self._queued_messages() == 0 and self._open_transactions() == 0

    def _queued_messages(self) -> int:
        settings = self.runtime.settings
        with Connection(settings.broker_url, connect_timeout=2) as broker:
            channel = broker.default_channel
            return sum(
                channel.queue_declare(
                    settings.broker_namespace + consumer, passive=True
                ).message_count
                for consumer in self.runtime.bus.subscriptions
            )

    def _open_transactions(self) -> int:
        with self.runtime.database.reading() as session:
            return session.execute(OPEN_TRANSACTIONS).scalar_one()

    def stock_of(self, product_id: str) -> int:
        self.settle()
        response = self.web.get(f"/api/v1/products/{product_id}")
        assert response.status_code == 200, response.json
        return response.json["stock"]["available"]

    def order(self, customer: Customer, order_id: str) -> dict:
        self.settle()
        response = self.web.get(f"/api/v1/orders/{order_id}", headers=customer.headers)
        assert response.status_code == 200, response.json
        return response.json

    def details(self, customer: Customer, order_id: str) -> dict:
        self.settle()
        response = self.web.get(f"/api/v1/orders/{order_id}/details", headers=customer.headers)
        assert response.status_code == 200, response.json
        return response.json
