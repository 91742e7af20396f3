"""Fault drills: ordinary faults under checkout load, on real `oms` processes.

Each drill ends as an operator would check it: every order terminal, stock and
payments adding up, nothing in the outboxes or the dead letters, and `oms audit`
exiting 0. Each prints one line of figures (orders, client-visible errors, lost,
duplicated, stuck), the table the README publishes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kombu import Connection
from sqlalchemy.engine import make_url

from tests.integration.ops import (
    CHECKOUT_WAIT,
    CONSUMERS,
    Answer,
    Client,
    Ledger,
    admin_and_buyers,
    assert_nothing_left_over,
    assert_only,
    assert_paid_once,
    assert_stock_conserved,
    basket,
    ordered_units,
    running_oms,
)
from tests.integration.processes import OmsProcesses, TcpProxy
from tests.polling import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.slow, pytest.mark.drill]

CHECKOUTS = 60
CLIENT_THREADS = 8
SETTLE_WITHIN = 120.0  # seconds: every order terminal within two minutes
# How long any one answer may take while a dependency is frozen: the checkout wait,
# plus PostgreSQL's bounds (statement + margin, then a connect) or a publish confirm.
FROZEN_ANSWER_LIMIT = CHECKOUT_WAIT + 5 + 1 + 3 + 3


def report(drill: str, orders: dict, answers: list[Answer], jobs: int) -> None:
    """One line of figures, as the README's drill table shows them."""
    errors = sum(1 for a in answers if a.code is None or a.code >= 500)
    keys_with_orders = Counter(a.order_id for a in answers if a.order_id)
    stuck = sum(1 for status, _ in orders.values() if status in ("pending", "confirmed"))
    print(
        f"\nDRILL {drill}: orders={len(orders)} tries={len(answers)} "
        f"client-visible-errors={errors} lost={jobs - len(orders)} "
        f"duplicated={len(orders) - len(keys_with_orders)} stuck={stuck}"
    )


def checkouts_through_fault(
    client: Client,
    jobs: list[tuple[str, list[tuple[str, int]]]],
    after_answers: int,
    begin: Callable[[], None],
    end: Callable[[], None],
    seconds: float,
) -> list[Answer]:
    """Every job checked out by clients that retry under its own Idempotency-Key, with
    a fault (`begin` ... `end`) held for `seconds` once `after_answers` answers came;
    the final answer of each."""
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        futures = [
            pool.submit(client.checkout_retrying, token, items, f"drill-{n}")
            for n, (token, items) in enumerate(jobs)
        ]
        wait_until(
            lambda: client.answered >= after_answers, 60, interval=0.05, what="first answers"
        )
        begin()
        time.sleep(seconds)
        end()
        return [future.result() for future in futures]


def settle_and_audit(oms: OmsProcesses, ledger: Ledger, env: dict[str, str], n: int) -> dict:
    orders = wait_until(
        lambda: _all_terminal(ledger, n), SETTLE_WITHIN, interval=0.5, what=f"{n} orders terminal"
    )
    assert_nothing_left_over(ledger, oms, env)
    return orders  # type: ignore[return-value]


def _all_terminal(ledger: Ledger, n: int) -> dict | None:
    orders = ledger.orders()
    in_flight = [o for o, (status, _) in orders.items() if status in ("pending", "confirmed")]
    return orders if len(orders) == n and not in_flight else None


@pytest.fixture
def database_link(postgres_url: str) -> Iterator[TcpProxy]:
    url = make_url(postgres_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as link:
        yield link


@pytest.mark.parametrize("outage_seconds", [3, 10])
def test_drill_postgres_cut_under_load(
    oms_env: dict[str, str],
    ledger: Ledger,
    database_link: TcpProxy,
    postgres_url: str,
    tmp_path: Path,
    outage_seconds: int,
) -> None:
    """PostgreSQL unreachable for a few seconds while checkouts come in; clients retry
    with the same Idempotency-Key on 503 and on no answer."""
    env = {**oms_env, "OMS_DATABASE_URL": database_link.route(postgres_url)}
    with running_oms(env, tmp_path / "logs", workers=1) as oms:
        client = Client(oms.web_url)
        admin, buyers = admin_and_buyers(client, buyers=4)
        products = [client.add_product(admin, 1000, price) for price in ("9.99", "24.50")]
        jobs = [(buyers[n % len(buyers)], basket(products, n)) for n in range(CHECKOUTS)]
        initial = ledger.available()
        final = checkouts_through_fault(
            client, jobs, 10, database_link.stop, database_link.start, outage_seconds
        )
        assert_only(final, {201, 202}, oms)
        assert not [a for a in client.answers if a.code == 500], "a 500 during the outage"
        orders = settle_and_audit(oms, ledger, oms_env, CHECKOUTS)

    report(f"postgres-cut-{outage_seconds}s", orders, client.answers, CHECKOUTS)
    assert 503 in Counter(a.code for a in client.answers), "the outage never showed"
    assert len({a.order_id for a in final}) == CHECKOUTS  # one order per checkout
    assert Counter(status for status, _ in orders.values()) == {"processing": CHECKOUTS}
    assert_paid_once(ledger, orders)
    assert_stock_conserved(ledger, initial, ordered_units(jobs))


@pytest.mark.parametrize("dependency", ["postgres", "rabbitmq"])
def test_drill_frozen_dependency_under_load(
    oms_env: dict[str, str],
    ledger: Ledger,
    postgres_url: str,
    amqp_url: str,
    tmp_path: Path,
    dependency: str,
) -> None:
    """A partition: the dependency's traffic frozen for 8 s, connections left open.
    No request waits much longer than the checkout wait; afterwards every saga ends."""
    if dependency == "postgres":
        database = make_url(postgres_url)
        host, port = database.host or "127.0.0.1", database.port or 5432
    else:
        broker = Connection(amqp_url)
        host, port = broker.hostname, broker.port or 5672
    with TcpProxy(host, port) as link:
        routed = (
            {"OMS_DATABASE_URL": link.route(postgres_url)}
            if dependency == "postgres"
            else {"OMS_BROKER_URL": link.url()}
        )
        env = {**oms_env, **routed}
        with running_oms(env, tmp_path / "logs", workers=1) as oms:
            client = Client(oms.web_url)
            admin, buyers = admin_and_buyers(client, buyers=4)
            product = client.add_product(admin, 1000)
            jobs = [(buyers[n % len(buyers)], [(product, 1)]) for n in range(40)]
            initial = ledger.available()
            final = checkouts_through_fault(client, jobs, 5, link.freeze, link.thaw, 8)
            slowest = max(a.ended - a.started for a in client.answers)
            assert_only(final, {201, 202}, oms)
            orders = settle_and_audit(oms, ledger, oms_env, len(jobs))

    report(f"{dependency}-frozen-8s", orders, client.answers, len(jobs))
    assert slowest < FROZEN_ANSWER_LIMIT, f"an answer took {slowest:.1f} s"
    assert Counter(status for status, _ in orders.values()) == {"processing": len(jobs)}
    assert_paid_once(ledger, orders)
    assert_stock_conserved(ledger, initial, ordered_units(jobs))


def test_drill_lost_messages_are_settled_by_the_saga_deadline(
    oms_env: dict[str, str],
    ledger: Ledger,
    amqp_url: str,
    broker_namespace: str,
    tmp_path: Path,
) -> None:
    """Checkouts taken while no worker runs, their messages then purged: once a worker
    is back, the deadline cancels each order, stock whole and nothing charged."""
    deadline = 20
    env = {**oms_env, "OMS_SAGA_DEADLINE_SECONDS": str(deadline)}
    with running_oms(env, tmp_path / "logs", workers=1) as oms:
        client = Client(oms.web_url)
        admin, buyers = admin_and_buyers(client, buyers=2)
        product = client.add_product(admin, 100)
        initial = ledger.available()
        oms.kill_worker(oms.workers[0])
        answers = [client.checkout(buyers[n % 2], [(product, 2)]) for n in range(10)]
        assert Counter(a.code for a in answers) == {202: 10}
        placed_at = time.monotonic()
        with Connection(amqp_url) as connection:
            channel = connection.default_channel
            purged = sum(channel.queue_purge(broker_namespace + c) or 0 for c in CONSUMERS)
        assert purged >= 10, "the order.created messages were not in the queues"
        oms.wait_consuming(oms.start_worker())
        orders = settle_and_audit(oms, ledger, oms_env, 10)
        settled_in = time.monotonic() - placed_at

    report("lost-messages-deadline-20s", orders, answers, 10)
    assert settled_in < deadline + 60
    assert set(orders.values()) == {("cancelled", "saga_deadline")}
    assert ledger.available() == initial
    assert ledger.payments() == {}  # nothing was ever charged
