"""OpenTelemetry export (the optional `otel` extra): spans of a checkout reach an OTLP endpoint
under the caller's trace id. Skipped when the extra is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SCRIPT = f"""
import shutil, sys, tempfile
from pathlib import Path
from oms.telemetry.tracing import configure_tracing
assert configure_tracing()
from opentelemetry import trace
from oms.app import create_port_apps, start_runtime
from oms.config import Settings
from oms.migrate import upgrade
from tests.support import Shop
main = Path(tempfile.mkdtemp()) / "oms.db"
upgrade(f"sqlite:///{{main}}")
settings = Settings(database_url=f"sqlite:///{{main}}", jwt_secret="x" * 40, bcrypt_rounds=4)
runtime = start_runtime(settings)
shop = Shop(runtime)
product = shop.add_product(stock=2)["productId"]
customer = shop.register()
headers = {{**customer.headers, "traceparent": "00-{TRACE_ID}-00f067aa0ba902b7-01"}}
body = {{"items": [{{"productId": product, "quantity": 1}}],
        "shippingAddress": {{"line1": "1", "city": "X", "postalCode": "1", "country": "US"}},
        "paymentMethod": {{"type": "card", "token": "tok_visa"}}}}
assert shop.web.post("/api/v1/checkout", json=body, headers=headers).status_code == 201
trace.get_tracer_provider().force_flush()
runtime.close()
"""


class Collector(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        Collector.bodies.append(self.rfile.read(length))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_a_checkouts_spans_are_exported_under_the_callers_trace() -> None:
    server = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
        "OTEL_SERVICE_NAME": "oms-test",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    server.shutdown()

    assert done.returncode == 0, done.stderr[-3000:]
    exported = b"".join(Collector.bodies)
    assert bytes.fromhex(TRACE_ID) in exported  # the protobuf carries trace ids as bytes
    for name in (b"POST web", b"products order.created", b"orders payment.completed"):
        assert name in exported
