"""OMS under load, a crashed worker and a broker outage, run as an operator runs it.

Real processes (`oms serve --web-only`, `oms worker`) on PostgreSQL + RabbitMQ, driven
over HTTP on loopback, and judged by what an operator would look at: order statuses,
stock on hand and held, payments, outboxes and dead-letter queues in the database and
the broker. Every wait is a bounded poll.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kombu import Connection

from oms.db import SCHEMAS
from tests.integration.ops import (
    CONSUMER_THREADS,
    CONSUMERS,
    TERMINAL,
    Client,
    Ledger,
    StockWatch,
    admin_and_buyers,
    assert_answers_match_orders,
    assert_nothing_left_over,
    assert_only,
    assert_paid_once,
    assert_stock_conserved,
    basket,
    codes,
    ordered_units,
    run_checkouts,
    running_oms,
    submit_checkouts,
)
from tests.integration.processes import OmsProcesses, TcpProxy
from tests.polling import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.slow]


# -- the tests --------------------------------------------------------------------


def test_stopping_right_after_checkouts_leaves_no_published_event_in_an_outbox(
    oms_env: dict[str, str], ledger: Ledger, tmp_path: Path
) -> None:
    """Published events' outbox rows are forgotten in batches; a process stopped on
    SIGTERM before its next batch forgets them on its way out."""
    with running_oms(oms_env, tmp_path / "logs", workers=1) as oms:
        client = Client(oms.web_url)
        admin, buyers = admin_and_buyers(client, buyers=2)
        product = client.add_product(admin, stock=20)
        answers = run_checkouts(client, [(buyers[n % 2], [(product, 1)]) for n in range(10)], 5)
        assert_only(answers, {201}, oms)

    assert ledger.outbox_rows() == dict.fromkeys(SCHEMAS, 0)


def test_200_concurrent_checkouts_for_50_units_sell_exactly_50(
    oms_env: dict[str, str], ledger: Ledger, tmp_path: Path
) -> None:
    """2 web processes x 12 threads, 2 workers of competing consumer threads; 20 client
    threads race for 50 units."""
    with running_oms(oms_env, tmp_path / "logs", workers=2) as oms:
        client = Client(oms.web_url)
        admin, buyers = admin_and_buyers(client, buyers=8)
        product = client.add_product(admin, stock=50)
        expected = dict.fromkeys(CONSUMERS, 2 * CONSUMER_THREADS)
        assert ledger.consumers() == expected, "2 workers' competing consumers"
        jobs = [(buyers[n % len(buyers)], [(product, 1)]) for n in range(200)]
        with StockWatch(ledger) as watch:
            answers = run_checkouts(client, jobs, threads=20)
            assert_only(answers, {201, 202, 409}, oms)
            orders = ledger.wait_settled(200, oms)

        assert_answers_match_orders(answers, orders)
        assert Counter(orders.values()) == {
            ("processing", None): 50,
            ("cancelled", "insufficient_inventory"): 150,
        }, codes(answers)
        assert ledger.available() == {product: 0}
        assert ledger.held() == {product: 50}
        assert watch.samples > 0 and watch.lowest is not None and watch.lowest >= 0
        assert Counter(ledger.hold_states().values()) == {"reserved": 50, "refused": 150}
        assert_paid_once(ledger, orders)
        assert_nothing_left_over(ledger, oms, oms_env)


@pytest.mark.drill
def test_a_worker_killed_mid_saga_loses_no_order_and_charges_each_once(
    oms_env: dict[str, str], ledger: Ledger, tmp_path: Path
) -> None:
    """SIGKILL the only worker after 30 of 100 checkouts; a new one finishes every saga."""
    with running_oms(oms_env, tmp_path / "logs", workers=1) as oms:
        client = Client(oms.web_url)
        admin, buyers = admin_and_buyers(client, buyers=5)
        products = [client.add_product(admin, 1000, price) for price in ("9.99", "24.50", "3.05")]
        jobs = [(buyers[n % len(buyers)], basket(products, n)) for n in range(100)]
        initial = ledger.available()

        with ThreadPoolExecutor(max_workers=10) as pool:
            futures = submit_checkouts(pool, client, jobs)
            wait_until(lambda: client.answered >= 30, 60, interval=0.05, what="30 answers")
            wait_until(
                lambda: any(status not in TERMINAL for status, _ in ledger.orders().values()),
                30,
                interval=0.005,
                what="a saga under way",  # the kill must catch one mid-way
            )
            oms.kill_worker(oms.workers[0])
            killed_at = time.monotonic()
            unfinished = [o for o, (status, _) in ledger.orders().items() if status not in TERMINAL]
            wait_until(lambda: client.answered >= 60, 60, interval=0.05, what="60 answers")
            restarted_at = time.monotonic()
            oms.wait_consuming(oms.start_worker())
            answers = [future.result() for future in futures]
        assert_only(answers, {201, 202}, oms)
        orders = ledger.wait_settled(100, oms)

        assert unfinished, "the worker died with no saga under way"
        blind = [a for a in answers if killed_at < a.started and a.ended < restarted_at]
        assert len(blind) >= 5, f"only {len(blind)} checkouts while no worker ran"
        assert codes(blind) == {202: len(blind)}, "no worker ran, yet a saga settled"
        assert_answers_match_orders(answers, orders)
        assert Counter(status for status, _ in orders.values()) == {"processing": 100}
        assert Counter(ledger.hold_states().values()) == {"reserved": 100}
        assert_paid_once(ledger, orders)
        assert_stock_conserved(ledger, initial, ordered_units(jobs))
        assert_nothing_left_over(ledger, oms, oms_env)


def hold_outage(oms: OmsProcesses, ledger: Ledger, until: Callable[[], bool]) -> list[int]:
    """While the broker is away: /readyz answers, and outbox rows seen, until `until()`."""
    readiness = []
    outboxed = 0
    deadline = time.monotonic() + 30
    while not until() or not outboxed:
        assert time.monotonic() < deadline, f"outage never showed in the outbox\n{oms.logs()}"
        readiness.append(oms.readyz(timeout=10))
        outboxed = max(outboxed, sum(ledger.outbox_rows().values()))
        time.sleep(0.25)
    return readiness


@pytest.mark.drill
def test_a_broker_outage_delays_checkouts_but_loses_none(
    oms_env: dict[str, str], ledger: Ledger, tmp_path: Path, amqp_url: str
) -> None:
    """Cut every connection to RabbitMQ for ~5 s while 20 checkouts come in."""
    broker = Connection(amqp_url)
    with TcpProxy(broker.hostname, broker.port or 5672) as proxy:
        env = {**oms_env, "OMS_BROKER_URL": proxy.url()}
        with running_oms(env, tmp_path / "logs", workers=1) as oms:
            client = Client(oms.web_url)
            admin, buyers = admin_and_buyers(client, buyers=4)
            products = [client.add_product(admin, 500, price) for price in ("12.00", "0.99")]
            jobs = [(buyers[n % len(buyers)], basket(products, n)) for n in range(40)]
            initial = ledger.available()
            before = run_checkouts(client, jobs[:10], threads=5)

            proxy.stop()
            cut_at = time.monotonic()
            with ThreadPoolExecutor(max_workers=20) as pool:
                futures = submit_checkouts(pool, client, jobs[10:30])
                readiness = hold_outage(
                    oms,
                    ledger,
                    until=lambda: all(f.done() for f in futures) and time.monotonic() - cut_at >= 5,
                )
                during = [future.result() for future in futures]
            proxy.start()
            assert_only(before + during, {201, 202}, oms)

            wait_until(lambda: oms.readyz() == 200, 20, what="/readyz 200 after the outage")
            after = run_checkouts(client, jobs[30:], threads=5)
            assert_only(after, {201, 202}, oms)
            orders = ledger.wait_settled(40, oms)

        assert set(readiness) == {503}, f"/readyz during the outage: {Counter(readiness)}"
        assert_answers_match_orders(before + during + after, orders)
        assert Counter(status for status, _ in orders.values()) == {"processing": 40}
        assert_paid_once(ledger, orders)
        assert_stock_conserved(ledger, initial, ordered_units(jobs))
        assert_nothing_left_over(ledger, oms, oms_env)
