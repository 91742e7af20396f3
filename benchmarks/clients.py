"""What one thread of the load generator does against OMS: keep-alive HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import random
import time
from typing import Any

from benchmarks.load import Sample

HOST = "127.0.0.1"
REQUEST_TIMEOUT = 30.0  # seconds; checkout itself waits at most OMS_CHECKOUT_WAIT_SECONDS
SETTLE_TIMEOUT = 30.0  # seconds to poll a 202 order until its saga has settled
POLL_INTERVAL = 0.02
MAX_IDLE = 3.0  # seconds; gunicorn closes idle keep-alive connections after 5 (`keepalive`)
IN_FLIGHT = ("pending", "confirmed")
SHIPPING_ADDRESS = {
    "line1": "1 Bench Street",
    "city": "Springfield",
    "postalCode": "12345",
    "country": "US",
}


class Http:
    """One persistent HTTP/1.1 connection; reopened after an error, a `Connection: close`,
    or an idle time the server may have closed it in (never a request into a closing socket).
    """

    def __init__(self, port: int, timeout: float = REQUEST_TIMEOUT) -> None:
        self.port = port
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection = self._connect()
        try:
            connection.request(method, path, payload, headers)
            response = connection.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        self._last_used = time.monotonic()
        if response.will_close:
            self.close()
        return response.status, data

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is not None and time.monotonic() - self._last_used > MAX_IDLE:
            self.close()
        if self._connection is None:
            self._connection = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        return self._connection


def _field(data: bytes, name: str) -> str:
    try:
        return str(json.loads(data).get(name, ""))
    except (ValueError, AttributeError):
        return ""


def _get(
    http: Http, path: str, token: str | None, worker: int, due: float, ref: str = ""
) -> Sample:
    """One GET that must answer 200, timed."""
    start = time.monotonic()
    try:
        status, data = http.request("GET", path, token=token)
        note = "" if status == 200 else f"HTTP {status}: {data[:120]!r}"
    except Exception as error:
        status, note = 0, repr(error)[:200]
    end = time.monotonic()
    return Sample(worker, due, start, end, status, end if status == 200 else 0.0, ref, note)


class HealthzClient:
    """GET /healthz: the trivial route, for the HTTP ceiling of the same gunicorn."""

    def __init__(self, common: dict[str, Any], own: dict[str, Any], worker: int) -> None:
        self.worker = worker
        self.http = Http(common["port"])
        self.http.request("GET", "/healthz")  # connect before the clock starts

    def step(self, due: float) -> list[Sample]:
        return [_get(self.http, "/healthz", None, self.worker, due)]

    def close(self) -> None:
        self.http.close()


class CheckoutClient:
    """One customer buying, again and again: POST /api/v1/checkout, then await the saga."""

    def __init__(self, common: dict[str, Any], own: dict[str, Any], worker: int) -> None:
        self.worker = worker
        self.token = own["token"]
        self.products: list[str] = common["products"]
        self.random = random.Random(own.get("seed", worker))
        self.http = Http(common["port"])
        self.http.request("GET", "/healthz")

    def step(self, due: float) -> list[Sample]:
        start = time.monotonic()
        try:
            status, data = self.http.request(
                "POST", "/api/v1/checkout", self._checkout_body(), self.token
            )
        except Exception as error:
            end = time.monotonic()
            return [Sample(self.worker, due, start, end, 0, 0.0, "", repr(error)[:200])]
        end = time.monotonic()
        order_id, order_status = _field(data, "orderId"), _field(data, "status")
        settled = 0.0
        if status == 201 and order_status == "processing":
            settled = end
        elif status == 202 and order_id:
            settled, order_status = self._await_settled(order_id)
        return [Sample(self.worker, due, start, end, status, settled, order_id, order_status)]

    def _checkout_body(self) -> dict[str, Any]:
        lines = self.random.sample(self.products, k=self.random.choice((1, 1, 2)))
        return {
            "items": [
                {"productId": product, "quantity": self.random.randint(1, 3)} for product in lines
            ],
            "shippingAddress": SHIPPING_ADDRESS,
            "paymentMethod": {"type": "card", "token": "tok_visa"},
        }

    def _await_settled(self, order_id: str) -> tuple[float, str]:
        """Poll GET /orders/{id} until the saga ends: (when it was seen settled, status)."""
        give_up = time.monotonic() + SETTLE_TIMEOUT
        status = "unknown"
        while time.monotonic() < give_up:
            try:
                code, data = self.http.request(
                    "GET", f"/api/v1/orders/{order_id}", token=self.token
                )
            except Exception as error:
                return 0.0, f"poll failed: {error!r}"[:200]
            status = _field(data, "status") if code == 200 else f"poll HTTP {code}"
            if code != 200:
                return 0.0, status
            if status not in IN_FLIGHT:
                return (time.monotonic() if status == "processing" else 0.0), status
            time.sleep(POLL_INTERVAL)
        return 0.0, f"still {status} after {SETTLE_TIMEOUT:.0f} s"

    def close(self) -> None:
        self.http.close()


class DetailsClient:
    """GET /api/v1/orders/{id}/details of one of this customer's own orders."""

    def __init__(self, common: dict[str, Any], own: dict[str, Any], worker: int) -> None:
        self.worker = worker
        self.token = own["token"]
        self.orders: list[str] = own["orders"]
        self.random = random.Random(worker)
        self.http = Http(common["port"])
        self.http.request("GET", "/healthz")

    def step(self, due: float) -> list[Sample] | None:
        if not self.orders:
            return None
        order_id = self.random.choice(self.orders)
        path = f"/api/v1/orders/{order_id}/details"
        return [_get(self.http, path, self.token, self.worker, due, order_id)]

    def close(self) -> None:
        self.http.close()
