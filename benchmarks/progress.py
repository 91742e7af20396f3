"""A phase's progress while it runs: rate, failures and elapsed time, on stderr.

On a terminal one line is rewritten in place (`\\r`) a few times a second; in a log (CI,
`make bench > out`) a line is written every few seconds instead, so the log stays short.
"""

from __future__ import annotations

import sys
from typing import TextIO

TERMINAL_INTERVAL = 0.5  # seconds between two rewrites of the line
LOG_INTERVAL = 5.0  # seconds between two lines when stderr is not a terminal


class ProgressLine:
    def __init__(self, label: str, seconds: float, stream: TextIO | None = None) -> None:
        self.label = label
        self.seconds = seconds
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.interval = TERMINAL_INTERVAL if self.terminal else LOG_INTERVAL
        self._shown_at = 0.0  # elapsed seconds at the last line
        self._done_then = 0  # samples at the last line
        self._width = 0

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.terminal and self._width:
            self.stream.write("\n")
            self.stream.flush()

    def show(self, done: int, failed: int, elapsed: float) -> None:
        """The running count, if the last line is old enough; the rate is since then."""
        if elapsed - self._shown_at < self.interval:
            return
        rate = (done - self._done_then) / (elapsed - self._shown_at)
        self._shown_at, self._done_then = elapsed, done
        shown = min(elapsed, self.seconds)
        self._write(
            f"{self.label}: {shown:3.0f}/{self.seconds:.0f} s  {rate:8.1f}/s  "
            f"{done} done  {failed} failed"
        )

    def finish(self, done: int, failed: int, elapsed: float) -> None:
        """The phase's totals, once every load process has reported."""
        rate = done / elapsed if elapsed > 0 else 0.0
        self._write(
            f"{self.label}: {elapsed:.0f} s  {rate:8.1f}/s on average  {done} done  {failed} failed"
        )

    def _write(self, text: str) -> None:
        if self.terminal:
            self.stream.write("\r  " + text.ljust(self._width))
            self._width = max(self._width, len(text))
        else:
            self.stream.write(f"  {text}\n")
        self.stream.flush()
