"""OMS's web API for the benchmark's own needs: seeding, and the checks at the end."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from oms.bench.clients import Http

INITIAL_STOCK = 1_000_000  # OMS's maximum: ample for any run
PRICES = ("4.99", "12.50", "19.99", "49.00", "99.95")
TERMINAL = ("processing", "cancelled", "shipped")
PAGE_SIZE = 100


class ApiError(RuntimeError):
    """OMS answered something the benchmark did not expect."""


@dataclass(frozen=True)
class Customer:
    user_id: str
    email: str
    token: str


@dataclass
class Shop:
    """What the benchmark seeded: an admin, customers and products with known stock."""

    admin_token: str
    customers: list[Customer] = field(default_factory=list)
    products: list[str] = field(default_factory=list)


class Api:
    def __init__(self, port: int) -> None:
        self.http = Http(port)

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, expect: int = 200
    ) -> Any:
        status, data = self.http.request(method, path, body, token)
        if status != expect:
            raise ApiError(f"{method} {path}: HTTP {status} (expected {expect}): {data[:300]!r}")
        return json.loads(data) if data else None

    def close(self) -> None:
        self.http.close()

    def login(self, email: str, password: str) -> str:
        body = {"email": email, "password": password}
        return self.call("POST", "/api/v1/auth/login", body)["token"]

    def register(self, index: int, tag: str) -> Customer:
        email = f"bench-{tag}-{index}@example.com"
        body = {
            "email": email,
            "password": secrets.token_urlsafe(16),
            "firstName": "Bench",
            "lastName": f"Customer {index}",
        }
        answer = self.call("POST", "/api/v1/auth/register", body, expect=201)
        return Customer(answer["userId"], email, answer["token"])

    def create_product(self, admin_token: str, index: int, tag: str) -> str:
        body = {
            "name": f"Bench product {index}",
            "sku": f"BENCH-{tag}-{index}",
            "price": PRICES[index % len(PRICES)],
            "stock": INITIAL_STOCK,
        }
        answer = self.call("POST", "/api/v1/products", body, admin_token, expect=201)
        return answer["productId"]

    def seed(self, admin_token: str, customers: int, products: int) -> Shop:
        tag = secrets.token_hex(4)
        shop = Shop(admin_token)
        shop.products = [self.create_product(admin_token, i, tag) for i in range(products)]
        shop.customers = [self.register(i, tag) for i in range(customers)]
        return shop

    def checkout(self, customer: Customer, product: str, quantity: int = 1) -> tuple[int, Any]:
        body = {
            "items": [{"productId": product, "quantity": quantity}],
            "shippingAddress": {
                "line1": "1 Bench Street",
                "city": "Springfield",
                "postalCode": "12345",
                "country": "US",
            },
            "paymentMethod": {"type": "card", "token": "tok_visa"},
        }
        status, data = self.http.request("POST", "/api/v1/checkout", body, customer.token)
        return status, json.loads(data) if data else None

    def orders_of(self, customer: Customer) -> list[dict]:
        """Every order of `customer`, page by page."""
        found: list[dict] = []
        page = 1
        while True:
            path = f"/api/v1/orders?page={page}&pageSize={PAGE_SIZE}"
            answer = self.call("GET", path, token=customer.token)
            found += answer["items"]
            if not answer["items"] or len(found) >= answer["total"]:
                return found
            page += 1

    def stock_of(self, product: str) -> int:
        return int(self.call("GET", f"/api/v1/products/{product}")["stock"]["available"])


@dataclass
class Audit:
    """The end-of-run check: every order terminal, and stock conserved."""

    orders: int = 0
    not_terminal: list[str] = field(default_factory=list)
    by_status: dict[str, int] = field(default_factory=dict)
    units_sold: dict[str, int] = field(default_factory=dict)
    stock: dict[str, int] = field(default_factory=dict)
    unaccounted: list[str] = field(default_factory=list)  # answered to us, but not listed

    @property
    def stock_conserved(self) -> bool:
        return all(
            self.stock[product] + self.units_sold.get(product, 0) == INITIAL_STOCK
            for product in self.stock
        )

    @property
    def all_terminal(self) -> bool:
        return not self.not_terminal

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "byStatus": self.by_status,
            "allTerminal": self.all_terminal,
            "notTerminal": self.not_terminal[:20],
            "stockConserved": self.stock_conserved,
            "products": {
                product: {
                    "initial": INITIAL_STOCK,
                    "available": self.stock[product],
                    "unitsSold": self.units_sold.get(product, 0),
                }
                for product in self.stock
            },
            "ordersAnsweredButNotListed": self.unaccounted[:20],
        }


def audit(api: Api, shop: Shop, answered: set[str]) -> Audit:
    """Check through the API; `answered` are the order ids checkouts answered with."""
    result = Audit()
    listed: set[str] = set()
    for customer in shop.customers:
        for order in api.orders_of(customer):
            _count_order(result, order)
            listed.add(order["orderId"])
    result.orders = len(listed)
    result.unaccounted = sorted(answered - listed)
    result.stock = {product: api.stock_of(product) for product in shop.products}
    return result


def _count_order(result: Audit, order: dict) -> None:
    status = order["status"]
    result.by_status[status] = result.by_status.get(status, 0) + 1
    if status not in TERMINAL:
        result.not_terminal.append(order["orderId"])
    if status == "cancelled":
        return  # its stock, if it held any, was given back
    for item in order["items"]:
        product = item["productId"]
        result.units_sold[product] = result.units_sold.get(product, 0) + int(item["quantity"])
