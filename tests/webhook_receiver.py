"""A webhook receiver for tests: an HTTP server on 127.0.0.1 that records every POST,
and what a receiver does to check a delivery's signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.polling import wait_until


@dataclass(frozen=True)
class Received:
    at: float
    headers: Message
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST; `answer` picks each status code."""

    def __init__(self, answer: Callable[[Received, list[Received]], int]) -> None:
        self.answer = answer
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                code = receiver.record(Received(time.monotonic(), self.headers, body))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/oms?source=test"

    def record(self, request: Received) -> int:
        with self._lock:
            earlier = list(self.received)
            self.received.append(request)
        return self.answer(request, earlier)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        wait_until(lambda: len(self.received) >= count, timeout, what=f"{count} requests")
        return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def always(code: int) -> Callable[[Received, list[Received]], int]:
    return lambda request, earlier: code


def fail_first_try_of(event_type: str) -> Callable[[Received, list[Received]], int]:
    def answer(request: Received, earlier: list[Received]) -> int:
        seen = any(r.headers["OMS-Event-Id"] == request.headers["OMS-Event-Id"] for r in earlier)
        return 500 if request.headers["OMS-Event-Type"] == event_type and not seen else 200

    return answer


def verified(secret: str, request: Received, tolerance: int = 300) -> bool:
    """What a receiver does: recompute the HMAC of "<t>.<body>" and compare in constant time."""
    fields = dict(part.split("=", 1) for part in request.headers["OMS-Signature"].split(","))
    signed = f"{fields['t']}.".encode() + request.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(fields["t"])) <= tolerance
    return fresh and hmac.compare_digest(expected, fields["v1"])
