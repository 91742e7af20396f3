"""Admins list orders across customers, filtered and paginated, on the web BFF and port 3001."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support import DECLINED, Shop


@pytest.fixture
def orders_of_two_customers(shop: Shop) -> dict:
    product = shop.add_product(stock=100)["productId"]
    ada, bob = shop.register(), shop.register()
    placed = {
        "ada_paid": shop.checkout(ada, [(product, 1)]).json["orderId"],
        "ada_declined": shop.checkout(ada, [(product, 1)], payment_method=DECLINED).json["orderId"],
        "bob_paid": shop.checkout(bob, [(product, 2)]).json["orderId"],
    }
    return {"ada": ada, "bob": bob, **placed}


@pytest.mark.parametrize("port", ["web", "orders"])
def test_an_admin_lists_every_customers_orders_newest_first(
    shop: Shop, orders_of_two_customers: dict, port: str
) -> None:
    placed = orders_of_two_customers
    client = shop.clients[port]

    response = client.get("/api/v1/orders", headers=shop.admin.headers)

    assert response.status_code == 200
    body = response.json
    assert body["total"] == 3
    assert [order["orderId"] for order in body["items"]] == [
        placed["bob_paid"],
        placed["ada_declined"],
        placed["ada_paid"],
    ]


@pytest.mark.parametrize("port", ["web", "orders"])
def test_filters_narrow_the_list(shop: Shop, orders_of_two_customers: dict, port: str) -> None:
    placed = orders_of_two_customers
    client, admin = shop.clients[port], shop.admin.headers

    def ids(**query: str) -> set[str]:
        response = client.get("/api/v1/orders", query_string=query, headers=admin)
        assert response.status_code == 200, response.json
        return {order["orderId"] for order in response.json["items"]}

    now = datetime.now(UTC)
    assert ids(status="cancelled") == {placed["ada_declined"]}
    assert ids(userId=placed["ada"].user_id) == {placed["ada_paid"], placed["ada_declined"]}
    assert ids(userId=placed["ada"].user_id, status="processing") == {placed["ada_paid"]}
    hour_ago, in_an_hour = (
        (now - timedelta(hours=1)).isoformat(),
        (now + timedelta(hours=1)).isoformat(),
    )
    assert len(ids(createdFrom=hour_ago, createdTo=in_an_hour)) == 3
    assert ids(createdFrom=in_an_hour) == set()
    assert ids(createdTo=hour_ago) == set()
    page = client.get("/api/v1/orders?pageSize=2&page=2", headers=admin).json
    assert (page["page"], page["pageSize"], page["total"], len(page["items"])) == (2, 2, 3, 1)


@pytest.mark.parametrize(
    "query",
    [
        {"status": "lost"},
        {"userId": "not-a-uuid"},
        {"createdFrom": "yesterday"},
        {"createdFrom": "2026-01-02T00:00:00Z", "createdTo": "2026-01-01T00:00:00Z"},
        {"pageSize": "1000"},
        {"color": "blue"},
    ],
)
@pytest.mark.parametrize("port", ["web", "orders"])
def test_bad_filter_values_are_422(shop: Shop, query: dict, port: str) -> None:
    response = shop.clients[port].get(
        "/api/v1/orders", query_string=query, headers=shop.admin.headers
    )

    assert response.status_code == 422
    assert response.json["code"] == 422 and response.json["errors"]


def test_a_customer_sees_only_their_own_orders_and_may_filter_them(
    shop: Shop, orders_of_two_customers: dict
) -> None:
    placed = orders_of_two_customers
    ada = placed["ada"]

    own = shop.web.get("/api/v1/orders", headers=ada.headers).json
    declined = shop.web.get("/api/v1/orders?status=cancelled", headers=ada.headers).json
    others = shop.web.get(f"/api/v1/orders?userId={placed['bob'].user_id}", headers=ada.headers)

    assert {order["orderId"] for order in own["items"]} == {
        placed["ada_paid"],
        placed["ada_declined"],
    }
    assert [order["orderId"] for order in declined["items"]] == [placed["ada_declined"]]
    assert others.status_code == 403


def test_the_orders_port_is_for_admins_only(shop: Shop, orders_of_two_customers: dict) -> None:
    ada = orders_of_two_customers["ada"]
    assert shop.clients["orders"].get("/api/v1/orders").status_code == 401
    assert shop.clients["orders"].get("/api/v1/orders", headers=ada.headers).status_code == 403
