"""The operator's toolkit for tests on real `oms` processes: a client of the web BFF
over HTTP, a ledger that reads OMS's database and broker as an operator would, and the
checks every such test ends with."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from kombu import Connection
from sqlalchemy import Engine, create_engine, text

from oms.db import SCHEMAS
from tests.integration.processes import (
    OmsProcesses,
    oms_processes,
    run_oms,
    wait_until,
)

SECRET = "resilience-test-secret-long-enough-for-hs256"
ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "a long admin password"
PASSWORD = "correct horse battery"
ADDRESS = {"line1": "1 Main Street", "city": "Springfield", "postalCode": "12345", "country": "US"}
VISA = {"type": "card", "token": "tok_visa"}
CHECKOUT_WAIT = 3  # seconds: a saga slower than this answers 202
SETTLE_TIMEOUT = 60.0
TERMINAL = {"processing", "cancelled", "shipped"}
CONSUMERS = ("products", "orders", "payments")
CONSUMER_THREADS = 3
AUDIT_SETTLE_SECONDS = 2


# -- driving OMS over HTTP --------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One checkout as the client saw it; `code` is None when no HTTP answer came."""

    code: int | None
    body: dict
    started: float
    ended: float
    error: str = ""

    @property
    def order_id(self) -> str | None:
        return self.body.get("orderId")


@dataclass
class Client:
    """The web BFF over real HTTP; one `requests.Session` per thread."""

    base_url: str
    answered: int = 0
    answers: list[Answer] = field(default_factory=list)  # every try, retries included
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)

    def post(
        self, path: str, body: dict, token: str | None = None, key: str | None = None
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if key:
            headers["Idempotency-Key"] = key
        return self._session().post(self.base_url + path, json=body, headers=headers, timeout=30)

    def get(self, path: str, token: str | None = None) -> dict:
        """The JSON of a GET that must answer 200."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self._session().get(self.base_url + path, headers=headers, timeout=30)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def login(self, email: str, password: str) -> str:
        response = self.post("/api/v1/auth/login", {"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def register(self) -> str:
        body = {
            "email": f"buyer-{uuid.uuid4().hex[:10]}@example.com",
            "password": PASSWORD,
            "firstName": "Ada",
            "lastName": "Lovelace",
        }
        response = self.post("/api/v1/auth/register", body)
        assert response.status_code == 201, response.text
        return response.json()["token"]

    def add_product(self, admin: str, stock: int, price: str = "9.99") -> str:
        body = {"name": "Widget", "sku": f"W-{uuid.uuid4().hex[:10]}", "price": price}
        response = self.post("/api/v1/products", {**body, "stock": stock}, token=admin)
        assert response.status_code == 201, response.text
        return response.json()["productId"]

    def checkout(self, token: str, items: list[tuple[str, int]], key: str | None = None) -> Answer:
        body = {
            "items": [{"productId": pid, "quantity": qty} for pid, qty in items],
            "shippingAddress": ADDRESS,
            "paymentMethod": VISA,
        }
        started = time.monotonic()
        try:
            response = self.post("/api/v1/checkout", body, token=token, key=key)
        except requests.RequestException as error:
            answer = Answer(None, {}, started, time.monotonic(), repr(error))
        else:
            answer = Answer(response.status_code, _json(response), started, time.monotonic())
        with self._lock:
            self.answered += 1
            self.answers.append(answer)
        return answer

    def checkout_retrying(
        self, token: str, items: list[tuple[str, int]], key: str, patience: float = 120.0
    ) -> Answer:
        """As a careful client does: on a 503 or no answer, wait and send the same
        checkout again under the same Idempotency-Key, until a real answer comes."""
        give_up = time.monotonic() + patience
        while True:
            answer = self.checkout(token, items, key)
            if answer.code not in (None, 503) or time.monotonic() > give_up:
                return answer
            time.sleep(0.5)


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {"raw": response.text[:500]}
    return body if isinstance(body, dict) else {"raw": body}


Job = tuple[str, list[tuple[str, int]]]  # (customer token, items)


def submit_checkouts(pool: ThreadPoolExecutor, client: Client, jobs: Iterable[Job]) -> list[Future]:
    return [pool.submit(client.checkout, token, items) for token, items in jobs]


def run_checkouts(client: Client, jobs: list[Job], threads: int) -> list[Answer]:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [future.result() for future in submit_checkouts(pool, client, jobs)]


def codes(answers: Iterable[Answer]) -> Counter:
    return Counter(answer.code for answer in answers)


def assert_only(answers: list[Answer], allowed: set[int], oms: OmsProcesses) -> None:
    wrong = [a for a in answers if a.code not in allowed]
    assert not wrong, (
        f"{len(wrong)} checkouts answered outside {sorted(allowed)}: "
        f"{[(a.code, a.body or a.error) for a in wrong[:5]]}\n{oms.logs()}"
    )


# -- looking at OMS as an operator does -------------------------------------------


class Ledger:
    """SQL on OMS's database, and a look at its dead-letter queues on the broker."""

    def __init__(self, database_url: str, amqp_url: str, namespace: str) -> None:
        self.engine: Engine = create_engine(database_url, pool_size=2, max_overflow=2)
        self.amqp_url = amqp_url
        self.namespace = namespace

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, sql: str) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql)))

    def orders(self) -> dict[str, tuple[str, str | None]]:
        rows = self.rows("SELECT id, status, cancel_reason FROM orders.orders")
        return {row.id: (row.status, row.cancel_reason) for row in rows}

    def available(self) -> dict[str, int]:
        rows = self.rows("SELECT product_id, available FROM products.inventory")
        return {row.product_id: row.available for row in rows}

    def held(self) -> dict[str, int]:
        """Units held by reserved stock holds, per product."""
        rows = self.rows(
            "SELECT i.product_id, sum(i.quantity) AS held FROM products.stock_hold_items i "
            "JOIN products.stock_holds h ON h.order_id = i.order_id "
            "WHERE h.state = 'reserved' GROUP BY i.product_id"
        )
        return {row.product_id: int(row.held) for row in rows}

    def hold_states(self) -> dict[str, str]:
        return {row.order_id: row.state for row in self.rows("SELECT * FROM products.stock_holds")}

    def payments(self) -> dict[str, list[tuple[str, Decimal]]]:
        found: dict[str, list[tuple[str, Decimal]]] = {}
        for row in self.rows("SELECT order_id, status, amount FROM payments.payments"):
            found.setdefault(row.order_id, []).append((row.status, row.amount))
        return found

    def order_totals(self) -> dict[str, Decimal]:
        return {row.id: row.total_amount for row in self.rows("SELECT * FROM orders.orders")}

    def outbox_rows(self) -> dict[str, int]:
        return {
            schema: self.rows(f"SELECT count(*) AS n FROM {schema}.outbox")[0].n
            for schema in SCHEMAS
        }

    def dead_letters(self) -> dict[str, int]:
        """Dead letters in each module's store, and messages still waiting in each
        consumer's dead-letter queue (a missing queue holds none)."""
        counts = {
            f"{schema}.dead_letters": self.rows(f"SELECT count(*) AS n FROM {schema}.dead_letters")[
                0
            ].n
            for schema in SCHEMAS
        }
        with Connection(self.amqp_url, connect_timeout=2) as connection:
            for consumer in CONSUMERS:
                name = f"{self.namespace}{consumer}.dead-letter"
                with connection.channel() as channel:
                    try:
                        counts[name] = channel.queue_declare(name, passive=True).message_count
                    except Exception:  # not declared: nothing was ever dead-lettered there
                        counts[name] = 0
        return counts

    def consumers(self) -> dict[str, int]:
        """How many consumers each of OMS's consuming queues has on the broker."""
        with Connection(self.amqp_url, connect_timeout=2) as connection:
            channel = connection.default_channel
            return {
                consumer: channel.queue_declare(
                    self.namespace + consumer, passive=True
                ).consumer_count
                for consumer in CONSUMERS
            }

    def wait_settled(self, expected_orders: int, oms: OmsProcesses) -> dict[str, tuple]:
        """Until `expected_orders` orders exist and none is pending or confirmed."""

        def settled() -> dict[str, tuple] | None:
            oms.assert_all_alive()
            orders = self.orders()
            done = len(orders) == expected_orders and all(
                status in TERMINAL for status, _ in orders.values()
            )
            return orders if done else None

        try:
            return wait_until(settled, SETTLE_TIMEOUT, interval=0.25, what="orders settled")  # type: ignore[return-value]
        except TimeoutError:
            stuck = Counter(status for status, _ in self.orders().values())
            pytest.fail(
                f"orders not settled within {SETTLE_TIMEOUT:.0f} s: {dict(stuck)}; "
                f"outboxes {self.outbox_rows()}\n{oms.logs()}"
            )

    def wait_outboxes_empty(self, oms: OmsProcesses, timeout: float = 15.0) -> None:
        try:
            wait_until(lambda: not any(self.outbox_rows().values()), timeout, what="outboxes")
        except TimeoutError:
            pytest.fail(f"outboxes not drained: {self.outbox_rows()}\n{oms.logs()}")


class StockWatch:
    """Samples the lowest `available` of any product, in a thread, while the load runs."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.lowest: int | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StockWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            low = self.ledger.rows("SELECT min(available) AS low FROM products.inventory")[0].low
            if low is not None:
                self.lowest = low if self.lowest is None else min(self.lowest, low)
            self.samples += 1
            self._stop.wait(0.05)


# -- running OMS ----------------------------------------------------------------


@contextmanager
def running_oms(env: dict[str, str], log_dir: Path, workers: int) -> Iterator[OmsProcesses]:
    """OMS's processes for the test's body; afterwards each must have stopped on SIGTERM."""
    with oms_processes(env, log_dir, workers=workers) as oms:
        for worker in oms.workers:
            oms.wait_consuming(worker)
        yield oms
    assert not oms.unclean_stops, f"{oms.unclean_stops}\n{oms.logs()}"


def admin_and_buyers(client: Client, buyers: int) -> tuple[str, list[str]]:
    return client.login(ADMIN_EMAIL, ADMIN_PASSWORD), [client.register() for _ in range(buyers)]


def basket(products: list[str], n: int) -> list[tuple[str, int]]:
    """One to three different products, one to two units each, varying with `n`."""
    return [(products[(n + j) % len(products)], 1 + (n + j) % 2) for j in range(1 + n % 3)]


def ordered_units(jobs: Iterable[Job]) -> Counter:
    units: Counter[str] = Counter()
    for _, items in jobs:
        for product_id, quantity in items:
            units[product_id] += quantity
    return units


# -- what every run must leave behind ---------------------------------------------


def assert_answers_match_orders(answers: list[Answer], orders: dict[str, tuple]) -> None:
    """One order per checkout; what the client was told agrees with the database."""
    ids = [answer.order_id for answer in answers]
    assert None not in ids, [a.body for a in answers if a.order_id is None][:5]
    assert len(set(ids)) == len(ids) == len(orders), "a checkout made no order, or two"
    assert set(ids) == set(orders)
    for answer in answers:
        status, reason = orders[answer.order_id]
        if answer.code == 201:
            assert answer.body["status"] == "processing" == status, answer.body
        elif answer.code == 409:
            assert answer.body["status"] == "cancelled" == status, answer.body
            assert answer.body["error"] == "Insufficient inventory", answer.body
            assert reason == "insufficient_inventory"
        else:
            assert answer.body["status"] in ("pending", "confirmed"), answer.body


def assert_paid_once(ledger: Ledger, orders: dict[str, tuple]) -> None:
    """Every processing order has exactly one completed payment of its total, with its own
    charge; no cancelled order has money taken."""
    payments = ledger.payments()
    totals = ledger.order_totals()
    charges = ledger.rows("SELECT charge_id FROM payments.payments WHERE status = 'completed'")
    for order_id, (status, _) in orders.items():
        made = payments.get(order_id, [])
        if status == "processing":
            assert made == [("completed", totals[order_id])], (order_id, made)
        else:
            assert all(state != "completed" for state, _ in made), (order_id, made)
    charge_ids = [row.charge_id for row in charges]
    assert None not in charge_ids
    assert len(set(charge_ids)) == len(charge_ids), "one charge id on two payments"


def assert_nothing_left_over(ledger: Ledger, oms: OmsProcesses, env: dict[str, str]) -> None:
    """Outboxes drained, no dead letter, and `oms audit`, as an operator runs it, passes."""
    ledger.wait_outboxes_empty(oms)
    assert not any(ledger.dead_letters().values()), ledger.dead_letters()
    time.sleep(AUDIT_SETTLE_SECONDS + 1)  # the last compensations are past the window
    report = run_oms(env, "audit", "--settle-seconds", str(AUDIT_SETTLE_SECONDS))
    assert "audit passed" in report, report


def assert_stock_conserved(ledger: Ledger, initial: dict[str, int], units: Counter) -> None:
    """Stock on hand plus stock held is what there was; the holds are what was ordered."""
    available, held = ledger.available(), ledger.held()
    for product_id, stock in initial.items():
        assert available[product_id] >= 0
        assert available[product_id] + held.get(product_id, 0) == stock, product_id
        assert held.get(product_id, 0) == units[product_id], product_id
