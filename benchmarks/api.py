"""The benchmark's own use of OMS's web API: seeding a shop, and the audit at the end.

Requests go through the integration tests' client of the web BFF
(`tests.integration.ops.Client`); the load generator has its own lean keep-alive client
(`benchmarks.clients`), so that measuring does not cost more CPU than it must.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.integration.ops import Client

INITIAL_STOCK = 1_000_000  # OMS's maximum: ample for any run
PRICES = ("4.99", "12.50", "19.99", "49.00", "99.95")
TERMINAL = ("processing", "cancelled", "shipped")
PAGE_SIZE = 100


@dataclass
class Shop:
    """What the benchmark seeded: an admin, customers (their tokens) and products."""

    admin_token: str
    customers: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)


def seed(client: Client, admin_token: str, customers: int, products: int) -> Shop:
    shop = Shop(admin_token)
    shop.products = [
        client.add_product(admin_token, INITIAL_STOCK, PRICES[index % len(PRICES)])
        for index in range(products)
    ]
    shop.customers = [client.register() for _ in range(customers)]
    return shop


def orders_of(client: Client, customer: str) -> list[dict]:
    """Every order of `customer`, page by page."""
    found: list[dict] = []
    page = 1
    while True:
        answer = client.get(f"/api/v1/orders?page={page}&pageSize={PAGE_SIZE}", customer)
        found += answer["items"]
        if not answer["items"] or len(found) >= answer["total"]:
            return found
        page += 1


def stock_of(client: Client, product: str) -> int:
    return int(client.get(f"/api/v1/products/{product}")["stock"]["available"])


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


def audit(client: Client, shop: Shop, answered: set[str]) -> Audit:
    """Check through the API; `answered` are the order ids checkouts answered with."""
    result = Audit()
    listed: set[str] = set()
    for customer in shop.customers:
        for order in orders_of(client, customer):
            _count_order(result, order)
            listed.add(order["orderId"])
    result.orders = len(listed)
    result.unaccounted = sorted(answered - listed)
    result.stock = {product: stock_of(client, product) for product in shop.products}
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
