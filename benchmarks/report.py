"""The saga ceiling, the targets, the printed table and the JSON file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.calibrate import SagaCost

# Issue 11's targets per mode: settled checkouts/s at least, CPU per checkout across the
# OMS processes and PostgreSQL at most (ms), checkout request p99 at most (ms).
SPEED_TARGETS = {"embedded": (300.0, 3.0, 100.0), "broker": (180.0, 8.0, 200.0)}
BROKER_SHARE_TARGET = 0.5  # of the saga ceiling
DETAILS_P99_TARGET_MS = 20.0
MEMORY_TARGET_MIB = 150.0


def saga_ceiling(cost: SagaCost, machine: dict[str, Any]) -> dict[str, Any]:
    """Checkouts per second the machine allows: the tightest of its three resources."""
    limits = {
        "postgres": _limit(machine, "postgresCommits", cost.commits_per_checkout),
        "rabbitPublish": _limit(machine, "rabbitPublishConfirmed", cost.publishes_per_checkout),
        "rabbitConsume": _limit(machine, "rabbitConsumeAck", cost.deliveries_per_checkout),
    }
    known = {name: value for name, value in limits.items() if value is not None}
    bound = min(known, key=lambda name: known[name]) if known else ""
    return {
        "perSecond": round(known[bound], 1) if bound else None,
        "boundBy": bound,
        "limits": {name: None if v is None else round(v, 1) for name, v in limits.items()},
        "inputs": {
            "postgresCommitsPerSecond": _rate(machine, "postgresCommits"),
            "writeTransactionsPerCheckout": cost.commits_per_checkout,
            "rabbitPublishesPerSecond": _rate(machine, "rabbitPublishConfirmed"),
            "publishesPerCheckout": round(cost.publishes_per_checkout, 2),
            "rabbitConsumesPerSecond": _rate(machine, "rabbitConsumeAck"),
            "deliveriesPerCheckout": round(cost.deliveries_per_checkout, 2),
        },
    }


def _rate(machine: dict[str, Any], name: str) -> float | None:
    return (machine.get(name) or {}).get("perSecond")


def _limit(machine: dict[str, Any], name: str, per_checkout: float) -> float | None:
    rate = _rate(machine, name)
    if rate is None or per_checkout <= 0:
        return None
    return rate / per_checkout


# -- targets ----------------------------------------------------------------------


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for mode, outcome in results["modes"].items():
        found += _speed_targets(mode, outcome)
    if "broker" in results["modes"]:
        found.append(_broker_share(results["modes"]["broker"]))
    for mode, outcome in results["modes"].items():
        found += _mode_targets(mode, outcome)
    return found


def _speed_targets(mode: str, outcome: dict[str, Any]) -> list[dict[str, Any]]:
    least_rate, most_cpu, most_p99 = SPEED_TARGETS[mode]
    rate = _get(outcome, "checkout", "settledPerSecond") or 0.0
    p99 = _get(outcome, "checkout", "requestLatencyMs", "p99")
    per_process = _get(outcome, "cpu", "msPerSettledCheckout") or {}
    cpu = sum(ms for name, ms in per_process.items() if name != "load generator")
    return [
        _target(
            f"{mode}: settled checkouts/s >= {least_rate:g}", rate >= least_rate, f"{rate:.1f}/s"
        ),
        _target(
            f"{mode}: CPU per checkout (OMS + PostgreSQL) <= {most_cpu:g} ms",
            0 < cpu <= most_cpu,
            f"{cpu:.1f} ms",
        ),
        _target(
            f"{mode}: checkout p99 <= {most_p99:g} ms",
            p99 is not None and p99 <= most_p99,
            "not measured" if p99 is None else f"p99 {p99:.0f} ms",
        ),
    ]


def _broker_share(outcome: dict[str, Any]) -> dict[str, Any]:
    rate = _get(outcome, "checkout", "settledPerSecond") or 0.0
    ceiling = _get(outcome, "sagaCeiling", "perSecond")
    share = rate / ceiling if ceiling else 0.0
    outcome["ceilingShare"] = round(share, 3)
    return _target(
        "broker settled checkouts/s >= 50% of the saga ceiling",
        share >= BROKER_SHARE_TARGET,
        f"{rate:.1f}/s of {ceiling or 0:.1f}/s = {share:.0%}",
    )


def _mode_targets(mode: str, outcome: dict[str, Any]) -> list[dict[str, Any]]:
    p99 = _get(outcome, "orderDetails", "latencyFromScheduleMs", "p99")
    errors = _get(outcome, "errors", "total")
    audit = outcome.get("audit") or {}
    peak = max((entry["peakMiB"] for entry in outcome.get("memory", [])), default=None)
    return [
        _target(
            f"{mode}: order details p99 <= 20 ms at half the checkout rate",
            p99 is not None and p99 <= DETAILS_P99_TARGET_MS,
            "not measured" if p99 is None else f"p99 {p99:.1f} ms",
        ),
        _target(f"{mode}: 0 errors", errors == 0, "run failed" if errors is None else str(errors)),
        _target(
            f"{mode}: every order terminal, stock conserved",
            bool(audit.get("allTerminal")) and bool(audit.get("stockConserved")),
            f"{audit.get('orders', 0)} orders, terminal: {audit.get('allTerminal')}, "
            f"stock conserved: {audit.get('stockConserved')}",
        ),
        _target(
            f"{mode}: peak memory <= 150 MiB per process",
            peak is not None and peak <= MEMORY_TARGET_MIB,
            "not measured" if peak is None else f"largest {peak:.0f} MiB",
        ),
    ]


def _target(name: str, met: bool, value: str) -> dict[str, Any]:
    return {"target": name, "met": bool(met), "value": value}


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


# -- output -----------------------------------------------------------------------


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")


def table(results: dict[str, Any]) -> str:
    options = results["options"]
    lines = [
        f"OMS benchmark: {options['cores']} cores, concurrency {options['concurrency']} "
        f"({options['loadProcesses']} load processes x {options['threadsPerProcess']} threads), "
        f"{options['durationSeconds']:.0f} s per phase, {results.get('elapsedSeconds', 0):.0f} s "
        "in all",
        "",
    ]
    lines += _ceiling_lines(results.get("ceilings") or {})
    lines += _mode_lines(results["modes"])
    lines += _memory_lines(results["modes"])
    lines += _cpu_lines(results["modes"])
    if "broker" in results["modes"]:
        lines += _saga_lines(results["modes"]["broker"])
    lines += ["", "Targets"]
    for target in results.get("targets", []):
        mark = "met    " if target["met"] else "NOT MET"
        lines.append(f"  [{mark}] {target['target']}: {target['value']}")
    return "\n".join(lines)


def _ceiling_lines(machine: dict[str, Any]) -> list[str]:
    if not machine:
        return []
    if "failed" in machine:
        return [f"Ceilings could not be measured: {machine['failed']}", ""]
    rows = [
        ("PostgreSQL single-row commits/s", "postgresCommits"),
        ("RabbitMQ persistent publish+confirm/s", "rabbitPublishConfirmed"),
        ("RabbitMQ consume+ack/s", "rabbitConsumeAck"),
    ]
    lines = ["Ceilings (same load generator and concurrency)"]
    for label, key in rows:
        entry = machine.get(key) or {}
        lines.append(f"  {label:<40}{entry.get('perSecond', 0):>10.0f}")
    return [*lines, ""]


def _fmt_latency(summary: dict[str, Any] | None) -> str:
    if not summary or not summary.get("count"):
        return "-"
    return f"{summary['p50']:.0f} / {summary['p95']:.0f} / {summary['p99']:.0f}"


Cell = Callable[[dict[str, Any]], str]


def _value(*path: str, kind: str = "raw") -> Cell:
    def cell(outcome: dict[str, Any]) -> str:
        value = _get(outcome, *path)
        if kind == "rate":
            return "-" if value is None else f"{value:.1f}"
        if kind == "latency":
            return _fmt_latency(value)
        if isinstance(value, dict):
            return " ".join(f"{key}:{count}" for key, count in value.items()) or "-"
        return "-" if value is None else str(value)

    return cell


def _shape(outcome: dict[str, Any]) -> str:
    shape = outcome.get("gunicorn") or {}
    return f"{shape.get('workers', '?')} x {shape.get('threads', '?')}"


def _headroom(outcome: dict[str, Any]) -> str:
    ceiling = _get(outcome, "httpCeiling", "perSecond")
    rate = _get(outcome, "checkout", "settledPerSecond")
    return f"{ceiling / rate:.0f}x" if ceiling and rate else "-"


def _audited(outcome: dict[str, Any]) -> str:
    audit = outcome.get("audit") or {}
    return f"{audit.get('orders', '-')} / {audit.get('allTerminal', '-')}"


def _largest_memory(outcome: dict[str, Any]) -> str:
    peaks = [entry["peakMiB"] for entry in outcome.get("memory") or []]
    return f"{max(peaks):.0f}" if peaks else "-"


MODE_ROWS: list[tuple[str, Cell]] = [
    ("gunicorn workers x threads", _shape),
    ("HTTP ceiling GET /healthz req/s", _value("httpCeiling", "perSecond", kind="rate")),
    ("settled checkouts/s", _value("checkout", "settledPerSecond", kind="rate")),
    ("HTTP ceiling / checkout rate", _headroom),
    ("load generator cores at HTTP ceiling", _value("httpCeiling", "loadGeneratorCores")),
    ("checkout answers", _value("checkout", "answers")),
    ("checkout request p50/p95/p99 ms", _value("checkout", "requestLatencyMs", kind="latency")),
    (
        "checkout->settled p50/p95/p99 ms",
        _value("checkout", "checkoutToSettledLatencyMs", kind="latency"),
    ),
    ("order details req/s (open loop)", _value("orderDetails", "targetPerSecond", kind="rate")),
    (
        "order details p50/p95/p99 ms",
        _value("orderDetails", "latencyFromScheduleMs", kind="latency"),
    ),
    ("errors", _value("errors", "total")),
    ("orders audited / all terminal", _audited),
    ("stock conserved", _value("audit", "stockConserved")),
    ("peak memory MiB, largest process", _largest_memory),
]


def _cell(outcome: dict[str, Any], cell: Cell) -> str:
    return "failed" if "failed" in outcome else cell(outcome)


def _memory_lines(modes: dict[str, Any]) -> list[str]:
    lines = ["", "Peak memory (VmHWM) per OMS process"]
    for name, outcome in modes.items():
        entries = sorted(outcome.get("memory") or [], key=lambda entry: entry["pid"])
        cells = [f"{entry['role']} {entry['peakMiB']:.0f} MiB" for entry in entries]
        lines.append(f"  {name:<10}{', '.join(cells) or '-'}")
    return lines


def _cpu_lines(modes: dict[str, Any]) -> list[str]:
    lines = ["", "CPU per settled checkout, ms (cores busy), over the checkout phase"]
    for name, outcome in modes.items():
        cpu = outcome.get("cpu") or {}
        per, cores = cpu.get("msPerSettledCheckout", {}), cpu.get("coresUsed", {})
        cells = [f"{role} {ms:.1f} ({cores.get(role, 0):.2f})" for role, ms in per.items()]
        lines.append(f"  {name:<10}{', '.join(cells) or '-'}")
    return lines


def _mode_lines(modes: dict[str, Any]) -> list[str]:
    names = list(modes)
    width = max([12, *(len(_cell(modes[n], cell)) for n in names for _, cell in MODE_ROWS)])
    lines = ["  " + " " * 40 + "".join(f"{name:>{width + 2}}" for name in names)]
    for label, cell in MODE_ROWS:
        cells = "".join(f"{_cell(modes[name], cell):>{width + 2}}" for name in names)
        lines.append(f"  {label:<40}{cells}")
    for name in names:
        if "failed" in modes[name]:
            lines.append(f"  {name} failed: {modes[name]['failed']}")
        for example in (_get(modes[name], "errors", "examples") or [])[:5]:
            lines.append(f"  {name} error: {example}")
    return lines


def _saga_lines(outcome: dict[str, Any]) -> list[str]:
    cost, ceiling = outcome.get("sagaCost"), outcome.get("sagaCeiling")
    if not cost or not ceiling:
        return []
    inputs, limits = ceiling["inputs"], ceiling["limits"]
    return [
        "",
        f"Saga cost (broker, counted over {cost['checkouts']} sequential checkouts; alone, a"
        f" checkout takes p50 {cost['unloadedCheckoutLatencyMs']['p50']:.0f} ms)",
        f"  PostgreSQL write transactions/checkout {cost['writeTransactionsPerCheckout']:>6}"
        f"   (samples at that value: {cost['writeTransactionSamplesAtMode']}/{cost['checkouts']};"
        f" others' background {cost['backgroundXidsPerSecond']:.0f} xid/s)",
        f"  RabbitMQ publishes/checkout            {cost['publishesPerCheckout']:>6}"
        f"   {cost['messagesByType']}",
        f"  RabbitMQ deliveries/checkout           {cost['deliveriesPerCheckout']:>6}"
        f"   queues per type {cost['queuesBoundPerType']}",
        f"  ceiling = min({inputs['postgresCommitsPerSecond']:.0f}/"
        f"{inputs['writeTransactionsPerCheckout']} = {limits['postgres']}, "
        f"{inputs['rabbitPublishesPerSecond']:.0f}/{inputs['publishesPerCheckout']} = "
        f"{limits['rabbitPublish']}, {inputs['rabbitConsumesPerSecond']:.0f}/"
        f"{inputs['deliveriesPerCheckout']} = {limits['rabbitConsume']})"
        f" = {ceiling['perSecond']} checkouts/s, bound by {ceiling['boundBy']}",
        f"  measured {_get(outcome, 'checkout', 'settledPerSecond')} settled/s = "
        f"{outcome.get('ceilingShare', 0):.0%} of the ceiling",
    ]
