"""Rates, percentiles and error counts from the load generator's samples."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.load import Result, Sample

PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of `values` (sorted here); 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_ms(values: Iterable[float]) -> dict[str, float]:
    seconds = list(values)
    summary = {f"p{pct}": round(percentile(seconds, pct) * 1000, 1) for pct in PERCENTILES}
    summary["max"] = round(max(seconds, default=0.0) * 1000, 1)
    summary["count"] = len(seconds)
    return summary


@dataclass
class Errors:
    """What went wrong, counted by kind; `total` must be 0."""

    kinds: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.kinds.values())

    def add(self, kind: str, example: str = "", count: int = 1) -> None:
        if count <= 0:
            return
        self.kinds[kind] += count
        if example and len(self.examples) < 10:
            self.examples.append(f"{kind}: {example}")

    def merge(self, other: Errors) -> None:
        self.kinds.update(other.kinds)
        self.examples += other.examples[: max(0, 10 - len(self.examples))]

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "byKind": dict(self.kinds), "examples": self.examples}


def window(result: Result, warmup: float, duration: float) -> list[Sample]:
    """The samples due within the measured window (after the warm-up)."""
    start = result.started + warmup
    return [sample for sample in result.samples if start <= sample.due < start + duration]


def phase_errors(result: Result, ok: Iterable[int], what: str) -> Errors:
    """Every sample whose status is not in `ok`, and every problem of the generator."""
    allowed = set(ok)
    errors = Errors()
    for sample in result.samples:
        if sample.status not in allowed:
            kind = f"{what} HTTP {sample.status}" if sample.status else f"{what} transport"
            errors.add(kind, sample.note)
    for problem in result.problems:
        errors.add(f"{what} load generator", problem)
    return errors


@dataclass(frozen=True)
class CheckoutStats:
    rate: float  # settled checkouts per second in the window
    settled: int
    answered: dict[int, int]
    request: dict[str, float]
    to_settled: dict[str, float]
    timeline: list[dict[str, float]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "settledPerSecond": round(self.rate, 1),
            "settled": self.settled,
            "answers": {str(code): count for code, count in sorted(self.answered.items())},
            "requestLatencyMs": self.request,
            "checkoutToSettledLatencyMs": self.to_settled,
            "perSecond": self.timeline,
        }


def checkout_stats(result: Result, warmup: float, duration: float) -> CheckoutStats:
    """Settled = the order is processing: at the 201, or when polling a 202 saw it."""
    measured = window(result, warmup, duration)
    end = result.started + warmup + duration
    answered = [s for s in measured if s.status in (201, 202)]
    settled = [s for s in answered if s.settled > 0]
    return CheckoutStats(
        rate=sum(1 for s in settled if s.settled <= end) / duration,
        settled=len(settled),
        answered=dict(Counter(sample.status for sample in measured)),
        request=latency_ms(s.end - s.start for s in answered),
        to_settled=latency_ms(s.settled - s.start for s in settled),
        timeline=checkout_timeline(result),
    )


def checkout_timeline(result: Result) -> list[dict[str, float]]:
    """Per second of the phase, warm-up included: the checkouts settled in it, and the
    request latency percentiles (ms) of the checkouts answered in it."""
    seconds = math.ceil(result.deadline - result.started)
    settled = [0] * seconds
    latencies: list[list[float]] = [[] for _ in range(seconds)]
    for sample in result.samples:
        if sample.status not in (201, 202):
            continue
        answered_in = int(sample.end - result.started)
        if 0 <= answered_in < seconds:
            latencies[answered_in].append(sample.end - sample.start)
        settled_in = int(sample.settled - result.started)
        if sample.settled and 0 <= settled_in < seconds:
            settled[settled_in] += 1
    return [
        {"second": second + 1, "settled": settled[second]}
        | {f"p{pct}": round(percentile(latencies[second], pct) * 1000, 1) for pct in PERCENTILES}
        for second in range(seconds)
    ]


def checkout_errors(result: Result) -> Errors:
    """Any answer but 201/202, and any 202 whose order did not end up processing."""
    errors = phase_errors(result, (201, 202), "checkout")
    for sample in result.samples:
        if sample.status in (201, 202) and not sample.settled:
            errors.add("checkout not settled as processing", f"{sample.ref}: {sample.note}")
    return errors


def open_loop_stats(result: Result, rate: float) -> dict[str, Any]:
    """Latency from the scheduled send time; the rate actually achieved."""
    duration = result.deadline - result.started
    ok = [s for s in result.samples if s.status == 200]
    return {
        "targetPerSecond": round(rate, 1),
        "achievedPerSecond": round(len(ok) / duration, 1) if duration > 0 else 0.0,
        "latencyFromScheduleMs": latency_ms(s.end - s.due for s in ok),
        "serviceTimeMs": latency_ms(s.end - s.start for s in ok),
    }


def closed_loop_rate(result: Result, warmup: float, duration: float, ok: int = 200) -> float:
    return sum(1 for s in window(result, warmup, duration) if s.status == ok) / duration
