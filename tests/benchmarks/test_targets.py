"""The verdicts `make bench` prints: issue 11's speed targets, per mode."""

from __future__ import annotations

from typing import Any

from benchmarks import report


def mode(rate: float, p99: float, cpu_ms: dict[str, float]) -> dict[str, Any]:
    return {
        "checkout": {"settledPerSecond": rate, "requestLatencyMs": {"p99": p99}},
        "cpu": {"msPerSettledCheckout": cpu_ms},
    }


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    return {target["target"]: target["met"] for target in report.targets(results)}


def test_embedded_meets_its_targets_only_fast_cheap_and_quick_enough() -> None:
    fast = mode(310.0, 90.0, {"gunicorn worker": 2.9, "load generator": 5.0})
    slow = mode(120.0, 250.0, {"gunicorn worker": 9.0})

    met = verdicts({"modes": {"embedded": fast}})
    missed = verdicts({"modes": {"embedded": slow}})

    speed = [
        "embedded: settled checkouts/s >= 300",
        "embedded: CPU per checkout (OMS + PostgreSQL) <= 3 ms",  # the load generator aside
        "embedded: checkout p99 <= 100 ms",
    ]
    assert [met[name] for name in speed] == [True, True, True]
    assert [missed[name] for name in speed] == [False, False, False]


def test_broker_cpu_counts_every_oms_process_and_postgresql() -> None:
    cpu = {"gunicorn worker": 3.0, "oms worker": 3.0, "postgres backend": 2.5}

    met = verdicts({"modes": {"broker": mode(200.0, 150.0, cpu)}})

    assert met["broker: settled checkouts/s >= 180"]
    assert not met["broker: CPU per checkout (OMS + PostgreSQL) <= 8 ms"]  # 8.5 ms
