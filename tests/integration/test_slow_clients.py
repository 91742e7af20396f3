"""Slow, idle and malformed clients against a real `oms serve` (embedded mode).

The worker reads every request in full on its event loop before a thread takes it, so
connections that send half a request and wait hold no thread: the other connections'
/healthz and checkouts answer as fast as without them. The server's own refusals
(request line or headers too large, malformed requests, oversized bodies) come in the
API's one JSON error shape.
"""

from __future__ import annotations

import json
import socket
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from pathlib import Path

import pytest
import requests

from tests.integration.processes import (
    LOOPBACK,
    OmsProcesses,
    oms_environment,
    oms_processes,
    run_oms,
)

pytestmark = pytest.mark.slow

SECRET = "slow-clients-test-secret-long-enough-for-hs256"
# A round of medians can fall on a moment other tests load the machine: the bound must hold
# in one of these rounds, each measured without and then with the slow clients.
ROUNDS = 3
ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "a long admin password"
PASSWORD = "correct horse battery"
ADDRESS = {"line1": "1 Main Street", "city": "Springfield", "postalCode": "12345", "country": "US"}
READ_TIMEOUT = 3  # OMS_REQUEST_READ_TIMEOUT_SECONDS for this OMS


@pytest.fixture(scope="module")
def oms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OmsProcesses]:
    data = tmp_path_factory.mktemp("slow-clients")
    env = oms_environment(
        OMS_DATABASE_URL=f"sqlite:///{data / 'oms.db'}",
        OMS_JWT_SECRET=SECRET,
        OMS_BCRYPT_ROUNDS="4",
        OMS_REQUEST_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT),
        OMS_LOGIN_MAX_FAILURES="1000",
        OMS_REGISTER_RATE_LIMIT="1000",
        OMS_CHECKOUT_RATE_LIMIT="1000",
    )
    run_oms(env, "db", "upgrade")
    run_oms(env, "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD)
    with oms_processes(env, data / "logs", workers=0) as processes:
        yield processes


def url(oms: OmsProcesses, port: str, path: str) -> str:
    return f"http://{LOOPBACK}:{oms.ports[port]}{path}"


def slow_connections(oms: OmsProcesses, stack: ExitStack, count: int, ports: list[str]) -> None:
    """`count` connections over `ports`: half idle, half trickling an unfinished request."""
    for n in range(count):
        sock = stack.enter_context(
            closing(socket.create_connection((LOOPBACK, oms.ports[ports[n % len(ports)]])))
        )
        if n % 3 == 1:  # headers sent, one byte of a 100-byte body
            sock.sendall(
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
        elif n % 3 == 2:  # unfinished headers
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        # n % 3 == 0: connected, nothing sent


def timed(call: Callable[[], None]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


class Shopper:
    def __init__(self, oms: OmsProcesses) -> None:
        self.http = requests.Session()
        self.oms = oms
        admin = self.http.post(
            url(oms, "web", "/api/v1/auth/login"),
            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        ).json()["token"]
        product = self.http.post(
            url(oms, "web", "/api/v1/products"),
            json={"name": "Widget", "sku": f"W-{uuid.uuid4().hex[:8]}", "price": "5.00"}
            | {"stock": 10_000},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert product.status_code == 201, product.text
        self.product_id = product.json()["productId"]
        customer = self.http.post(
            url(oms, "web", "/api/v1/auth/register"),
            json={
                "email": f"slow-{uuid.uuid4().hex[:8]}@example.com",
                "password": PASSWORD,
                "firstName": "Ada",
                "lastName": "Lovelace",
            },
        )
        assert customer.status_code == 201, customer.text
        self.headers = {"Authorization": f"Bearer {customer.json()['token']}"}

    def healthz(self, port: str = "web") -> None:
        response = self.http.get(url(self.oms, port, "/healthz"), timeout=5)
        assert response.status_code == 200

    def checkout(self) -> None:
        response = self.http.post(
            url(self.oms, "web", "/api/v1/checkout"),
            json={
                "items": [{"productId": self.product_id, "quantity": 1}],
                "shippingAddress": ADDRESS,
                "paymentMethod": {"type": "card", "token": "tok_visa"},
            },
            headers=self.headers,
            timeout=10,
        )
        assert response.status_code == 201, response.text

    def medians(self, rounds: int = 15) -> tuple[float, float]:
        healthz = [timed(self.healthz) for _ in range(rounds)]
        checkout = [timed(self.checkout) for _ in range(rounds)]
        return statistics.median(healthz), statistics.median(checkout)


def test_200_idle_and_trickling_connections_do_not_slow_other_clients(oms: OmsProcesses) -> None:
    shopper = Shopper(oms)
    shopper.medians(5)  # warm up
    for _ in range(ROUNDS):  # "a few milliseconds" must hold in one round measured back to back
        before, during = _medians_without_and_with_slow_clients(oms, shopper)
        print(
            f"healthz median {before[0]:.1f} -> {during[0]:.1f} ms; "
            f"checkout median {before[1]:.1f} -> {during[1]:.1f} ms"
        )
        if during[0] - before[0] < 10 and during[1] - before[1] < 25:
            break
    # "A few milliseconds", with room for a machine shared with other work.
    assert during[0] - before[0] < 10, (before, during)
    assert during[1] - before[1] < 25, (before, during)


def _medians_without_and_with_slow_clients(
    oms: OmsProcesses, shopper: Shopper
) -> tuple[tuple[float, float], tuple[float, float]]:
    before = shopper.medians()
    with ExitStack() as stack:
        slow_connections(oms, stack, 200, ["web", "mobile", "orders", "products", "users"])
        time.sleep(0.5)
        return before, shopper.medians()


def test_64_connections_trickling_to_the_mobile_port_leave_every_port_answering(
    oms: OmsProcesses,
) -> None:
    with ExitStack() as stack:
        socks = [
            stack.enter_context(closing(socket.create_connection((LOOPBACK, oms.ports["mobile"]))))
            for _ in range(64)
        ]
        for sock in socks:
            sock.sendall(
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
            )
        for _ in range(3):
            for sock in socks:
                sock.sendall(b" ")
            for port in ("web", "mobile"):
                started = time.perf_counter()
                response = requests.get(url(oms, port, "/healthz"), timeout=5)
                assert response.status_code == 200
                assert time.perf_counter() - started < 1.0
            time.sleep(0.2)


def test_a_request_never_finished_is_closed_after_the_read_timeout(oms: OmsProcesses) -> None:
    with closing(socket.create_connection((LOOPBACK, oms.ports["web"]))) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(READ_TIMEOUT + 5)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"code": 408' in answer


def raw(oms: OmsProcesses, request: bytes, port: str = "web") -> tuple[int, dict, str]:
    with closing(socket.create_connection((LOOPBACK, oms.ports[port]), timeout=10)) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received:
                head, _, body = received.partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if length and len(body) >= length[0]:
                    break
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    return int(status_line.split()[1]), headers, body.decode()


@pytest.mark.parametrize(
    ("name", "request_bytes", "status"),
    [
        ("request line too long", b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (
            "headers too large",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 100) for n in range(120))
            + b"\r\n",
            431,
        ),
        ("malformed request", b"NOT A REQUEST\r\n\r\n", 400),
        (
            "chunked JSON body over the limit",
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"4000\r\n" + b" " * 0x4000 + b"\r\n" for _ in range(5))
            + b"0\r\n\r\n",
            413,
        ),
        (
            "text body over the limit",
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 70000\r\n\r\n" + b"x" * 70000,
            413,
        ),
        (
            "chunked text body over the limit",
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"4000\r\n" + b"x" * 0x4000 + b"\r\n" for _ in range(5))
            + b"0\r\n\r\n",
            413,
        ),
    ],
)
def test_the_servers_own_refusals_use_the_one_json_error_shape(
    oms: OmsProcesses, name: str, request_bytes: bytes, status: int
) -> None:
    code, headers, body = raw(oms, request_bytes)
    assert code == status, (name, body)
    assert headers["content-type"].startswith("application/json"), name
    assert headers["x-content-type-options"] == "nosniff"
    document = json.loads(body)
    assert document["code"] == status
    assert set(document) >= {"code", "status", "message"}


def test_stopping_with_slow_connections_open_is_quick(tmp_path: Path) -> None:
    env = oms_environment(
        OMS_DATABASE_URL=f"sqlite:///{tmp_path / 'oms.db'}", OMS_JWT_SECRET=SECRET
    )
    run_oms(env, "db", "upgrade")
    with oms_processes(env, tmp_path / "logs", workers=0) as processes, ExitStack() as stack:
        slow_connections(processes, stack, 30, ["web", "mobile"])
        time.sleep(0.3)
        processes.stop_all()
        assert not processes.unclean_stops
        assert max(processes.stop_seconds.values()) < 10
