"""What someone running `make bench` sees: the progress line of a phase, and the picture."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from benchmarks import chart
from benchmarks.load import Result, Sample
from benchmarks.progress import ProgressLine
from benchmarks.stats import checkout_timeline

SVG = "{http://www.w3.org/2000/svg}"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_progress_line_is_rewritten_in_place() -> None:
    screen = Terminal()
    with ProgressLine("checkouts", 30, screen) as line:
        line.show(done=40, failed=0, elapsed=1.0)
        line.show(done=100, failed=2, elapsed=2.0)
        line.finish(done=900, failed=2, elapsed=30.0)
    text = screen.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended once
    assert text.count("\r") == 3
    assert "checkouts:   2/30 s      60.0/s  100 done  2 failed" in text
    assert "30.0/s on average  900 done  2 failed" in text


def test_in_a_log_the_progress_is_a_line_every_few_seconds() -> None:
    log = io.StringIO()
    with ProgressLine("checkouts", 30, log) as line:
        for second in range(1, 13):
            line.show(done=10 * second, failed=0, elapsed=float(second))
        line.finish(done=300, failed=0, elapsed=30.0)
    lines = log.getvalue().splitlines()
    assert len(lines) == 3  # at 5 s, at 10 s, and the totals
    assert lines[0].startswith("  checkouts:   5/30 s      10.0/s  50 done")
    assert "\r" not in log.getvalue()


def _checkout(start: float, took: float, settled_after: float = 0.0) -> Sample:
    settled = start + took + settled_after
    return Sample(0, start, start, start + took, 201, settled, "order", "processing")


def test_the_timeline_counts_settled_checkouts_and_latency_per_second() -> None:
    samples = [
        _checkout(100.1, 0.2),  # answered and settled in second 0
        _checkout(100.5, 0.7),  # answered and settled in second 1
        _checkout(101.2, 0.1, settled_after=1.0),  # answered in second 1, settled in 2
    ]
    seconds = checkout_timeline(Result(samples, started=100.0, deadline=103.0))
    assert [s["settled"] for s in seconds] == [1, 1, 1]
    assert (seconds[0]["p50"], seconds[0]["p99"]) == (200.0, 200.0)
    assert (seconds[1]["p50"], seconds[1]["p99"]) == (100.0, 700.0)
    assert seconds[2]["p99"] == 0.0  # nothing answered in it


def test_the_picture_has_a_column_per_mode_with_rate_and_latency_lines() -> None:
    timeline = [
        {"second": 1, "settled": 30, "p50": 200.0, "p95": 300.0, "p99": 350.0},
        {"second": 2, "settled": 40, "p50": 210.0, "p95": 290.0, "p99": 420.0},
    ]
    checkout = {"settledPerSecond": 35.0, "requestLatencyMs": {"p99": 400.0}}
    results = {
        "options": {"warmupSeconds": 1.0},
        "modes": {
            "embedded": {"checkout": {**checkout, "perSecond": timeline}},
            "broker": {"failed": "RuntimeError('no broker')"},
        },
    }
    picture = ET.fromstring(chart.svg(results))
    texts = [text.text for text in picture.iter(f"{SVG}text")]
    assert "embedded: 35.0 checkouts/s, p99 400 ms" in texts
    assert "no checkout phase measured" in texts  # the broker column says why it is empty
    lines = list(picture.iter(f"{SVG}polyline"))
    assert len(lines) == 4  # settled checkouts/s, p50, p95, p99
    assert {"p50", "p95", "p99"} <= set(texts)
