"""Webhooks over HTTP: admins register endpoints on the web BFF; events reach a real
receiver (http.server on 127.0.0.1), signed, retried with backoff, logged, replayable."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from oms import webhooks
from oms.app import start_runtime, start_webhook_thread
from oms.bus import MemoryTransport
from oms.config import Settings
from oms.db import utc_now
from oms.ops import create_ops_app
from oms.webhooks.models import MESSAGES, Attempt
from oms.webhooks.sender import post
from oms.webhooks.service import _locked_endpoint_of
from tests.conftest import TEST_SECRET, run_with_worker
from tests.ops.conftest import scrape
from tests.polling import wait_until
from tests.support import Customer, Shop
from tests.webhook_receiver import Received, Receiver, always, fail_first_try_of, verified

WEBHOOKS = "/api/v1/webhooks"
DELIVERED = 20.0  # seconds a delivery may take to be seen, on a loaded machine
# What the tests run with: private targets allowed (the receiver is on 127.0.0.1), a
# short first retry, and a delivery loop that looks often.
FAST = {
    "webhook_allow_private_targets": True,
    "webhook_retry_initial_seconds": 1.0,
    "webhook_poll_interval_seconds": 0.05,
    "webhook_timeout_seconds": 2.0,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(always(200))
    yield server
    server.close()


def embedded_shop(settings: Settings) -> Iterator[Shop]:
    """OMS embedded, with the delivery loop the embedded process runs."""
    runtime = start_runtime(settings)
    stop = threading.Event()
    loop = start_webhook_thread(runtime, stop)
    yield Shop(runtime)
    stop.set()
    loop.join(timeout=10)
    runtime.close()


@pytest.fixture(
    params=["embedded", pytest.param("broker", marks=[pytest.mark.postgres, pytest.mark.rabbitmq])]
)
def webhook_shop(request: pytest.FixtureRequest) -> Iterator[Shop]:
    """The same OMS in both modes, delivering webhooks (in broker mode from the worker)."""
    if request.param == "embedded":
        yield from embedded_shop(replace(request.getfixturevalue("settings"), **FAST))
        return
    settings = replace(request.getfixturevalue("broker_settings"), **FAST)
    for runtime in run_with_worker(start_runtime(settings)):
        yield Shop(runtime)


def register(shop: Shop, url: str, events: list[str], **extra: object) -> dict:
    response = shop.web.post(
        WEBHOOKS, json={"url": url, "events": events, **extra}, headers=shop.admin.headers
    )
    assert response.status_code == 201, response.json
    return response.json


def paid_order(shop: Shop) -> tuple[Customer, str]:
    customer = shop.register()
    widget = shop.add_product(price="20.00", stock=5)
    response = shop.checkout(customer, [(widget["productId"], 1)])
    assert response.status_code == 201, response.json
    return customer, response.json["orderId"]


def deliveries(shop: Shop, webhook_id: str, query: str = "") -> list[dict]:
    response = shop.web.get(
        f"{WEBHOOKS}/{webhook_id}/deliveries{query}", headers=shop.admin.headers
    )
    assert response.status_code == 200, response.json
    return response.json["items"]


# --- routing (broker mode) ----------------------------------------------------------------


@pytest.fixture
def broker_webhook_shop(broker_settings: Settings) -> Iterator[Shop]:
    for runtime in run_with_worker(start_runtime(replace(broker_settings, **FAST))):
        yield Shop(runtime)


def webhooks_handled(shop: Shop) -> dict[tuple[str, str], float]:
    """oms_events_handled_total of the webhooks module, by (event type, result)."""
    return {
        (labels["type"], labels["result"]): value
        for (name, label_set), value in scrape(create_ops_app(shop.runtime).test_client()).items()
        if name == "oms_events_handled_total"
        and (labels := dict(label_set))["module"] == "webhooks"
    }


def handled_during_a_checkout(shop: Shop) -> dict[tuple[str, str], float]:
    customer = shop.register()
    widget = shop.add_product(stock=5)
    before = webhooks_handled(shop)
    assert shop.checkout(customer, [(widget["productId"], 1)]).status_code == 201
    shop.settle()
    after = webhooks_handled(shop)
    return {
        key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key)
    }


@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_the_broker_routes_the_webhooks_module_only_what_an_endpoint_subscribes_to(
    broker_webhook_shop: Shop, receiver: Receiver
) -> None:
    shop = broker_webhook_shop
    assert handled_during_a_checkout(shop) == {}  # no endpoint: no delivery to look at

    endpoint = register(shop, receiver.url, ["order.*"])
    assert handled_during_a_checkout(shop) == {
        ("order.created", "ok"): 1,
        ("order.confirmed", "ok"): 1,
    }

    response = shop.web.delete(f"{WEBHOOKS}/{endpoint['webhookId']}", headers=shop.admin.headers)
    assert response.status_code == 204
    shop.runtime.bus.route_as_wanted()  # what the upkeep does every half minute
    assert handled_during_a_checkout(shop) == {}


@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_registering_while_the_broker_is_away_is_503_and_keeps_no_endpoint(
    broker_settings: Settings, receiver: Receiver
) -> None:
    away = replace(broker_settings, broker_url="amqp://guest:guest@127.0.0.1:9//", **FAST)
    runtime = start_runtime(away)
    try:
        shop = Shop(runtime)
        response = shop.web.post(
            WEBHOOKS,
            json={"url": receiver.url, "events": ["order.*"]},
            headers=shop.admin.headers,
        )
        assert response.status_code == 503, response.json
        assert response.headers["Retry-After"]
        listed = shop.web.get(WEBHOOKS, headers=shop.admin.headers)
        assert listed.json["items"] == []
    finally:
        runtime.close()


@pytest.mark.postgres
def test_deleting_an_endpoint_while_an_attempt_is_recorded_waits_for_it_and_is_204(
    migrated_postgres_url: str, receiver: Receiver
) -> None:
    settings = Settings(
        database_url=migrated_postgres_url, jwt_secret=TEST_SECRET, bcrypt_rounds=4, **FAST
    )
    runtime = start_runtime(settings, MemoryTransport())
    try:
        shop = Shop(runtime)
        endpoint = register(shop, receiver.url, ["order.*"])
        paid_order(shop)
        delivery_id = deliveries(shop, endpoint["webhookId"])[0]["deliveryId"]
        answers: list[int] = []

        def delete_endpoint() -> None:
            path = f"{WEBHOOKS}/{endpoint['webhookId']}"
            answers.append(shop.web.delete(path, headers=shop.admin.headers).status_code)

        # What the delivery loop does when an attempt has come back: record it, with the
        # endpoint locked as it does.
        with runtime.bus.unit_of_work(MESSAGES) as uow:
            assert _locked_endpoint_of(uow.session, delivery_id) is not None
            deleting = threading.Thread(target=delete_endpoint)
            deleting.start()
            deleting.join(timeout=0.5)
            assert deleting.is_alive()  # the delete waits for the attempt's transaction
            attempt = Attempt(
                delivery_id=delivery_id, number=1, started_at=utc_now(), duration_ms=5
            )
            uow.session.add(attempt)
        deleting.join(timeout=10)

        assert answers == [204]
        gone = shop.web.get(f"{WEBHOOKS}/{endpoint['webhookId']}", headers=shop.admin.headers)
        assert gone.status_code == 404
    finally:
        runtime.close()


# --- delivery -----------------------------------------------------------------------------


def test_a_checkout_reaches_the_receiver_signed_in_order_and_a_500_is_retried_after_the_delay(
    webhook_shop: Shop,
) -> None:
    shop = webhook_shop
    receiver = Receiver(fail_first_try_of("order.created"))
    try:
        hook = register(shop, receiver.url, ["order.*", "payment.completed"])
        _, order_id = paid_order(shop)

        received = receiver.wait_for(4)
        shop.settle()
        time.sleep(0.5)  # nothing else is on its way

        assert [r.headers["OMS-Event-Type"] for r in receiver.received] == [
            "order.created",  # answered 500
            "order.created",
            "order.confirmed",
            "payment.completed",
        ]
        assert received[1].at - received[0].at >= 1.0  # OMS_WEBHOOK_RETRY_INITIAL_SECONDS
        for request in received:
            assert verified(hook["secret"], request)
            assert request.headers["OMS-Event-Id"] == request.event["id"]
            assert request.headers["OMS-Event-Type"] == request.event["type"]
            assert request.headers["Content-Type"].startswith("application/cloudevents+json")
            assert request.event["specversion"] == "1.0"
            assert request.event["data"]["orderId"] == order_id
            assert request.event["correlationid"] == order_id
        assert received[0].body == received[1].body
    finally:
        receiver.close()

    log = {d["eventType"]: d for d in deliveries(shop, hook["webhookId"])}
    assert set(log) == {"order.created", "order.confirmed", "payment.completed"}
    created = log["order.created"]
    assert (created["status"], created["attempts"], created["lastResponseCode"]) == (
        "succeeded",
        2,
        200,
    )
    assert [(a["number"], a["responseCode"]) for a in created["history"]] == [(1, 500), (2, 200)]
    assert created["history"][0]["error"] == "HTTP 500"
    assert all(a["durationMs"] >= 0 for a in created["history"])
    assert created["eventId"] == received[0].headers["OMS-Event-Id"]
    assert [a["responseCode"] for a in log["payment.completed"]["history"]] == [200]


def test_an_endpoint_gets_only_the_events_it_subscribed_to(webhook_shop: Shop) -> None:
    shop = webhook_shop
    receiver = Receiver(always(204))
    try:
        hook = register(shop, receiver.url, ["user.created", "product.*"])
        customer = shop.register()
        product = shop.add_product()
        shop.checkout(customer, [(product["productId"], 1)])

        wait_until(
            lambda: {"user.created", "product.created"} <= types_of(receiver.received), DELIVERED
        )
        shop.settle()
        time.sleep(1.5)  # past the ordering grace: anything else would have come by now
    finally:
        receiver.close()

    # (In broker mode the admin's own user.created may come too: it was still on its way
    # when the endpoint was registered.)
    assert types_of(receiver.received) == {"user.created", "product.created"}
    assert all(verified(hook["secret"], r) for r in receiver.received)
    users = {
        r.event["data"]["userId"] for r in receiver.received if r.event["type"] == "user.created"
    }
    products = [r.event["data"] for r in receiver.received if r.event["type"] == "product.created"]
    assert customer.user_id in users
    assert products == [
        {
            "productId": product["productId"],
            "name": "Widget",
            "sku": product["sku"],
            "price": "10.00",
        }
    ]


def test_a_customer_changing_their_name_is_one_user_updated_event(
    webhook_shop: Shop, receiver: Receiver
) -> None:
    shop = webhook_shop
    customer = shop.register()
    register(shop, receiver.url, ["user.updated"])

    for body in ({"lastName": "King"}, {"lastName": "King"}, {"firstName": "Augusta"}):
        response = shop.web.patch("/api/v1/users/me", json=body, headers=customer.headers)
        assert response.status_code == 200

    received = receiver.wait_for(2)
    shop.settle()
    time.sleep(1.5)
    assert [r.event["data"] for r in receiver.received] == [
        {"userId": customer.user_id, "lastName": "King"},  # the second PATCH changed nothing
        {"userId": customer.user_id, "firstName": "Augusta"},
    ]
    assert all(r.event["source"] == "oms/users" for r in received)


def types_of(received: list[Received]) -> set[str]:
    return {r.headers["OMS-Event-Type"] for r in received}


def test_a_redelivery_sends_the_same_event_again_and_logs_the_attempt(
    webhook_shop: Shop, receiver: Receiver
) -> None:
    shop = webhook_shop
    hook = register(shop, receiver.url, ["order.shipped"])
    _, order_id = paid_order(shop)
    shipped = shop.web.post(f"/api/v1/orders/{order_id}/ship", headers=shop.admin.headers)
    assert shipped.status_code == 200
    first = receiver.wait_for(1)[0]
    wait_until(lambda: deliveries(shop, hook["webhookId"])[0]["status"] == "succeeded", DELIVERED)
    delivery = deliveries(shop, hook["webhookId"])[0]

    response = shop.web.post(
        f"{WEBHOOKS}/{hook['webhookId']}/deliveries/{delivery['deliveryId']}/redeliver",
        headers=shop.admin.headers,
    )

    assert response.status_code == 202
    assert response.json["deliveryId"] == delivery["deliveryId"]
    assert response.json["status"] == "pending"
    again = receiver.wait_for(2)[1]
    assert again.headers["OMS-Event-Id"] == first.headers["OMS-Event-Id"]
    assert again.body == first.body
    assert verified(hook["secret"], again)
    wait_until(lambda: deliveries(shop, hook["webhookId"])[0]["attempts"] == 2, DELIVERED)
    log = deliveries(shop, hook["webhookId"])[0]
    assert log["status"] == "succeeded"
    assert [a["responseCode"] for a in log["history"]] == [200, 200]


def test_a_failing_endpoint_runs_out_of_attempts_is_disabled_and_can_be_revived(
    settings: Settings,
) -> None:
    receiver = Receiver(always(503))
    quick = {**FAST, "webhook_retry_initial_seconds": 0.2}
    retrying = replace(
        settings, **quick, webhook_max_attempts=3, webhook_disable_after_failed_deliveries=1
    )
    shops = embedded_shop(retrying)
    shop = next(shops)
    try:
        hook = register(shop, receiver.url, ["user.created"])
        shop.register()
        wait_until(lambda: deliveries(shop, hook["webhookId"])[0]["status"] == "failed", DELIVERED)
        endpoint = shop.web.get(f"{WEBHOOKS}/{hook['webhookId']}", headers=shop.admin.headers)
        delivery = deliveries(shop, hook["webhookId"], "?status=failed")[0]
        redeliver = f"{WEBHOOKS}/{hook['webhookId']}/deliveries/{delivery['deliveryId']}/redeliver"
        refused = shop.web.post(redeliver, headers=shop.admin.headers)
        shop.register()  # while disabled: not recorded for this endpoint
        receiver.answer = always(200)
        revived = shop.web.patch(
            f"{WEBHOOKS}/{hook['webhookId']}", json={"enabled": True}, headers=shop.admin.headers
        )
        replayed = shop.web.post(redeliver, headers=shop.admin.headers)
        wait_until(
            lambda: deliveries(shop, hook["webhookId"])[0]["status"] == "succeeded", DELIVERED
        )
    finally:
        receiver.close()
        next(shops, None)

    assert len(receiver.received) == 4
    assert delivery["attempts"] == 3
    assert [a["responseCode"] for a in delivery["history"]] == [503, 503, 503]
    gaps = [b.at - a.at for a, b in zip(receiver.received, receiver.received[1:3], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # exponential backoff
    assert endpoint.json["enabled"] is False
    assert "1 deliveries in a row failed" in endpoint.json["disabledReason"]
    assert refused.status_code == 409
    assert revived.json["enabled"] is True and revived.json["disabledReason"] is None
    assert replayed.status_code == 202
    assert len(deliveries(shop, hook["webhookId"])) == 1


def test_several_delivery_loops_never_send_one_delivery_twice(webhook_shop: Shop) -> None:
    shop = webhook_shop
    slow = Receiver(lambda request, earlier: time.sleep(0.05) or 200)  # type: ignore[func-returns-value]
    try:
        register(shop, slow.url, ["user.created"])
        customers = {shop.register().user_id for _ in range(8)}
        time.sleep(1.2)  # past the ordering grace: all eight are due at once
        loops = [
            threading.Thread(target=webhooks.deliver_due, args=(shop.runtime,)) for _ in range(4)
        ]
        for loop in loops:
            loop.start()
        for loop in loops:
            loop.join()
        wait_until(
            lambda: customers <= {r.event["data"]["userId"] for r in slow.received}, DELIVERED
        )
        time.sleep(0.5)
        received = list(slow.received)
    finally:
        slow.close()

    ids = [r.headers["OMS-Event-Id"] for r in slow.received]
    assert len(ids) == len(set(ids))  # (the admin's, in broker mode, may come too)
    assert customers <= {r.event["data"]["userId"] for r in received}


def test_an_endpoint_registered_in_one_process_gets_the_events_of_another(
    settings: Settings,
) -> None:
    """Embedded OMS runs a process per core on one SQLite database, each handling the
    events of its own requests: one that saw no endpoint a moment ago must see the one
    another process just registered."""
    receiver = Receiver(always(204))
    registering = embedded_shop(replace(settings, **FAST))
    other = start_runtime(replace(settings, **FAST))  # delivers through the first one's loop
    try:
        shop, checking_out = next(registering), Shop(other)
        paid_order(checking_out)  # the other process's bus has read that nothing subscribes
        hook = register(shop, receiver.url, ["order.*"])
        _, order_id = paid_order(checking_out)
        [first, *_] = receiver.wait_for(1)
    finally:
        next(registering, None)
        other.close()
        receiver.close()

    assert first.event["type"] == "order.created"
    assert first.event["correlationid"] == order_id
    assert verified(hook["secret"], first)


def test_an_endpoint_that_hangs_does_not_hold_up_the_others(settings: Settings) -> None:
    hanging = Receiver(lambda request, earlier: time.sleep(1.5) or 200)  # type: ignore[func-returns-value]
    quick = Receiver(always(200))
    shops = embedded_shop(replace(settings, **{**FAST, "webhook_timeout_seconds": 1.0}))
    shop = next(shops)
    try:
        slow_hook = register(shop, hanging.url, ["user.created"])
        register(shop, quick.url, ["user.created"])
        shop.register()
        [reached_quick] = quick.wait_for(1)
        [reached_hanging] = hanging.wait_for(1)
        wait_until(lambda: deliveries(shop, slow_hook["webhookId"])[0]["attempts"] == 1, DELIVERED)
        timed_out = deliveries(shop, slow_hook["webhookId"])[0]
    finally:
        next(shops, None)
        hanging.close()
        quick.close()

    assert abs(reached_quick.at - reached_hanging.at) < 0.5  # sent side by side
    assert timed_out["status"] == "pending"  # to be retried
    assert timed_out["lastResponseCode"] is None
    assert "timed out" in timed_out["lastError"]


# --- registration ---------------------------------------------------------------------------


def test_registering_answers_the_secret_once_and_reads_never_show_it(webhook_shop: Shop) -> None:
    shop = webhook_shop
    hook = register(
        shop, "http://127.0.0.1:9/hook", ["order.*", "order.created"], description="warehouse"
    )

    listed = shop.web.get(WEBHOOKS, headers=shop.admin.headers)
    one = shop.web.get(f"{WEBHOOKS}/{hook['webhookId']}", headers=shop.admin.headers)
    changed = shop.web.patch(
        f"{WEBHOOKS}/{hook['webhookId']}",
        json={"events": ["*"], "description": None},
        headers=shop.admin.headers,
    )
    deleted = shop.web.delete(f"{WEBHOOKS}/{hook['webhookId']}", headers=shop.admin.headers)
    gone = shop.web.get(f"{WEBHOOKS}/{hook['webhookId']}", headers=shop.admin.headers)
    gone_log = shop.web.get(
        f"{WEBHOOKS}/{hook['webhookId']}/deliveries", headers=shop.admin.headers
    )

    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 30
    assert hook["events"] == ["order.*", "order.created"]
    assert hook["enabled"] is True
    assert hook["description"] == "warehouse"
    assert uuid.UUID(hook["webhookId"])
    assert listed.json["total"] == 1
    assert [item["webhookId"] for item in listed.json["items"]] == [hook["webhookId"]]
    assert one.status_code == 200
    for body in (
        listed.get_data(as_text=True),
        one.get_data(as_text=True),
        changed.get_data(as_text=True),
    ):
        assert hook["secret"] not in body
        assert "secret" not in body
    assert changed.json["events"] == ["*"] and changed.json["description"] is None
    assert deleted.status_code == 204
    assert (gone.status_code, gone_log.status_code) == (404, 404)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "https://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_a_private_loopback_or_link_local_target_is_refused_by_default(
    shop: Shop, url: str
) -> None:
    response = shop.web.post(
        WEBHOOKS, json={"url": url, "events": ["order.*"]}, headers=shop.admin.headers
    )

    assert response.status_code == 422
    assert "url" in response.json["errors"]
    assert shop.web.get(WEBHOOKS, headers=shop.admin.headers).json["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["order.*"]}, "url"),
        ({"url": "http://user:pw@example.com/x", "events": ["order.*"]}, "url"),
        ({"url": "not a url", "events": ["order.*"]}, "url"),
        ({"url": "http://127.0.0.1/x", "events": []}, "events"),
        ({"url": "http://127.0.0.1/x", "events": ["order.nothing"]}, "events"),
        ({"url": "http://127.0.0.1/x", "events": ["Order Created"]}, "events"),
        ({"url": "http://127.0.0.1/x"}, "events"),
        ({"url": "http://127.0.0.1/x", "events": ["*"], "secret": "mine"}, "secret"),
    ],
)
def test_an_invalid_registration_is_422_naming_the_field(
    settings: Settings, body: dict, field: str
) -> None:
    shops = embedded_shop(replace(settings, **FAST))
    shop = next(shops)
    try:
        response = shop.web.post(WEBHOOKS, json=body, headers=shop.admin.headers)
        listed = shop.web.get(WEBHOOKS, headers=shop.admin.headers)
    finally:
        next(shops, None)

    assert response.status_code == 422
    assert field in response.json["errors"]
    assert listed.json["total"] == 0


def test_webhooks_are_for_admins_only(shop: Shop) -> None:
    customer = shop.register()
    some_id = uuid.uuid4()
    routes = [
        ("post", WEBHOOKS),
        ("get", WEBHOOKS),
        ("get", f"{WEBHOOKS}/{some_id}"),
        ("patch", f"{WEBHOOKS}/{some_id}"),
        ("delete", f"{WEBHOOKS}/{some_id}"),
        ("get", f"{WEBHOOKS}/{some_id}/deliveries"),
        ("post", f"{WEBHOOKS}/{some_id}/deliveries/{uuid.uuid4()}/redeliver"),
    ]

    for method, path in routes:
        anonymous = getattr(shop.web, method)(path, json={})
        customers = getattr(shop.web, method)(path, json={}, headers=customer.headers)
        assert (anonymous.status_code, customers.status_code) == (401, 403), path
        assert shop.mobile.get(path).status_code == 404  # not on the phone's port


def test_unknown_webhook_and_delivery_ids_are_404(shop: Shop) -> None:
    webhook_id = register(shop, "https://8.8.8.8/hook", ["*"])["webhookId"]  # a public address

    unknown_hook = shop.web.get(f"{WEBHOOKS}/{uuid.uuid4()}", headers=shop.admin.headers)
    unknown_delivery = shop.web.post(
        f"{WEBHOOKS}/{webhook_id}/deliveries/{uuid.uuid4()}/redeliver", headers=shop.admin.headers
    )

    assert (unknown_hook.status_code, unknown_delivery.status_code) == (404, 404)
    assert unknown_hook.json["code"] == 404


# --- the sender on its own --------------------------------------------------------------------


def test_delivery_time_check_refuses_a_loopback_peer_even_if_registration_passed(
    receiver: Receiver,
) -> None:
    """DNS rebinding: the address actually connected to is checked, on every delivery."""
    refused = post(receiver.url, b"{}", {}, timeout=2.0, allow_private=False)
    allowed = post(receiver.url, b"{}", {}, timeout=2.0, allow_private=True)

    assert refused.response_code is None
    assert refused.error is not None and refused.error.startswith("refused")
    assert allowed.response_code == 200
    assert len(receiver.received) == 1


def test_a_receiver_that_is_not_there_is_a_failed_attempt_not_an_error() -> None:
    outcome = post("http://127.0.0.1:9/nothing", b"{}", {}, timeout=1.0, allow_private=True)

    assert outcome.response_code is None
    assert not outcome.succeeded
    assert "ConnectionRefusedError" in (outcome.error or "")


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"id":"1"}'

    header = webhooks.signature("whsec_test", 1700000000, body)

    expected = hmac.new(b"whsec_test", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
