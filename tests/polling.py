"""The one way the tests wait for something that happens on another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from oms.runtime import Runtime

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, interval: float = 0.05, what: str = "") -> T:
    """Call `check` every `interval` seconds until it returns something truthy, and return
    that; raise TimeoutError (naming `what`) once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not within {timeout:g} s: {what or check}")
        time.sleep(interval)


def sweep_until(runtime: Runtime, check: Callable[[], object], timeout: float = 2.0) -> None:
    """Make the in-memory bus's due retries (`sweep`) until `check` comes true: the relay
    thread's work, done by the test itself."""

    def swept() -> object:
        done = check()
        if not done:
            runtime.bus.transport.sweep()
        return done

    wait_until(swept, timeout, interval=0.005, what="retries swept")
