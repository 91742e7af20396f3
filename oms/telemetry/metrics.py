"""OMS's Prometheus metrics, safe under several gunicorn workers and bus workers.

Counters and histograms are updated where things happen (HTTP, checkout, the bus);
gauges that are facts of the database (outbox backlog, dead letters, stuck orders,
stock holds) are computed when Prometheus scrapes, by a collector the ops port adds.

Multi-process: `oms serve` and `oms worker` point PROMETHEUS_MULTIPROC_DIR at a
directory they clean at start, before this module is imported (prometheus_client reads
the variable at import); every process then writes its values there and the ops port
adds them up. Without the variable (tests, one process) values live in memory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from oms.telemetry.multiproc import MULTIPROC_ENV

CONTENT_TYPE = CONTENT_TYPE_LATEST
disable_created_metrics()  # *_created series: noise for counters that live as long as OMS
CHECKOUT_OUTCOMES = ("processing", "declined", "insufficient", "pending", "error")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SAGA_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

http_requests = Counter(
    "oms_http_requests_total",
    "HTTP requests answered, by port, route template, method and status.",
    ["port", "route", "method", "status"],
)
http_duration = Histogram(
    "oms_http_request_duration_seconds",
    "Time to answer an HTTP request, by port, route template, method and status.",
    ["port", "route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
checkouts = Counter(
    "oms_checkouts_total",
    "Checkouts answered, by outcome: processing (paid), declined, insufficient (stock), "
    "pending (the saga was still running) or error.",
    ["outcome"],
)
saga_duration = Histogram(
    "oms_saga_duration_seconds",
    "Time from order.created to the order's first settled state, by that state.",
    ["outcome"],
    buckets=SAGA_BUCKETS,
)
events_published = Counter(
    "oms_events_published_total",
    "Events handed to the transport, by publishing module, type and result (ok, error).",
    ["module", "type", "result"],
)
events_handled = Counter(
    "oms_events_handled_total",
    "Event deliveries to a consuming module, by module, type and result "
    "(ok, duplicate: seen before and skipped, error: the handler failed).",
    ["module", "type", "result"],
)
event_handling_duration = Histogram(
    "oms_event_handling_duration_seconds",
    "Time a consuming module took to handle an event, by module and type.",
    ["module", "type"],
    buckets=LATENCY_BUCKETS,
)
event_retries = Counter(
    "oms_event_retries_total",
    "Failed deliveries that the transport retries, by consuming module and type.",
    ["module", "type"],
)
events_dead_lettered = Counter(
    "oms_events_dead_lettered_total",
    "Messages a consuming module gave up on (dead-lettered), by module.",
    ["module"],
)
worker_consumers = Gauge(
    "oms_bus_worker_consumers",
    "Consumer threads alive in bus worker processes (summed over live workers).",
    multiprocess_mode="livesum",
)
worker_heartbeat = Gauge(
    "oms_bus_worker_heartbeat_timestamp_seconds",
    "Unix time a bus worker last reported its consumers alive (the latest of all).",
    multiprocess_mode="max",
)


def init_known_labels() -> None:
    """Show every checkout outcome from the start, at 0, rather than only once it happens."""
    for outcome in CHECKOUT_OUTCOMES:
        checkouts.labels(outcome)


# -- what callers record ------------------------------------------------------------


def observe_request(port: str, route: str, method: str, status: int, seconds: float) -> None:
    labels = (port, route, method, str(status))
    http_requests.labels(*labels).inc()
    http_duration.labels(*labels).observe(seconds)


def count_checkout(outcome: str) -> None:
    checkouts.labels(outcome).inc()


def observe_saga_settled(created_at: datetime, outcome: str, now: datetime) -> None:
    saga_duration.labels(outcome).observe(max((now - created_at).total_seconds(), 0.0))


def count_published(module: str, event_type: str, ok: bool) -> None:
    events_published.labels(module, event_type, "ok" if ok else "error").inc()


def count_handled(module: str, event_type: str, result: str, seconds: float) -> None:
    events_handled.labels(module, event_type, result).inc()
    event_handling_duration.labels(module, event_type).observe(seconds)


def count_retry(module: str, event_type: str) -> None:
    event_retries.labels(module, event_type).inc()


def count_dead_letter(module: str) -> None:
    events_dead_lettered.labels(module).inc()


def report_worker_alive(consumers: int) -> None:
    worker_consumers.set(consumers)
    worker_heartbeat.set(time.time())


# -- the scrape ---------------------------------------------------------------------


class _Forward(Collector):
    """The in-process default registry, inside a registry made for one scrape."""

    def collect(self) -> Iterable:
        return REGISTRY.collect()


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The Prometheus text of every process's metrics, plus `extra` collectors."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(_Forward())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)
