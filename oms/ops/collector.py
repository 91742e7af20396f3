"""Gauges that are facts of the database, computed when Prometheus scrapes (cheap COUNTs)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from oms import orders, products
from oms.runtime import Runtime

log = logging.getLogger(__name__)


class DatabaseGauges(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "oms_database_gauges_up", "1 if the scrape-time database gauges could be read."
        )
        try:
            families = list(self._families())
        except Exception as error:
            log.warning("scrape-time gauges failed: %r", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[GaugeMetricFamily]:
        rt = self.runtime
        now = datetime.now(UTC)
        rows = GaugeMetricFamily(
            "oms_outbox_rows", "Events waiting in a module's outbox.", labels=["module"]
        )
        age = GaugeMetricFamily(
            "oms_outbox_oldest_age_seconds",
            "Age of the oldest event waiting in a module's outbox (0 when empty).",
            labels=["module"],
        )
        for module, (count, oldest) in sorted(rt.bus.outbox_backlog().items()):
            rows.add_metric([module], count)
            age.add_metric([module], (now - oldest).total_seconds() if oldest else 0.0)
        yield rows
        yield age

        dead = GaugeMetricFamily(
            "oms_dead_letters", "Events a consuming module gave up on.", labels=["module"]
        )
        counts = rt.bus.dead_letters.counts()
        for module in sorted(set(rt.bus.subscriptions) | set(counts)):
            dead.add_metric([module], counts.get(module, 0))
        yield dead

        stuck = GaugeMetricFamily(
            "oms_orders_past_deadline",
            "Orders still pending or confirmed longer than OMS_SAGA_DEADLINE_SECONDS.",
        )
        stuck.add_metric([], orders.count_stuck_orders(rt, rt.settings.saga_deadline_seconds))
        yield stuck

        by_status = GaugeMetricFamily("oms_orders", "Orders by status.", labels=["status"])
        for status, count in orders.count_orders_by_status(rt).items():
            by_status.add_metric([status], count)
        yield by_status

        holds = GaugeMetricFamily(
            "oms_stock_holds",
            "Orders' stock holds by state (reserved, released, refused).",
            labels=["state"],
        )
        for state, count in products.count_stock_holds(rt).items():
            holds.add_metric([state], count)
        yield holds
