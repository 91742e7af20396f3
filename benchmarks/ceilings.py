"""What this machine can do at best, at the same concurrency and with the same generator.

- PostgreSQL: every thread its own connection, INSERT one row + COMMIT in a loop, into
  a scratch table of a scratch database (created here, dropped afterwards).
- RabbitMQ (kombu): persistent messages published with publisher confirms into a
  durable scratch queue, then consumed with manual acks; the queue is deleted after.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from kombu import Connection, Consumer, Producer, Queue
from psycopg2 import sql

from benchmarks import load
from benchmarks.load import Sample
from benchmarks.stats import window

SCRATCH_TABLE = "bench_commits"
PAYLOAD = "x" * 200
MESSAGE = b'{"specversion":"1.0","data":"' + b"x" * 700 + b'"}'  # about an OMS event's size
PERSISTENT = 2
PREFETCH = 16  # what OMS's consumers use
CONSUME_IDLE = 1.0  # seconds without a message: the queue is drained
AMQP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Rate:
    """Operations per second over a run, and how many failed."""

    ops: int
    seconds: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "perSecond": round(self.per_second, 1),
            "operations": self.ops,
            "seconds": round(self.seconds, 2),
            "errors": self.errors,
        }


def closed_loop_rate(result: load.Result, warmup: float, duration: float) -> Rate:
    """Successful operations due in the measured window, per second of it."""
    measured = window(result, warmup, duration)
    ok = sum(1 for sample in measured if sample.status)
    failed = sum(1 for sample in result.samples if not sample.status) + len(result.problems)
    return Rate(ok, duration, failed)


# -- PostgreSQL -------------------------------------------------------------------


@contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new empty database; its URL. Dropped (with its connections) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin_execute(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(admin_url, name)
    finally:
        _admin_execute(
            admin_url,
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
        )


def _admin_execute(admin_url: str, statement: sql.Composable) -> None:
    connection = psycopg2.connect(admin_url, connect_timeout=5)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def _with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def pg_commit_rate(
    admin_url: str, concurrency: int, processes: int, duration: float, warmup: float
) -> Rate:
    with scratch_database(admin_url, "oms_bench_ceiling") as url:
        _admin_execute(
            url,
            sql.SQL("CREATE TABLE {} (id bigserial PRIMARY KEY, payload text NOT NULL)").format(
                sql.Identifier(SCRATCH_TABLE)
            ),
        )
        plan = load.Plan(
            client="benchmarks.ceilings:PgCommitClient",
            label="PostgreSQL commits",
            common={"url": url},
            own=[{}] * concurrency,
            duration=warmup + duration,
            processes=processes,
        )
        return closed_loop_rate(load.run(plan), warmup, duration)


class PgCommitClient:
    def __init__(self, common: dict[str, Any], own: dict[str, Any], worker: int) -> None:
        self.worker = worker
        self.connection = psycopg2.connect(common["url"], connect_timeout=5)
        self.insert = sql.SQL("INSERT INTO {} (payload) VALUES (%s)").format(
            sql.Identifier(SCRATCH_TABLE)
        )

    def step(self, due: float) -> list[Sample]:
        start = time.monotonic()
        status, note = 1, ""
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(self.insert, (PAYLOAD,))
            self.connection.commit()
        except psycopg2.Error as error:
            self.connection.rollback()
            status, note = 0, repr(error)[:200]
        end = time.monotonic()
        return [Sample(self.worker, due, start, end, status, end, "", note)]

    def close(self) -> None:
        self.connection.close()


# -- RabbitMQ ---------------------------------------------------------------------


@dataclass(frozen=True)
class AmqpRates:
    publish: Rate
    consume: Rate


def amqp_rates(
    url: str, concurrency: int, processes: int, duration: float, warmup: float
) -> AmqpRates:
    """Publish-with-confirm for `duration`, then consume+ack all of it; the queue is deleted."""
    name = f"oms-bench-{uuid.uuid4().hex[:10]}.ceiling"

    def plan(client: str, label: str, seconds: float) -> load.Plan:
        return load.Plan(
            client=f"benchmarks.ceilings:{client}",
            label=label,
            common={"url": url, "queue": name},
            own=[{}] * concurrency,
            duration=seconds,
            processes=processes,
        )

    with Connection(url, connect_timeout=AMQP_TIMEOUT) as connection:
        _scratch_queue(name)(connection.default_channel).declare()
        try:
            published = load.run(plan("PublishClient", "RabbitMQ publishes", warmup + duration))
            consumed = load.run(plan("ConsumeClient", "RabbitMQ consumes", 2 * duration))
        finally:
            connection.default_channel.queue_delete(name)
    return AmqpRates(closed_loop_rate(published, warmup, duration), _drain_rate(consumed))


def _drain_rate(result: load.Result) -> Rate:
    """Messages acked per second, from the start until the last ack."""
    acked = [sample for sample in result.samples if sample.status]
    if not acked:
        return Rate(0, 0.0, len(result.problems) + 1)
    seconds = max(sample.end for sample in acked) - result.started
    failed = len(result.samples) - len(acked) + len(result.problems)
    return Rate(len(acked), seconds, failed)


def _scratch_queue(name: str) -> Queue:
    return Queue(name, exchange="", routing_key=name, durable=True)


def _confirming_connection(url: str) -> Connection:
    return Connection(
        url, connect_timeout=AMQP_TIMEOUT, transport_options={"confirm_publish": True}
    )


class PublishClient:
    """Persistent messages, each confirmed by the broker before the next is sent."""

    def __init__(self, common: dict[str, Any], own: dict[str, Any], worker: int) -> None:
        self.worker = worker
        self.queue = common["queue"]
        self.connection = _confirming_connection(common["url"])
        self.connection.ensure_connection(max_retries=0)
        self.producer = Producer(self.connection.default_channel)

    def step(self, due: float) -> list[Sample]:
        start = time.monotonic()
        status, note = 1, ""
        try:
            self.producer.publish(
                MESSAGE,
                exchange="",
                routing_key=self.queue,
                delivery_mode=PERSISTENT,
                content_type="application/cloudevents+json",
                content_encoding="utf-8",
                timeout=AMQP_TIMEOUT,
            )
        except Exception as error:
            status, note = 0, repr(error)[:200]
        end = time.monotonic()
        return [Sample(self.worker, due, start, end, status, end, "", note)]

    def close(self) -> None:
        self.connection.release()


class ConsumeClient:
    """A competing consumer with OMS's prefetch, acking every message; stops once idle."""

    def __init__(self, common: dict[str, Any], own: dict[str, Any], worker: int) -> None:
        self.worker = worker
        self.connection = Connection(common["url"], connect_timeout=AMQP_TIMEOUT)
        self.connection.ensure_connection(max_retries=0)
        self.received: list[Sample] = []
        self.consumer = Consumer(
            self.connection.default_channel,
            queues=[_scratch_queue(common["queue"])],
            on_message=self._on_message,
            auto_declare=False,
        )
        self.consumer.qos(prefetch_count=PREFETCH)
        self.consumer.consume()
        self.idle_since = time.monotonic()
        self.due = 0.0

    def _on_message(self, message: Any) -> None:
        start = time.monotonic()
        message.ack()
        end = time.monotonic()
        self.received.append(Sample(self.worker, self.due, start, end, 1, end, "", ""))

    def step(self, due: float) -> list[Sample] | None:
        self.due = due
        with suppress(TimeoutError):
            self.connection.drain_events(timeout=0.2)
        if self.received:
            self.idle_since = time.monotonic()
        elif time.monotonic() - self.idle_since > CONSUME_IDLE:
            return None
        batch, self.received = self.received, []
        return batch

    def close(self) -> None:
        try:
            self.consumer.cancel()
        finally:
            self.connection.release()
