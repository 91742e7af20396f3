"""An in-process sliding-window rate limiter (checkout per customer).

Kept in memory: cheap on the hot path, exact within one process. With several gunicorn
processes or replicas each keeps its own count, so a client gets at most
limit x processes. Lockouts that must hold across processes live in the database
(`oms.users.throttle`).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from oms.errors import TooManyRequests


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, message: str) -> None:
        """Count one request for `key`; 429 (not counted) once the window is full."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                raise TooManyRequests(
                    message,
                    retry_after=int(hits[0] + self.window - now + 0.999),
                    limit=self.limit,
                    window=int(self.window),
                )
            hits.append(now)
            if len(self._hits) > 100_000:  # forget idle keys now and then
                self._hits = {key: value for key, value in self._hits.items() if value}
