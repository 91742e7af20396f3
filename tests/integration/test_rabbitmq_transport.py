"""RabbitTransport against a real broker: routing, acks, retries, dead letters, outages.

Every test works under its own name prefix (`namespace`) and deletes what it declared.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from amqp.exceptions import PreconditionFailed
from kombu import Connection, Exchange, Producer, Queue

from oms.bus.catalogue import CATALOGUE, PUBLISHERS, event_type_of
from oms.bus.envelope import Event, MalformedEvent
from oms.bus.faults import RetryPolicy
from oms.bus.rabbitmq import (
    ATTEMPTS_HEADER,
    FIRST_ERROR_HEADER,
    KIND_HEADER,
    LAST_ERROR_HEADER,
    RETRY_TIERS,
    RabbitTransport,
)
from tests.integration.processes import TcpProxy
from tests.polling import wait_until

pytestmark = pytest.mark.rabbitmq

AMQP_URL = os.environ.get("OMS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
CLOSED_PORT_URL = "amqp://guest:guest@127.0.0.1:1//"
CONSUMERS = ("products", "payments", "orders")
WAIT = 10.0


# -- fixtures ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def amqp_url() -> str:
    try:
        with Connection(AMQP_URL, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=0)
    except Exception as error:
        message = f"RabbitMQ not reachable at {AMQP_URL}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return AMQP_URL


@pytest.fixture
def broker(amqp_url: str) -> Iterator[Connection]:
    """A plain kombu connection, to look at the broker the way an operator would."""
    with Connection(amqp_url, connect_timeout=2) as connection:
        yield connection


@pytest.fixture
def namespace(broker: Connection) -> Iterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:10]}."
    yield prefix
    names = [prefix + consumer for consumer in CONSUMERS]
    unroutable = [prefix + publisher + ".unroutable" for publisher in PUBLISHERS]
    retries = [f"{prefix}oms.retry.{seconds}s" for seconds in RETRY_TIERS]
    queues = names + [name + ".dead-letter" for name in names] + unroutable + retries
    exchanges = [prefix + publisher for publisher in PUBLISHERS] + [prefix + "oms.dead-letter"]
    exchanges += unroutable + retries
    with broker.channel() as channel:
        for queue in queues:
            channel.queue_delete(queue)
        for exchange in exchanges:
            channel.exchange_delete(exchange)


@pytest.fixture
def transports(amqp_url: str, namespace: str) -> Iterator[Callable[..., RabbitTransport]]:
    made: list[RabbitTransport] = []

    def make(url: str = amqp_url, **options: Any) -> RabbitTransport:
        transport = RabbitTransport(url, namespace=namespace, **options)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


# -- helpers ----------------------------------------------------------------------


def order_created() -> Event:
    order_id = str(uuid.uuid4())
    data = {
        "orderId": order_id,
        "userId": str(uuid.uuid4()),
        "items": [{"productId": str(uuid.uuid4()), "quantity": 2, "unitPrice": "9.99"}],
        "totalAmount": "19.98",
        "currency": "EUR",
        "paymentMethod": {"type": "card", "token": "tok_visa"},
    }
    return Event(
        type="order.created",
        source="oms/orders",
        data=data,
        correlationid=order_id,
        dataschema=CATALOGUE["order.created"].dataschema,
    )


def inventory_reserved() -> Event:
    order_id = str(uuid.uuid4())
    data = {"orderId": order_id, "items": [{"productId": str(uuid.uuid4()), "quantity": 1}]}
    return Event(
        type="inventory.reserved", source="oms/products", data=data, correlationid=order_id
    )


class Recorder:
    """Handlers that record what they get; `fail` decides whether one raises this time."""

    def __init__(self, fail: Callable[[Event, int], bool] = lambda event, calls: False) -> None:
        self.fail = fail
        self.received: list[tuple[str, Event]] = []
        self._lock = threading.Lock()

    def handler(self, consumer: str) -> Callable[[Event], None]:
        def deliver(event: Event) -> None:
            with self._lock:
                self.received.append((consumer, event))
                calls = sum(1 for _, seen in self.received if seen.id == event.id)
            event_type_of(event)  # as the bus does: an invalid payload is MalformedEvent
            if self.fail(event, calls):
                raise RuntimeError(f"handler failed on call {calls}")

        return deliver

    def ids(self, consumer: str) -> list[str]:
        with self._lock:
            return [event.id for name, event in self.received if name == consumer]


@contextmanager
def consuming(transport: RabbitTransport) -> Iterator[list[BaseException]]:
    """Run `transport.consume` in a thread; stop it and check it returns promptly."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            transport.consume(stop)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, name="test-consumer", daemon=True)
    thread.start()
    try:
        yield errors
    finally:
        stop.set()
        stopping = time.monotonic()
        thread.join(timeout=5)
        assert not thread.is_alive(), "consume did not return after stop was set"
        assert time.monotonic() - stopping < 2.5


def message_count(broker: Connection, queue: str) -> int:
    with broker.channel() as channel:
        return channel.queue_declare(queue=queue, passive=True).message_count


def take_all(broker: Connection, queue: str) -> list[Any]:
    messages = []
    with broker.channel() as channel:
        bound = Queue(queue, no_declare=True)(channel)
        while (message := bound.get(no_ack=True)) is not None:
            messages.append(message)
    return messages


def text(body: str | bytes) -> str:
    """A message body as the broker client hands it over (decoded when it can)."""
    return body.decode() if isinstance(body, bytes) else body


@pytest.fixture
def proxy(broker: Connection) -> Iterator[TcpProxy]:
    with TcpProxy(broker.hostname, broker.port or 5672) as relay:
        yield relay


def through(proxy: TcpProxy, broker: Connection) -> str:
    via = Connection(
        hostname="127.0.0.1",
        port=proxy.port,
        userid=broker.userid,
        password=broker.password,
        virtual_host=broker.virtual_host,
    )
    return via.as_uri(include_password=True)


# -- tests ------------------------------------------------------------------------


def test_order_created_reaches_products_and_payments_but_not_unrelated_events(
    transports: Callable[..., RabbitTransport], broker: Connection, namespace: str
) -> None:
    recorder = Recorder()
    consumer = transports()
    consumer.bind("products", ["order.created", "order.cancelled"], recorder.handler("products"))
    consumer.bind("payments", ["order.created", "order.confirmed"], recorder.handler("payments"))
    consumer.declare()
    publisher = transports()  # another process, in effect: it binds nothing
    created, unrelated, fence = order_created(), inventory_reserved(), order_created()

    with consuming(consumer) as errors:
        publisher.publish(created)
        publisher.publish(unrelated)
        publisher.publish(fence)  # published after `unrelated`: once it is in, all is
        wait_until(
            lambda: all(fence.id in recorder.ids(name) for name in ("products", "payments")), WAIT
        )

    assert errors == []
    assert recorder.ids("products") == [created.id, fence.id]
    assert recorder.ids("payments") == [created.id, fence.id]
    for _, event in recorder.received:
        if event.id == created.id:
            assert event == created  # same id, data, time and correlation id
    for queue in ("products", "payments"):
        assert message_count(broker, namespace + queue) == 0
        assert message_count(broker, namespace + queue + ".dead-letter") == 0


def test_publishing_from_many_threads_delivers_each_event_once(
    transports: Callable[..., RabbitTransport], broker: Connection, namespace: str
) -> None:
    recorder = Recorder()
    consumer = transports()
    consumer.bind("payments", ["order.created"], recorder.handler("payments"))
    consumer.declare()
    publisher = transports()
    events = [order_created() for _ in range(200)]
    batches = [events[start::8] for start in range(8)]

    def publish_all(batch: list[Event]) -> None:
        for event in batch:
            publisher.publish(event)

    with consuming(consumer) as errors:
        threads = [threading.Thread(target=publish_all, args=(batch,)) for batch in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT)
        wait_until(lambda: len(recorder.ids("payments")) >= len(events), WAIT)

    assert errors == []
    assert sorted(recorder.ids("payments")) == sorted(event.id for event in events)
    assert message_count(broker, namespace + "payments") == 0


def test_a_failing_handler_is_retried_and_the_message_acked_only_after_success(
    transports: Callable[..., RabbitTransport], broker: Connection, namespace: str
) -> None:
    recorder = Recorder(fail=lambda event, calls: calls <= 2)
    consumer = transports(retry_policy=RetryPolicy(quick_attempts=5))
    consumer.bind("products", ["order.created"], recorder.handler("products"))
    consumer.declare()
    event = order_created()

    with consuming(consumer) as errors:
        transports().publish(event)
        wait_until(lambda: len(recorder.ids("products")) == 3, WAIT)
        time.sleep(0.3)  # room for a wrong fourth delivery

    assert errors == []
    assert recorder.ids("products") == [event.id] * 3
    assert all(seen == event for _, seen in recorder.received)
    # The consumer's connection is closed: anything unacked would be back in the queue.
    assert message_count(broker, namespace + "products") == 0
    assert message_count(broker, namespace + "products.dead-letter") == 0


class ProcessDied(BaseException):
    """Stands for the worker being killed while a handler runs."""


def test_a_message_is_not_lost_when_the_consumer_dies_while_handling_it(
    transports: Callable[..., RabbitTransport], broker: Connection, namespace: str
) -> None:
    def die(event: Event) -> None:
        raise ProcessDied

    dying = transports()
    dying.bind("payments", ["order.created"], die)
    dying.declare()
    event = order_created()

    with consuming(dying) as errors:
        transports().publish(event)
        wait_until(lambda: bool(errors), WAIT)
    assert isinstance(errors[0], ProcessDied)
    wait_until(lambda: message_count(broker, namespace + "payments") == 1, WAIT)

    recorder = Recorder()
    survivor = transports()
    survivor.bind("payments", ["order.created"], recorder.handler("payments"))
    with consuming(survivor) as errors:
        wait_until(lambda: recorder.ids("payments") == [event.id], WAIT)
    assert errors == []
    assert message_count(broker, namespace + "payments") == 0


def test_unhandleable_messages_are_dead_lettered_and_the_consumer_goes_on(
    transports: Callable[..., RabbitTransport], broker: Connection, namespace: str
) -> None:
    poison = order_created()
    recorder = Recorder(fail=lambda event, calls: event.id == poison.id)
    consumer = transports(retry_policy=RetryPolicy(initial_seconds=0.5, quick_attempts=3))
    consumer.bind("products", ["order.created"], recorder.handler("products"))
    consumer.declare()
    invalid = Event(type="order.created", source="oms/orders", data={"orderId": "nope"})
    good = order_created()

    with consuming(consumer) as errors:
        with broker.channel() as channel:
            Producer(channel).publish(
                b"this is not JSON",
                exchange=namespace + "orders",
                routing_key="order.created",
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )
        publisher = transports()
        for event in (invalid, poison, good):
            publisher.publish(event)
        wait_until(lambda: good.id in recorder.ids("products"), WAIT)
        wait_until(lambda: message_count(broker, namespace + "products.dead-letter") == 3, WAIT)

    assert errors == []
    assert recorder.ids("products").count(poison.id) == 3  # max_attempts, then dead-lettered
    assert recorder.ids("products").count(invalid.id) == 0  # malformed: never handed over
    assert recorder.ids("products").count(good.id) == 1
    dead = take_all(broker, namespace + "products.dead-letter")
    bodies = [text(message.body) for message in dead]
    assert "this is not JSON" in bodies
    dead_ids = {Event.from_json(body).id for body in bodies if body != "this is not JSON"}
    assert dead_ids == {invalid.id, poison.id}
    kinds = {text(message.body)[:16]: message.headers[KIND_HEADER] for message in dead}
    assert kinds["this is not JSON"] == "malformed"
    retried = next(message for message in dead if poison.id in text(message.body))
    assert retried.headers[KIND_HEADER] == "failed"
    assert retried.headers[ATTEMPTS_HEADER] == 3
    assert "call 1" in retried.headers[FIRST_ERROR_HEADER]
    assert "call 3" in retried.headers[LAST_ERROR_HEADER]
    assert message_count(broker, namespace + "products") == 0


def test_a_transient_failure_is_retried_past_the_quick_attempts_without_blocking_the_queue(
    transports: Callable[..., RabbitTransport], broker: Connection, namespace: str
) -> None:
    stuck = order_created()
    calls: list[str] = []

    def handler(event: Event) -> None:
        calls.append(event.id)
        if event.id == stuck.id and calls.count(stuck.id) <= 3:
            raise ConnectionError("the database is away")

    consumer = transports(retry_policy=RetryPolicy(initial_seconds=0.5, quick_attempts=1))
    consumer.bind("products", ["order.created"], handler)
    consumer.declare()
    later = order_created()

    with consuming(consumer) as errors:
        publisher = transports()
        publisher.publish(stuck)
        publisher.publish(later)
        wait_until(lambda: later.id in calls, WAIT)
        assert stuck.id not in calls[calls.index(later.id) :]  # the later one did not wait
        wait_until(lambda: calls.count(stuck.id) == 4, WAIT)

    assert errors == []
    assert message_count(broker, namespace + "products.dead-letter") == 0
    assert message_count(broker, namespace + "products") == 0


def test_a_message_that_kills_its_consumer_every_time_ends_in_the_dead_letter_queue(
    transports: Callable[..., RabbitTransport], broker: Connection, namespace: str
) -> None:
    """Classic queues redeliver such a message forever; the quorum queue's delivery
    limit hands it to the dead-letter queue instead."""

    def die(event: Event) -> None:
        raise ProcessDied

    event = order_created()
    for attempt in range(4):
        dying = transports(delivery_limit=2)
        dying.bind("payments", ["order.created"], die)
        dying.declare()
        if attempt == 0:
            transports().publish(event)
        with consuming(dying) as errors:
            wait_until(
                lambda: (
                    bool(errors) or message_count(broker, namespace + "payments.dead-letter") == 1
                ),
                WAIT,
            )
        if not errors:
            break

    [dead] = take_all(broker, namespace + "payments.dead-letter")
    assert Event.from_json(dead.body) == event
    assert dead.headers["x-death"][0]["queue"] == namespace + "payments"
    assert message_count(broker, namespace + "payments") == 0


def test_each_event_is_told_to_the_outbox_once_the_broker_confirmed_it(
    transports: Callable[..., RabbitTransport], broker: Connection, namespace: str
) -> None:
    forgotten: list[str] = []
    publisher = transports()
    publisher.use_outbox(lambda events: forgotten.extend(event.id for event in events))
    publisher.bind("products", ["order.created"], lambda event: None)  # a queue, no consumer
    publisher.declare()
    first, second = order_created(), order_created()

    publisher.publish(first)
    publisher.publish(second)

    assert forgotten == [first.id, second.id]  # publish returns once confirmed
    assert message_count(broker, namespace + "products") == 2


def test_an_event_no_queue_takes_goes_to_the_publishers_unroutable_queue(
    transports: Callable[..., RabbitTransport], broker: Connection, namespace: str
) -> None:
    transports().declare()
    with broker.channel() as channel:
        Producer(channel).publish(
            b'{"not": "routed"}',
            exchange=namespace + "orders",
            routing_key="order.exploded",
            content_type="application/json",
            delivery_mode=2,
        )
    wait_until(lambda: message_count(broker, namespace + "orders.unroutable") == 1, WAIT)
    [kept] = take_all(broker, namespace + "orders.unroutable")
    assert text(kept.body) == '{"not": "routed"}'
    assert kept.delivery_info["routing_key"] == "order.exploded"


def test_publish_and_consume_carry_on_after_the_connection_is_cut(
    transports: Callable[..., RabbitTransport], broker: Connection, proxy: TcpProxy
) -> None:
    recorder = Recorder()
    url = through(proxy, broker)
    consumer = transports(url)
    consumer.bind("orders", ["inventory.reserved"], recorder.handler("orders"))
    consumer.declare()
    publisher = transports(url)
    before, after = inventory_reserved(), inventory_reserved()

    with consuming(consumer) as errors:
        publisher.publish(before)
        wait_until(lambda: before.id in recorder.ids("orders"), WAIT)
        proxy.stop()  # cuts both the publisher's pooled connection and the consumer's
        proxy.start()
        publisher.publish(after)
        wait_until(lambda: after.id in recorder.ids("orders"), WAIT)

    assert errors == []
    assert set(recorder.ids("orders")) == {before.id, after.id}


def test_publish_raises_promptly_when_the_broker_cannot_be_reached(
    transports: Callable[..., RabbitTransport],
) -> None:
    transport = transports(CLOSED_PORT_URL)
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - the bus's relay takes any exception
        transport.publish(order_created())
    assert time.monotonic() - started < 5


def test_ping_raises_on_a_closed_port_and_passes_on_the_broker(
    transports: Callable[..., RabbitTransport],
) -> None:
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - any error means "not reachable"
        transports(CLOSED_PORT_URL).ping()
    assert time.monotonic() - started < 3
    transports().ping()


def test_topology_is_durable_and_messages_persistent(
    transports: Callable[..., RabbitTransport], broker: Connection, namespace: str
) -> None:
    transport = transports()
    transport.bind("products", ["order.created"], lambda event: None)
    event = order_created()
    transport.publish(event)  # the first publish declares the topology; nobody consumes

    dead_letter = namespace + "oms.dead-letter"
    arguments = {
        "x-queue-type": "quorum",
        "x-delivery-limit": 20,
        "x-dead-letter-exchange": dead_letter,
        "x-dead-letter-routing-key": namespace + "products",
    }
    with broker.channel() as channel:  # declaring what exists, equivalently, is a no-op
        for publisher in PUBLISHERS:
            unroutable = {"alternate-exchange": namespace + publisher + ".unroutable"}
            Exchange(namespace + publisher, "topic", durable=True, arguments=unroutable)(
                channel
            ).declare()
        Exchange(dead_letter, "direct", durable=True)(channel).declare()
        channel.queue_declare(
            namespace + "products", durable=True, auto_delete=False, arguments=arguments
        )
        channel.queue_declare(namespace + "products.dead-letter", durable=True, auto_delete=False)
    for name in (namespace + "products", namespace + "products.dead-letter"):
        with broker.channel() as channel, pytest.raises(PreconditionFailed):
            channel.queue_declare(name, durable=False, auto_delete=False, arguments=arguments)
    with broker.channel() as channel, pytest.raises(PreconditionFailed):
        channel.exchange_declare(namespace + "orders", "topic", durable=False)

    [message] = take_all(broker, namespace + "products")
    assert message.properties["delivery_mode"] == 2
    assert message.content_type == "application/json"
    assert message.properties["message_id"] == event.id
    assert message.headers["ce-type"] == "order.created"
    assert message.headers["ce-source"] == "oms/orders"
    assert Event.from_json(message.body) == event


def test_bind_refuses_an_event_type_outside_the_catalogue(
    transports: Callable[..., RabbitTransport],
) -> None:
    with pytest.raises(ValueError):
        transports().bind("products", ["order.exploded"], lambda event: None)
    with pytest.raises(MalformedEvent):
        transports().publish(Event(type="order.exploded", source="oms/orders", data={}))


def test_consume_keeps_retrying_while_the_broker_is_away_and_still_stops_promptly(
    transports: Callable[..., RabbitTransport],
) -> None:
    transport = transports(CLOSED_PORT_URL)
    transport.bind("orders", ["payment.completed"], lambda event: None)
    with consuming(transport) as errors:
        time.sleep(1.5)  # a few failed connection attempts
    assert errors == []
