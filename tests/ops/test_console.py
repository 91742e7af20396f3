"""The operator console, driven over HTTP: who may see it, and what an admin sees."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from oms.bus import Event
from tests.ops.conftest import FailingConsumer
from tests.support import PASSWORD, Shop

SAGA_IN_ORDER = [
    ("orders", "order.created"),
    ("products", "handled order.created"),
    ("products", "stock reserved"),
    ("orders", "handled inventory.reserved"),
    ("orders", "order.confirmed"),
    ("payments", "handled order.confirmed"),
    ("payments", "payment completed"),
    ("orders", "handled payment.completed"),
    ("orders", "order.processing"),
]


def timeline_cards(html: str) -> list[tuple[str, str]]:
    """(lane, title) of each card on the timeline, top to bottom."""
    return re.findall(r'data-lane="(\w+)" data-kind="[\w-]+">([^<]+)', html)


def test_an_admin_token_shows_an_orders_saga_across_modules_in_time_order(
    ops: FlaskClient, paid_order: tuple[Shop, str]
) -> None:
    shop, order_id = paid_order

    response = ops.get(f"/orders/{order_id}", headers=shop.admin.headers)

    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    cards = timeline_cards(response.get_data(as_text=True))
    saga = [card for card in cards if card in SAGA_IN_ORDER]
    assert saga == SAGA_IN_ORDER
    # webhooks lets events no endpoint subscribes to go by, without handling them
    assert not any(lane == "webhooks" for lane, _title in cards)


def test_a_cancelled_orders_timeline_shows_the_compensation(
    ops: FlaskClient, paid_order: tuple[Shop, str]
) -> None:
    shop, order_id = paid_order
    owner = _owner_token(shop, order_id)
    cancelled = shop.web.post(f"/api/v1/orders/{order_id}/cancel", headers=owner)
    assert cancelled.status_code == 200

    cards = timeline_cards(ops.get(f"/orders/{order_id}", headers=shop.admin.headers).text)

    titles = [title for _lane, title in cards]
    assert titles.index("order.cancelled") < titles.index("handled order.cancelled")
    assert ("products", "stock released") in cards
    assert ("payments", "refund") in cards
    assert ("orders", "handled refund.created") in cards


def test_only_admins_get_in(ops: FlaskClient, paid_order: tuple[Shop, str]) -> None:
    shop, order_id = paid_order
    customer = shop.register()

    assert ops.get("/orders").status_code == 302
    assert ops.get("/orders").headers["Location"].startswith("/login?next=/orders")
    assert ops.get(f"/orders/{order_id}", headers=customer.headers).status_code == 403
    bad = {"Authorization": "Bearer not-a-token"}
    assert ops.get("/orders", headers=bad).status_code == 401
    assert ops.get(f"/orders/{uuid.uuid4()}", headers=shop.admin.headers).status_code == 404
    assert ops.get("/orders/not-an-id", headers=shop.admin.headers).status_code == 404


def test_an_admin_signs_in_with_a_form_and_a_strict_session_cookie(
    ops: FlaskClient, paid_order: tuple[Shop, str]
) -> None:
    shop, order_id = paid_order
    csrf = _csrf(ops.get("/login?next=/orders/stuck").text)

    forged = ops.post("/login", data={"email": shop.admin.email, "password": PASSWORD})
    assert forged.status_code == 400
    wrong = ops.post("/login", data={"email": shop.admin.email, "password": "no", "csrf": csrf})
    assert wrong.status_code == 401
    signed_in = ops.post(
        "/login",
        data={"email": shop.admin.email, "password": PASSWORD, "csrf": csrf, "next": "/orders"},
    )

    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/orders"
    cookie = signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = ops.get("/orders")
    assert page.status_code == 200 and order_id in page.text
    assert ops.post("/logout").status_code == 400  # no CSRF token: refused
    assert ops.post("/logout", data={"csrf": _csrf(page.text)}).status_code == 302
    assert ops.get("/orders").status_code == 302


def test_a_customer_cannot_sign_in_and_next_never_leaves_the_site(
    ops: FlaskClient, paid_order: tuple[Shop, str]
) -> None:
    shop, _ = paid_order
    customer = shop.register()
    csrf = _csrf(ops.get("/login").text)

    refused = ops.post("/login", data={"email": customer.email, "password": PASSWORD, "csrf": csrf})
    assert refused.status_code == 403
    away = ops.post(
        "/login",
        data={"email": shop.admin.email, "password": PASSWORD, "csrf": csrf, "next": "//evil"},
    )
    assert away.headers["Location"] == "/orders"


def test_orders_are_found_by_id_email_status_and_date(
    ops: FlaskClient, paid_order: tuple[Shop, str]
) -> None:
    shop, order_id = paid_order
    other = shop.register()
    product = shop.add_product(stock=1)["productId"]
    refused = shop.checkout(other, [(product, 5)]).json["orderId"]
    email = _email_of(shop, order_id)
    today = datetime.now(UTC).date()
    admin = shop.admin.headers

    def found(**query: str) -> set[str]:
        page = ops.get("/orders", query_string=query, headers=admin)
        assert page.status_code == 200
        return set(re.findall(r"/orders/([0-9a-f-]{36})", page.text))

    assert found() >= {order_id, refused}
    assert found(q=order_id) == {order_id}
    assert found(q=email.upper()) == {order_id}
    assert found(status="cancelled") >= {refused} and order_id not in found(status="cancelled")
    assert found(**{"from": today.isoformat(), "to": today.isoformat()}) >= {order_id, refused}
    assert found(**{"to": (today - timedelta(days=1)).isoformat()}) == set()
    assert "No customer has the email" in ops.get("/orders?q=nobody@x.io", headers=admin).text
    assert ops.get("/orders?status=lost", headers=admin).status_code == 400


def test_stuck_orders_are_those_still_in_flight_past_the_threshold(
    shop: Shop, ops: FlaskClient, monkeypatch
) -> None:
    product = shop.add_product(stock=3)["productId"]
    customer = shop.register()
    monkeypatch.setattr(shop.runtime.bus.transport, "publish", _broker_down)
    stuck = shop.checkout(customer, [(product, 1)]).json["orderId"]

    page = ops.get("/orders/stuck?olderThan=0", headers=shop.admin.headers)
    later = ops.get("/orders/stuck?olderThan=3600", headers=shop.admin.headers)

    assert stuck in page.text
    assert stuck not in later.text
    timeline = timeline_cards(ops.get(f"/orders/{stuck}", headers=shop.admin.headers).text)
    assert ("orders", "order.created waiting in outbox") in timeline


def test_dead_letters_are_listed_and_replayed_or_dropped(shop: Shop, ops: FlaskClient) -> None:
    probe = FailingConsumer(shop.runtime, ["order.shipped"])
    order_ids = [str(uuid.uuid4()) for _ in range(3)]
    for order_id in order_ids:
        shop.runtime.bus.transport.publish(
            Event("order.shipped", "oms/orders", {"orderId": order_id}, correlationid=order_id)
        )
    probe.retry_until_dead()
    admin = shop.admin.headers

    listed = ops.get("/dead-letters", headers=admin).text
    assert all(order_id in listed for order_id in order_ids)
    ids = re.findall(r'name="id" value="([^"]+)"', listed)
    assert len(set(ids)) == 3
    calls = probe.calls

    replayed = ops.post("/dead-letters/replay", data={"id": ids[0]}, headers=admin)
    assert replayed.status_code == 302
    assert probe.calls > calls  # delivered again (and, failing again, dead-lettered again)
    dropped = ops.post("/dead-letters/drop", data={"all": "1"}, headers=admin)
    assert dropped.status_code == 302
    assert "No dead letters" in ops.get("/dead-letters", headers=admin).text


def _broker_down(event: Event) -> None:
    raise ConnectionError("broker unreachable")


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def _email_of(shop: Shop, order_id: str) -> str:
    details = shop.web.get(f"/api/v1/orders/{order_id}/details", headers=shop.admin.headers)
    return details.json["user"]["email"]


def _owner_token(shop: Shop, order_id: str) -> dict[str, str]:
    from oms.http.auth import CUSTOMER, issue_token

    user_id = shop.web.get(f"/api/v1/orders/{order_id}/details", headers=shop.admin.headers).json[
        "order"
    ]["userId"]
    return {"Authorization": f"Bearer {issue_token(shop.runtime.settings, user_id, CUSTOMER)}"}
