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
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from kombu import Connection, Consumer, Exchange, Producer, Queue, binding
from kombu.message import Message
from kombu.mixins import ConsumerMixin
from kombu.pools import ProducerPool

from oms.bus.catalogue import CATALOGUE, PUBLISHERS, decode
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
from oms.bus.transport import Delivery, Forget, Wanted, forget_nothing
from oms.db import SCHEMAS, utc_now
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
RECONNECT_DELAY = 1.0  # growing by itself while the broker stays away, up to the maximum
MAX_RECONNECT_DELAY = 5.0
PUBLISHING_CONNECTIONS = 32  # per process; a publish waits for one at most CONNECT_TIMEOUT
HEARTBEAT = 30  # a handler may run up to ~2 heartbeats before the broker drops the consumer

Received = tuple[str, Message]  # (consumer, message)


def declared_names(namespace: str) -> tuple[list[str], list[str]]:
    """The queues and the exchanges OMS may declare under `namespace`: what to delete to
    take a scratch namespace away (the tests', the benchmark's). An idle quorum queue left
    behind still costs the broker CPU."""
    consumers = [namespace + module for module in SCHEMAS]
    unroutable = [namespace + publisher + UNROUTABLE_SUFFIX for publisher in PUBLISHERS]
    retries = [f"{namespace}{RETRY_PREFIX}{seconds}s" for seconds in RETRY_TIERS]
    dead_letters = [consumer + DEAD_LETTER_SUFFIX for consumer in consumers]
    exchanges = [namespace + publisher for publisher in [*PUBLISHERS, DEAD_LETTER_EXCHANGE]]
    return consumers + dead_letters + unroutable + retries, exchanges + unroutable + retries


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
        self._forget: Forget = forget_nothing
        self._bindings: dict[str, dict[str, Delivery]] = {}
        self._wanted: dict[str, Wanted] = {}  # the selective consumers
        self._producers = ProducerPool(
            self._connection().Pool(limit=PUBLISHING_CONNECTIONS), limit=PUBLISHING_CONNECTIONS
        )
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

    def bind(
        self,
        consumer: str,
        event_types: Iterable[str],
        deliver: Delivery,
        wanted: Wanted | None = None,
    ) -> None:
        routes = self._bindings.setdefault(consumer, {})
        for event_type in event_types:
            if event_type not in CATALOGUE:
                raise ValueError(f"{event_type!r} is not in the event catalogue")
            routes[event_type] = deliver
        if wanted is not None:
            self._wanted[consumer] = wanted
        self._declared = False  # the next publish or consume declares the new bindings

    def route_also(self, consumer: str, event_types: set[str]) -> None:
        self._rebind(consumer, event_types, unbind_others=False)

    def route_only(self, consumer: str, event_types: set[str]) -> None:
        self._rebind(consumer, event_types, unbind_others=True)

    def _rebind(self, consumer: str, event_types: set[str], unbind_others: bool) -> None:
        handled = set(self._bindings[consumer])
        self._declare_once()
        with self._connection() as connection:
            connection.ensure_connection(max_retries=0)
            channel = connection.default_channel
            queue = self.queue_name(consumer)
            for event_type in sorted(handled & event_types):
                channel.queue_bind(queue, self._exchange_of(event_type), event_type)
            for event_type in sorted(handled - event_types) if unbind_others else ():
                channel.queue_unbind(queue, self._exchange_of(event_type), event_type)

    def _exchange_of(self, event_type: str) -> str:
        return self.exchange_name(CATALOGUE[event_type].publisher)

    def _routed(self, consumer: str) -> list[str]:
        """The event types `consumer`'s queue is declared bound to: all it handles, or
        for a selective consumer those it wants now (all, if that cannot be read: a
        binding too many costs a delivery, one too few loses events)."""
        handled = self._bindings[consumer]
        wanted = self._wanted.get(consumer)
        if wanted is None:
            return sorted(handled)
        try:
            return sorted(set(handled) & wanted())
        except Exception as error:
            log.warning("binding %s to every type it handles: %r", consumer, error)
            return sorted(handled)

    def use_dead_letters(self, store: DeadLetterStore, policy: RetryPolicy) -> None:
        self._store, self.policy = store, policy

    def use_outbox(self, forget: Forget) -> None:
        self._forget = forget

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
        self._forget([event])

    def _publish_once(self, event: Event, exchange: Exchange) -> None:
        with self._producers.acquire(block=True, timeout=CONNECT_TIMEOUT) as producer:
            try:
                producer.publish(
                    event.to_json(),
                    exchange=exchange,
                    routing_key=event.type,
                    retry=False,
                    timeout=CONFIRM_TIMEOUT,
                    **_properties(event),
                )
            except BaseException:
                # its connection or channel may be broken: the next use connects afresh
                producer.connection.collect()
                raise

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

    def close(self) -> None:
        """Close the publishing connections (a later publish opens new ones)."""
        self._producers.connections.force_close_all(close_pool=False)

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

    def _declare_on(self, channel: Any) -> dict[str, Queue]:
        """Declare the topology on `channel`; the consumers' queues, as declared."""
        for publisher in PUBLISHERS:
            self._unroutable_queue(publisher)(channel).declare()
            self.exchange(publisher)(channel).declare()
        for seconds in RETRY_TIERS:
            self._retry_queue(seconds)(channel).declare()
        queues = {}
        for consumer in self._bindings:
            self._dead_letter_queue(consumer)(channel).declare()
            queues[consumer] = self._queue(consumer)
            queues[consumer](channel).declare()
        return queues

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
            for event_type in self._routed(consumer)
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
        try:
            _Worker(self, stop).run()
        except _Stopped:
            return

    def _handle(self, consumer: str, message: Message, producer: Producer) -> None:
        try:
            event = decode(message.body)
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
            event_type in routes
            for consumer, routes in self._bindings.items()
            if consumer not in self._wanted
        ):
            return  # nothing consumes it yet (user.created), or no webhook wants it: no fault
        assert self._store is not None
        error = f"no queue is bound to take {event_type!r} from {publisher}"
        log.error("unroutable event from %s: %r", publisher, message.body)
        self._store.park(publisher, Failure(UNROUTABLE, _text(message.body), error))


class _Stopped(Exception):
    """`stop` was set while the worker waited for the broker."""


class _Worker(ConsumerMixin):
    """kombu's consume loop (connect, consume, reconnect with growing pauses) for every
    consumer bound to `transport`. Messages are handled between two waits for the
    broker, outside the AMQP frame loop, so a handler's retry copy can be confirmed."""

    def __init__(self, transport: RabbitTransport, stop: threading.Event) -> None:
        self.transport = transport
        self.stop = stop
        self.connection = transport._connection(heartbeat=HEARTBEAT)
        self.received: deque[Received] = deque()
        self.retry_producer: Producer | None = None

    @property
    def should_stop(self) -> bool:  # type: ignore[override]
        return self.stop.is_set()

    @contextmanager
    def establish_connection(self) -> Iterator[Connection]:
        with self.create_connection() as connection:
            connection.ensure_connection(
                self.on_connection_error,
                interval_start=RECONNECT_DELAY,
                interval_step=RECONNECT_DELAY,
                interval_max=MAX_RECONNECT_DELAY,
                callback=self._unless_stopped,
            )
            yield connection

    def _unless_stopped(self) -> None:
        if self.stop.is_set():
            raise _Stopped()

    def on_connection_error(self, error: Exception, interval: float) -> None:
        log.warning("broker connection lost (%s); reconnecting in %.0f s", error, interval)

    def get_consumers(self, consumer: type[Consumer], channel: Any) -> list[Consumer]:
        transport = self.transport
        queues = transport._declare_on(channel)
        self.received.clear()  # unacked messages of a lost connection come back anyway
        return [
            consumer(
                queues=[queue],
                on_message=self._receiver(name),
                auto_declare=False,
                prefetch_count=transport.prefetch,
            )
            for name, queue in queues.items()
        ]

    def _receiver(self, consumer: str) -> Callable[[Message], None]:
        def receive(message: Message) -> None:
            self.received.append((consumer, message))

        return receive

    def on_consume_ready(
        self, connection: Connection, channel: Any, consumers: list[Consumer], **kwargs: Any
    ) -> None:
        self.retry_producer = Producer(connection.channel())
        log.info("consuming %s", ", ".join(self.transport._bindings) or "nothing")

    def on_iteration(self) -> None:
        while self.received and not self.stop.is_set():
            consumer, message = self.received.popleft()
            assert self.retry_producer is not None
            self.transport._handle(consumer, message, self.retry_producer)
        # Whatever is left unacked goes back to its queue when the connection closes.


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
