"""Events over RabbitMQ: the contract's topology, confirmed publishing, acked consuming.

Every publishing module has a durable topic exchange named after it; every consuming
module a durable quorum queue named after it, bound on each handled event type's
publisher exchange with the type as routing key. A message is acked only after
`deliver` returned, so a crash while handling leaves it in its queue; handlers are
idempotent (the inbox), so a redelivery is harmless.

Failures, without blocking the queue:
- a failed delivery is acked once a copy of it waits in a delay queue (`oms.retry.<n>s`,
  shared by all consumers, one per delay tier), whose TTL dead-letters it back to the
  consumer's queue: exponential backoff with jitter, rounded up to a tier. Transient
  faults (database or broker away, deadlocks...) are retried for the retry budget,
  other failures a few times;
- then, or at once for a malformed message, a copy goes to `<consumer>.dead-letter`
  with the errors in its headers;
- a message whose handling kills the worker (redelivered, never acked) reaches the
  queue's delivery limit, and the broker dead-letters it there through
  `oms.dead-letter`;
- an event no queue is bound to take goes, through the publisher exchange's alternate
  exchange, to `<publisher>.unroutable`.
`sweep` moves what waits in the dead-letter and unroutable queues into the dead-letter
store, where `oms dead-letters` shows, replays and drops it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

from kombu import Connection, Consumer, Exchange, Producer, Queue, binding
from kombu.exceptions import KombuError
from kombu.message import Message

from oms.bus.catalogue import CATALOGUE, PUBLISHERS
from oms.bus.dead_letters import (
    FAILED,
    MALFORMED,
    REDELIVERED,
    UNROUTABLE,
    DeadLetterStore,
    Failure,
)
from oms.bus.envelope import CONTENT_TYPE, Event, MalformedEvent
from oms.bus.faults import RetryPolicy
from oms.bus.transport import Delivery
from oms.db import utc_now
from oms.telemetry import metrics
from oms.telemetry.context import event_fields

log = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE = "oms.dead-letter"
DEAD_LETTER_SUFFIX = ".dead-letter"
UNROUTABLE_SUFFIX = ".unroutable"
RETRY_PREFIX = "oms.retry."
RETRY_TIERS = (1, 2, 5, 10, 30, 60, 300)  # seconds a retried message waits
ATTEMPTS_HEADER = "x-oms-attempts"
FIRST_FAILED_HEADER = "x-oms-first-failed-at"
FIRST_ERROR_HEADER = "x-oms-first-error"
LAST_ERROR_HEADER = "x-oms-last-error"
KIND_HEADER = "x-oms-kind"
MAX_HEADER_LENGTH = 1000
PERSISTENT = 2

CONNECT_TIMEOUT = 2.0  # seconds to open a TCP connection to the broker
CONFIRM_TIMEOUT = 2.0  # seconds to wait for the broker to confirm a publish
POLL_INTERVAL = 1.0  # seconds the consume loop waits for a message before checking `stop`
RECONNECT_DELAY = 1.0  # doubling while the broker stays away, up to the maximum
MAX_RECONNECT_DELAY = 5.0
HEARTBEAT = 30  # a handler may run up to ~2 heartbeats before the broker drops the consumer

Received = tuple[str, Message]  # (consumer, message)


class RabbitTransport:
    """The `Transport` over RabbitMQ.

    `publish` may be called from many threads. `consume` runs the consumers bound
    here until `stop` is set; each call has its own connection, so several threads or
    processes running it are competing consumers on each queue.
    """

    def __init__(
        self,
        url: str,
        prefetch: int = 16,
        namespace: str = "",
        delivery_limit: int = 20,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.url = url
        self.prefetch = prefetch
        self.namespace = namespace
        self.delivery_limit = delivery_limit
        self.policy = retry_policy or RetryPolicy()
        self._store: DeadLetterStore | None = None
        self._bindings: dict[str, dict[str, Delivery]] = {}
        self._producers = _ProducerPool(self._connection)
        self._declare_lock = threading.Lock()
        self._declared = False

    # -- names ------------------------------------------------------------------

    def exchange_name(self, publisher: str) -> str:
        return self.namespace + publisher

    def queue_name(self, consumer: str) -> str:
        return self.namespace + consumer

    def dead_letter_queue_name(self, consumer: str) -> str:
        return self.queue_name(consumer) + DEAD_LETTER_SUFFIX

    def unroutable_name(self, publisher: str) -> str:
        """The alternate exchange of `publisher`'s exchange, and its queue."""
        return self.namespace + publisher + UNROUTABLE_SUFFIX

    def retry_name(self, seconds: int) -> str:
        """The delay exchange and queue of one retry tier."""
        return f"{self.namespace}{RETRY_PREFIX}{seconds}s"

    @property
    def dead_letter_exchange_name(self) -> str:
        return self.namespace + DEAD_LETTER_EXCHANGE

    # -- the Transport protocol -------------------------------------------------

    def bind(self, consumer: str, event_types: Iterable[str], deliver: Delivery) -> None:
        routes = self._bindings.setdefault(consumer, {})
        for event_type in event_types:
            if event_type not in CATALOGUE:
                raise ValueError(f"{event_type!r} is not in the event catalogue")
            routes[event_type] = deliver
        self._declared = False  # the next publish or consume declares the new bindings

    def use_dead_letters(self, store: DeadLetterStore, policy: RetryPolicy) -> None:
        self._store, self.policy = store, policy

    def publish(self, event: Event) -> None:
        """Publish `event` persistently and wait for the broker's confirm; raise if refused.

        No retries here: a publish that fails leaves the event in the outbox, whose
        relay publishes it later. A request is never held long by a broker away."""
        event_type = CATALOGUE.get(event.type)
        if event_type is None:
            raise MalformedEvent(f"unknown event type {event.type!r}")
        exchange = self.exchange(event_type.publisher)
        self._declare_once()
        try:
            self._publish_once(event, exchange)
        except TimeoutError:  # the broker does not answer: no second wait
            raise
        except Exception as error:  # most often a pooled connection closed meanwhile
            log.info("publishing again on a new connection after %r", error)
            self._publish_once(event, exchange)

    def _publish_once(self, event: Event, exchange: Exchange) -> None:
        with self._producers.acquire() as producer:
            producer.publish(
                event.to_json(),
                exchange=exchange,
                routing_key=event.type,
                retry=False,
                timeout=CONFIRM_TIMEOUT,
                **_properties(event),
            )

    def sweep(self) -> None:
        """Move dead-lettered and unroutable messages into the dead-letter store."""
        if self._store is None:
            return
        self._declare_once()
        with self._connection() as connection:
            connection.ensure_connection(max_retries=0)
            channel = connection.default_channel
            for consumer in self._bindings:
                queue = self._dead_letter_queue(consumer)(channel)
                while (message := queue.get(no_ack=False)) is not None:
                    self._store.park(consumer, _dead_letter(message))
                    message.ack()
            for publisher in PUBLISHERS:
                queue = self._unroutable_queue(publisher)(channel)
                while (message := queue.get(no_ack=False)) is not None:
                    self._keep_unroutable(publisher, message)
                    message.ack()

    def ping(self) -> None:
        with Connection(self.url, connect_timeout=CONNECT_TIMEOUT) as connection:
            connection.ensure_connection(max_retries=0)

    def pending(self) -> int:
        with Connection(self.url, connect_timeout=CONNECT_TIMEOUT) as connection:
            channel = connection.default_channel
            return sum(
                channel.queue_declare(self.queue_name(consumer), passive=True).message_count
                for consumer in self._bindings
            )

    def close(self) -> None:
        self._producers.close()

    # -- topology ---------------------------------------------------------------

    def declare(self) -> None:
        """Declare every exchange, and every bound queue, binding and dead-letter queue."""
        with self._connection() as connection:
            connection.ensure_connection(max_retries=0)
            self._declare_on(connection.default_channel)
        self._declared = True

    def _declare_once(self) -> None:
        # Queues declared before the first publish cannot miss it, whichever process
        # starts first.
        if self._declared:
            return
        with self._declare_lock:
            if not self._declared:
                self.declare()

    def _declare_on(self, channel: Any) -> None:
        for publisher in PUBLISHERS:
            self._unroutable_queue(publisher)(channel).declare()
            self.exchange(publisher)(channel).declare()
        for seconds in RETRY_TIERS:
            self._retry_queue(seconds)(channel).declare()
        for consumer in self._bindings:
            self._dead_letter_queue(consumer)(channel).declare()
            self._queue(consumer)(channel).declare()

    def exchange(self, publisher: str) -> Exchange:
        """`publisher`'s topic exchange, as declared (with its alternate exchange)."""
        return Exchange(
            self.exchange_name(publisher),
            type="topic",
            durable=True,
            arguments={"alternate-exchange": self.unroutable_name(publisher)},
        )

    def _dead_letter_exchange(self) -> Exchange:
        return Exchange(self.dead_letter_exchange_name, type="direct", durable=True)

    def _queue(self, consumer: str) -> Queue:
        name = self.queue_name(consumer)
        bindings = [
            binding(self.exchange(CATALOGUE[event_type].publisher), routing_key=event_type)
            for event_type in sorted(self._bindings[consumer])
        ]
        arguments = {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": self.dead_letter_exchange_name,
            "x-dead-letter-routing-key": name,
        }
        return Queue(name, bindings=bindings, durable=True, queue_arguments=arguments)

    def _dead_letter_queue(self, consumer: str) -> Queue:
        return Queue(
            self.dead_letter_queue_name(consumer),
            exchange=self._dead_letter_exchange(),
            routing_key=self.queue_name(consumer),
            durable=True,
        )

    def _unroutable_queue(self, publisher: str) -> Queue:
        name = self.unroutable_name(publisher)
        return Queue(name, exchange=Exchange(name, type="fanout", durable=True), durable=True)

    def _retry_queue(self, seconds: int) -> Queue:
        """Holds a message `seconds`, then dead-letters it through the default exchange
        under its routing key: the name of the queue it is retried in."""
        name = self.retry_name(seconds)
        arguments = {"x-message-ttl": seconds * 1000, "x-dead-letter-exchange": ""}
        exchange = Exchange(name, type="fanout", durable=True)
        return Queue(name, exchange=exchange, durable=True, queue_arguments=arguments)

    # -- connections ------------------------------------------------------------

    def _connection(self, heartbeat: int = 0) -> Connection:
        return Connection(
            self.url,
            connect_timeout=CONNECT_TIMEOUT,
            heartbeat=heartbeat,
            transport_options={"confirm_publish": True, "max_retries": 0},
        )

    # -- consuming --------------------------------------------------------------

    def consume(self, stop: threading.Event) -> None:
        """Deliver events to the bound consumers until `stop` is set; reconnect when cut off."""
        errors = _recoverable_errors(self._connection())
        failures = 0
        while not stop.is_set():
            consuming = threading.Event()
            try:
                self._consume_session(stop, consuming)
            except errors as error:
                failures = 1 if consuming.is_set() else failures + 1
                delay = min(RECONNECT_DELAY * 2 ** (failures - 1), MAX_RECONNECT_DELAY)
                delay *= random.uniform(0.5, 1.0)  # workers restarting together spread out
                log.warning("broker connection lost (%s); reconnecting in %.0f s", error, delay)
                stop.wait(delay)

    def _consume_session(self, stop: threading.Event, consuming: threading.Event) -> None:
        received: deque[Received] = deque()
        with self._connection(heartbeat=HEARTBEAT) as connection, ExitStack() as consumers:
            connection.ensure_connection(max_retries=0)
            self._declare_on(connection.default_channel)
            for consumer in self._bindings:
                consumers.enter_context(self._consumer(connection, consumer, received))
            retry_producer = Producer(connection.channel())
            log.info("consuming %s", ", ".join(self._bindings) or "nothing")
            consuming.set()
            while not stop.is_set():
                _drain(connection)
                self._handle_received(received, retry_producer, stop)

    def _consumer(
        self, connection: Connection, consumer: str, received: deque[Received]
    ) -> Consumer:
        def on_message(message: Message) -> None:
            received.append((consumer, message))  # handled outside the AMQP frame loop

        channel = connection.channel()
        kombu_consumer = Consumer(
            channel, queues=[self._queue(consumer)], on_message=on_message, auto_declare=False
        )
        kombu_consumer.qos(prefetch_count=self.prefetch)
        return kombu_consumer

    def _handle_received(
        self, received: deque[Received], retry_producer: Producer, stop: threading.Event
    ) -> None:
        while received and not stop.is_set():
            consumer, message = received.popleft()
            self._handle(consumer, message, retry_producer)
        # Whatever is left unacked goes back to its queue when the connection closes.

    def _handle(self, consumer: str, message: Message, producer: Producer) -> None:
        try:
            event = Event.from_json(message.body)
            self._route(consumer, event)(event)
        except MalformedEvent as error:
            log.error("dead-lettered for %s, malformed: %r (%s)", consumer, message.body, error)
            metrics.count_dead_letter(consumer)
            self._forward(
                message, self.dead_letter_queue_name(consumer), producer, MALFORMED, error
            )
        except Exception as error:
            self._failed(consumer, message, error, producer)
        else:
            message.ack()

    def _route(self, consumer: str, event: Event) -> Delivery:
        deliver = self._bindings[consumer].get(event.type)
        if deliver is None:  # e.g. a binding left on the broker by an older version
            raise MalformedEvent(f"{consumer} does not handle {event.type!r}")
        return deliver

    def _failed(
        self, consumer: str, message: Message, error: Exception, producer: Producer
    ) -> None:
        headers = message.headers or {}
        attempt = _attempts(message) + 1
        now = utc_now()
        first_failed_at = _time(headers.get(FIRST_FAILED_HEADER)) or now
        retry_at = self.policy.next_try(error, attempt, first_failed_at, now)
        if retry_at is None:
            log.error(
                "dead-lettered for %s after %d attempts: %r (%r)",
                consumer,
                attempt,
                message.body,
                error,
                extra=_event_fields(message),
            )
            metrics.count_dead_letter(consumer)
            self._forward(message, self.dead_letter_queue_name(consumer), producer, FAILED, error)
            return
        delay = (retry_at - now).total_seconds()
        tier = next((s for s in RETRY_TIERS if s >= delay), RETRY_TIERS[-1])
        log.warning(
            "consumer %s failed (attempt %d), retrying in %d s: %r",
            consumer,
            attempt,
            tier,
            error,
            extra=_event_fields(message),
        )
        metrics.count_retry(consumer, str(message.properties.get("type") or "unknown"))
        self._forward(
            message, self.queue_name(consumer), producer, FAILED, error, via=self.retry_name(tier)
        )

    def _forward(
        self,
        message: Message,
        queue: str,
        producer: Producer,
        kind: str,
        error: Exception,
        via: str = "",
    ) -> None:
        """Publish a copy of `message` with its failure noted, to `queue` (through the
        delay exchange `via`, if given), then ack the original: once its copy is
        confirmed, never before."""
        headers = dict(message.headers or {})
        headers.pop("x-death", None)
        now = utc_now().isoformat()
        headers[KIND_HEADER] = kind
        headers[ATTEMPTS_HEADER] = _attempts(message) + 1
        headers.setdefault(FIRST_FAILED_HEADER, now)
        headers.setdefault(FIRST_ERROR_HEADER, _header_text(error))
        headers[LAST_ERROR_HEADER] = _header_text(error)
        properties = message.properties
        producer.publish(
            message.body,
            exchange=via,  # "" is the default exchange: it routes to the queue named by the key
            routing_key=queue,
            headers=headers,
            content_type=message.content_type or CONTENT_TYPE,
            content_encoding=message.content_encoding or "utf-8",
            delivery_mode=PERSISTENT,
            message_id=properties.get("message_id"),
            correlation_id=properties.get("correlation_id"),
            type=properties.get("type"),
            timeout=CONFIRM_TIMEOUT,
        )
        message.ack()

    def _keep_unroutable(self, publisher: str, message: Message) -> None:
        event_type = message.delivery_info.get("routing_key", "")
        if event_type in CATALOGUE and not any(
            event_type in routes for routes in self._bindings.values()
        ):
            return  # an event nothing consumes yet (e.g. user.created): not a fault
        assert self._store is not None
        error = f"no queue is bound to take {event_type!r} from {publisher}"
        log.error("unroutable event from %s: %r", publisher, message.body)
        self._store.park(publisher, Failure(UNROUTABLE, _text(message.body), error))


class _ProducerPool:
    """Producers for many threads: each publish borrows one; a failed one is discarded."""

    def __init__(self, connect: Callable[[], Connection]) -> None:
        self._connect = connect
        self._idle: list[Producer] = []
        self._lock = threading.Lock()

    @contextmanager
    def acquire(self) -> Iterator[Producer]:
        with self._lock:
            producer = self._idle.pop() if self._idle else None
        if producer is None:
            producer = Producer(self._connect())
        try:
            yield producer
        except BaseException:
            _release(producer)  # its connection or channel may be broken: start afresh
            raise
        with self._lock:
            self._idle.append(producer)

    def close(self) -> None:
        """Close the idle connections (a later publish opens new ones)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for producer in idle:
            _release(producer)


def _release(producer: Producer) -> None:
    try:
        producer.connection.release()
    except Exception as error:  # closing a broken connection may fail again: nothing to keep
        log.debug("closing a publishing connection: %r", error)


def _properties(event: Event) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "content_type": CONTENT_TYPE,
        "content_encoding": "utf-8",
        "delivery_mode": PERSISTENT,
        "message_id": event.id,
        "type": event.type,
        "headers": {
            "ce-specversion": event.specversion,
            "ce-id": event.id,
            "ce-type": event.type,
            "ce-source": event.source,
            "ce-time": event.time,
        },
    }
    if event.correlationid is not None:
        properties["correlation_id"] = event.correlationid
        properties["headers"]["ce-correlationid"] = event.correlationid
    return properties


def _event_fields(message: Message) -> dict[str, str]:
    properties = message.properties
    return event_fields(
        properties.get("message_id"), properties.get("type"), properties.get("correlation_id")
    )


def _attempts(message: Message) -> int:
    """How many times this message has failed already (0 for a new one)."""
    try:
        return max(int((message.headers or {}).get(ATTEMPTS_HEADER, 0)), 0)
    except (TypeError, ValueError):
        return 0


def _dead_letter(message: Message) -> Failure:
    """What a message in a dead-letter queue says of its failures."""
    headers = message.headers or {}
    if KIND_HEADER in headers:
        return Failure(
            kind=str(headers[KIND_HEADER]),
            body=_text(message.body),
            error=str(headers.get(LAST_ERROR_HEADER, "")),
            attempts=_attempts(message),
            first_error=str(headers.get(FIRST_ERROR_HEADER, "")) or None,
            first_failed_at=_time(headers.get(FIRST_FAILED_HEADER)),
        )
    deaths = headers.get("x-death") or [{}]
    reason = deaths[0].get("reason", "unknown")
    error = (
        f"the broker dead-lettered it ({reason}): delivered again and again without an ack;"
        " the worker may have died while handling it"
    )
    return Failure(REDELIVERED, _text(message.body), error, attempts=int(deaths[0].get("count", 1)))


def _text(body: str | bytes) -> str:
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else body


def _header_text(error: BaseException) -> str:
    return repr(error)[:MAX_HEADER_LENGTH]


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _drain(connection: Connection) -> None:
    connection.heartbeat_check()
    try:
        connection.drain_events(timeout=POLL_INTERVAL)
    except TimeoutError:  # socket.timeout: nothing arrived
        return


def _recoverable_errors(connection: Connection) -> tuple[type[BaseException], ...]:
    return (KombuError, *connection.connection_errors, *connection.channel_errors)
