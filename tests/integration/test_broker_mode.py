"""OMS on PostgreSQL + RabbitMQ: duplicates have no second effect, poison is set aside,
and readiness tells when a dependency is gone."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import text

from oms import cli
from oms.app import create_port_apps, start_runtime
from oms.bus import Event
from oms.bus.rabbitmq import RabbitTransport
from oms.config import Settings
from oms.runtime import Runtime
from tests.conftest import TEST_SECRET, run_with_worker
from tests.polling import wait_until
from tests.support import DECLINED, Shop

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]
CLOSED_PORT = "127.0.0.1:1"


class DeliverTwice(RabbitTransport):
    """Every event reaches the broker twice, as after a lost publisher confirm."""

    def publish(self, event: Event) -> None:
        super().publish(event)
        super().publish(event)


@pytest.fixture
def twice_shop(broker_settings: Settings) -> Iterator[Shop]:
    transport = DeliverTwice(broker_settings.broker_url, namespace=broker_settings.broker_namespace)
    for runtime in run_with_worker(start_runtime(broker_settings, transport)):
        yield Shop(runtime)


def count(runtime: Runtime, sql: str, **params: object) -> int:
    with runtime.database.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


def payment_statuses(runtime: Runtime) -> list[str]:
    with runtime.database.engine.connect() as connection:
        rows = connection.execute(text("SELECT status FROM payments.payments ORDER BY status"))
        return [row.status for row in rows]


def test_every_event_delivered_twice_has_no_second_effect(twice_shop: Shop) -> None:
    shop = twice_shop
    customer = shop.register()
    widget = shop.add_product(price="5.00", stock=3)
    paid = shop.checkout(customer, [(widget["productId"], 1)])
    declined = shop.checkout(customer, [(widget["productId"], 1)], payment_method=DECLINED)
    too_many = shop.checkout(customer, [(widget["productId"], 5)])
    cancelled = shop.checkout(customer, [(widget["productId"], 1)])
    shop.web.post(f"/api/v1/orders/{cancelled.json['orderId']}/cancel", headers=customer.headers)

    assert (paid.status_code, declined.status_code, too_many.status_code) == (201, 402, 409)
    assert shop.stock_of(widget["productId"]) == 2
    paid_details = shop.details(customer, paid.json["orderId"])
    assert [e["status"] for e in paid_details["order"]["events"]] == [
        "pending",
        "confirmed",
        "processing",
    ]
    cancelled_details = shop.details(customer, cancelled.json["orderId"])
    assert [len(p["refunds"]) for p in cancelled_details["payments"]] == [1]
    assert [e["type"] for e in cancelled_details["order"]["events"]].count("refund.created") == 1
    assert payment_statuses(shop.runtime) == [
        "completed",
        "failed",
        "refunded",
    ]  # none for no stock
    assert count(shop.runtime, "SELECT count(*) FROM payments.refunds") == 1


def test_malformed_messages_go_to_the_dead_letter_queue_and_checkout_goes_on(
    saga_broker_shop: Shop,
) -> None:
    shop = saga_broker_shop
    settings = shop.runtime.settings
    namespace = settings.broker_namespace
    with Connection(settings.broker_url) as connection:
        producer = Producer(connection.default_channel)
        orders_exchange = Exchange(f"{namespace}orders", type="topic", durable=True)
        producer.publish(b"not json at all", exchange=orders_exchange, routing_key="order.created")
        producer.publish(
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "oms/orders",
                "type": "order.created",
                "data": {"orderId": "not-a-uuid"},
            },
            exchange=orders_exchange,
            routing_key="order.created",
            serializer="json",
        )
    customer = shop.register()
    widget = shop.add_product(stock=1)

    response = shop.checkout(customer, [(widget["productId"], 1)])

    assert response.status_code == 201
    shop.settle()
    store = shop.runtime.bus.dead_letters
    # order.created's consumer: products (no webhook endpoint: the webhooks queue is not
    # bound to it)
    wait_until(lambda: len(store.entries()) == 2, timeout=30, what="dead letters stored")
    entries = store.entries()
    assert sorted((entry.module, entry.kind) for entry in entries) == [
        ("products", "malformed"),
        ("products", "malformed"),
    ]
    assert {entry.body[:15] for entry in entries} >= {"not json at all"}
    with Connection(settings.broker_url) as connection:
        dead = connection.default_channel.queue_declare(
            f"{namespace}products.dead-letter", passive=True
        )
        assert dead.message_count == 0  # moved into the store, not copied


def test_oms_dead_letters_lists_a_malformed_message_and_drop_all_empties_the_store(
    broker_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The operator's view: no worker runs; the CLI collects the dead-letter queues itself."""
    for name, value in {
        "OMS_DATABASE_URL": broker_settings.database_url,
        "OMS_BROKER_URL": broker_settings.broker_url,
        "OMS_BROKER_NAMESPACE": broker_settings.broker_namespace,
        "OMS_JWT_SECRET": broker_settings.jwt_secret,
    }.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["dead-letters", "list", "--json"]) == 0  # declares the topology
    assert json.loads(capsys.readouterr().out) == []
    namespace = broker_settings.broker_namespace
    with Connection(broker_settings.broker_url) as connection:
        Producer(connection.default_channel).publish(
            b"{broken",
            exchange=Exchange(f"{namespace}orders", type="topic", durable=True),
            routing_key="order.cancelled",
        )
    consuming = start_runtime(broker_settings)
    stop = threading.Event()
    worker = threading.Thread(target=consuming.bus.run_worker, args=(stop,))
    worker.start()
    try:
        wait_until(
            lambda: (
                sum(
                    _dead_letter_queue_depth(broker_settings, consumer)
                    for consumer in ("payments", "products", "webhooks")
                )
                == 2
            ),
            timeout=10,
            what="the malformed message dead-lettered by the consumer",
        )
    finally:
        stop.set()
        worker.join()
        consuming.close()

    assert cli.main(["dead-letters", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted((entry["module"], entry["kind"], entry["body"]) for entry in listed) == [
        ("payments", "malformed", "{broken"),  # every consumer of order.cancelled (no
        ("products", "malformed", "{broken"),  # webhook endpoint wants it)
    ]
    assert {"id", "event_type", "correlation_id", "attempts", "first_error", "last_error"} <= set(
        listed[0]
    )
    assert cli.main(["dead-letters", "drop", "--all"]) == 0
    assert "dropped 2" in capsys.readouterr().out
    assert cli.main(["dead-letters", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def _dead_letter_queue_depth(settings: Settings, consumer: str) -> int:
    with Connection(settings.broker_url) as connection:
        return connection.default_channel.queue_declare(
            f"{settings.broker_namespace}{consumer}.dead-letter", passive=True
        ).message_count


@pytest.fixture
def saga_broker_shop(broker_runtime: Runtime) -> Shop:
    return Shop(broker_runtime)


def readiness(settings: Settings) -> tuple[int, dict]:
    runtime = start_runtime(settings)
    try:
        response = create_port_apps(runtime)["web"].test_client().get("/readyz")
        return response.status_code, response.json
    finally:
        runtime.close()


def test_readyz_is_503_while_the_broker_is_unreachable(postgres_url: str) -> None:
    settings = Settings(
        database_url=postgres_url,
        broker_url=f"amqp://guest:guest@{CLOSED_PORT}//",
        jwt_secret=TEST_SECRET,
    )
    status, body = readiness(settings)
    assert status == 503
    assert set(body["problems"]) == {"broker"}


def test_readyz_is_503_while_the_database_is_unreachable(amqp_url: str) -> None:
    settings = Settings(
        database_url=f"postgresql://postgres@{CLOSED_PORT}/oms",
        broker_url=amqp_url,
        jwt_secret=TEST_SECRET,
    )
    status, body = readiness(settings)
    assert status == 503
    assert set(body["problems"]) == {"database"}


def test_readyz_is_200_when_database_and_broker_are_up(broker_settings: Settings) -> None:
    assert readiness(broker_settings) == (200, {"status": "ready"})


def test_a_stopping_worker_publishes_what_the_outboxes_still_hold(
    broker_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish that failed after its commit leaves the event in the outbox, for the
    relay after its grace; a worker that stops first publishes it on its way out."""
    runtime = start_runtime(broker_settings)
    try:
        shop = Shop(runtime)
        transport = runtime.bus.transport
        with monkeypatch.context() as patched:
            patched.setattr(transport, "publish", _refuse)
            shop.add_product()  # answered: committed, its product.created left in the outbox
        assert products_outbox(runtime) == 1

        runtime.bus.relay_before_stopping()

        assert products_outbox(runtime) == 0  # published, confirmed and forgotten
    finally:
        runtime.close()


def _refuse(event: Event) -> None:
    raise ConnectionError("the broker is away")


def products_outbox(runtime: Runtime) -> int:
    with runtime.database.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM products.outbox")).scalar_one()
