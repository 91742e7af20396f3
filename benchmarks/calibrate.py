"""What one checkout costs in broker mode, counted rather than guessed.

Sequential checkouts, each followed by quiet (outboxes empty, nothing more arriving):

- PostgreSQL write transactions: the delta of `pg_current_xact_id()` around each
  checkout, less our own call (a transaction id is assigned only to a transaction that
  writes, and each of our calls takes one). Transaction ids are cluster-wide, so other
  users of the server add noise: the most common per-checkout value is taken, and the
  spread is reported.
- Messages published: a temporary queue bound with `#` to the namespace's four
  exchanges sees every event once; grouped by the correlation id (the order).
- Deliveries: rows the consumers added to their inboxes (one per handled delivery),
  cross-checked as messages x queues bound to each type.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from kombu import Connection, Consumer, Queue, binding

from benchmarks.api import Shop
from benchmarks.stats import latency_ms
from oms.bus.catalogue import PUBLISHERS  # one topic exchange per publishing module
from oms.bus.rabbitmq import RabbitTransport
from oms.db import SCHEMAS  # each module's schema, and each consumer's queue
from tests.integration.ops import Client

QUIET_CHECKS = 3  # consecutive unchanged looks, POLL apart
POLL = 0.05
QUIET_TIMEOUT = 10.0
WARMUP_CHECKOUTS = 2


@dataclass
class SagaCost:
    checkouts: int = 0
    statuses: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, each checkout alone
    commits: list[int] = field(default_factory=list)  # per checkout
    background_xids_per_second: float = 0.0
    messages_by_type: Counter[str] = field(default_factory=Counter)
    messages_per_order: list[int] = field(default_factory=list)
    deliveries_by_type: Counter[str] = field(default_factory=Counter)

    @property
    def commits_per_checkout(self) -> int:
        return _mode(self.commits)

    @property
    def publishes_per_checkout(self) -> float:
        return sum(self.messages_by_type.values()) / max(self.checkouts, 1)

    @property
    def deliveries_per_checkout(self) -> float:
        return sum(self.deliveries_by_type.values()) / max(self.checkouts, 1)

    def fan_out(self) -> dict[str, float]:
        """Consumer queues bound to each type: deliveries per message."""
        return {
            kind: round(self.deliveries_by_type[kind] / count, 2)
            for kind, count in sorted(self.messages_by_type.items())
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "checkouts": self.checkouts,
            "checkoutStatuses": dict(Counter(self.statuses)),
            "unloadedCheckoutLatencyMs": latency_ms(self.latencies),
            "writeTransactionsPerCheckout": self.commits_per_checkout,
            "writeTransactionSamples": self.commits,
            "writeTransactionSamplesAtMode": self.commits.count(self.commits_per_checkout),
            "backgroundXidsPerSecond": round(self.background_xids_per_second, 1),
            "publishesPerCheckout": round(self.publishes_per_checkout, 2),
            "messagesPerOrder": sorted(set(self.messages_per_order)),
            "messagesByType": dict(sorted(self.messages_by_type.items())),
            "deliveriesPerCheckout": round(self.deliveries_per_checkout, 2),
            "deliveriesByType": dict(sorted(self.deliveries_by_type.items())),
            "queuesBoundPerType": self.fan_out(),
        }


def _mode(values: list[int]) -> int:
    if not values:
        return 0
    counts = Counter(values)
    best = max(counts.values())
    return min(value for value, count in counts.items() if count == best)


def calibrate(
    client: Client, shop: Shop, database_url: str, amqp_url: str, namespace: str, checkouts: int
) -> SagaCost:
    customer = shop.customers[0]
    cost = SagaCost(checkouts=checkouts)
    with _postgres(database_url) as pg, _MessageCounter(amqp_url, namespace) as counter:
        for index in range(WARMUP_CHECKOUTS):
            client.checkout(customer, [(shop.products[index % len(shop.products)], 1)])
            _await_quiet(pg, counter)
        counter.reset()
        cost.background_xids_per_second = _background(pg)
        inbox_before = _inbox_counts(pg)
        xid = _xid(pg)
        for index in range(checkouts):
            answer = client.checkout(customer, [(shop.products[index % len(shop.products)], 1)])
            cost.latencies.append(answer.ended - answer.started)
            cost.statuses.append(answer.code or 0)
            _await_quiet(pg, counter)
            after = _xid(pg)
            cost.commits.append(after - xid - 1)
            xid = after
        cost.deliveries_by_type = _inbox_counts(pg) - inbox_before
        counter.drain()
        cost.messages_by_type = counter.by_type
        cost.messages_per_order = list(counter.by_order.values())
    return cost


@contextmanager
def _postgres(url: str) -> Iterator[Any]:
    connection = psycopg2.connect(url, connect_timeout=5)
    connection.autocommit = True  # every statement its own transaction
    try:
        yield connection
    finally:
        connection.close()


def _query(pg: Any, statement: str) -> list[tuple]:
    with pg.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchall()


def _xid(pg: Any) -> int:
    """A new transaction id: this call itself takes one."""
    return int(_query(pg, "SELECT pg_current_xact_id()::text")[0][0])


def _background(pg: Any, seconds: float = 1.0) -> float:
    """Transaction ids others take while OMS is idle, per second."""
    before = _xid(pg)
    time.sleep(seconds)
    return (_xid(pg) - before - 1) / seconds


def _inbox_counts(pg: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    for schema in SCHEMAS:
        rows = _query(pg, f"SELECT type, count(*) FROM {schema}.inbox GROUP BY type")
        counts.update({kind: int(count) for kind, count in rows})
    return counts


def _outboxes_pending(pg: Any) -> int:
    union = " UNION ALL ".join(f"SELECT count(*) FROM {schema}.outbox" for schema in SCHEMAS)
    return sum(int(row[0]) for row in _query(pg, union))


def _await_quiet(pg: Any, counter: _MessageCounter) -> None:
    """Until the outboxes are empty and neither inboxes nor messages change for a while."""
    deadline = time.monotonic() + QUIET_TIMEOUT
    last: tuple[int, int] | None = None
    unchanged = 0
    while time.monotonic() < deadline and unchanged < QUIET_CHECKS:
        counter.drain(POLL)
        now = (sum(_inbox_counts(pg).values()), counter.total)
        quiet = now == last and _outboxes_pending(pg) == 0
        unchanged = unchanged + 1 if quiet else 0
        last = now


class _MessageCounter:
    """A temporary queue bound with `#` on the namespace's four exchanges."""

    def __init__(self, url: str, namespace: str) -> None:
        self.connection = Connection(url, connect_timeout=5)
        exchanges = RabbitTransport(url, namespace=namespace)  # OMS's own declarations
        self.queue = Queue(
            f"{namespace}bench.count.{uuid.uuid4().hex[:8]}",
            bindings=[binding(exchanges.exchange(name), routing_key="#") for name in PUBLISHERS],
            exclusive=True,
            auto_delete=True,
        )
        self.by_type: Counter[str] = Counter()
        self.by_order: Counter[str] = Counter()
        self.total = 0

    def __enter__(self) -> _MessageCounter:
        channel = self.connection.channel()
        self.queue(channel).declare()
        self.consumer = Consumer(channel, queues=[self.queue], callbacks=[self._count], no_ack=True)
        self.consumer.consume()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.consumer.cancel()
            self.queue(self.connection.default_channel).delete()
        finally:
            self.connection.release()

    def _count(self, body: Any, message: Any) -> None:
        self.by_type[message.delivery_info["routing_key"]] += 1
        self.by_order[message.properties.get("correlation_id") or "?"] += 1
        self.total += 1

    def reset(self) -> None:
        self.drain()
        self.by_type.clear()
        self.by_order.clear()
        self.total = 0

    def drain(self, wait: float = 0.2, limit: float = 5.0) -> None:
        """Take whatever has arrived, waiting up to `wait` for the first message."""
        give_up = time.monotonic() + limit
        while time.monotonic() < give_up:
            try:
                self.connection.drain_events(timeout=wait)
            except TimeoutError:
                return
            wait = 0.01
