"""`python -m benchmarks`: the order of things, and cleaning up after every one of them.

1. Ceilings, with the same load generator and concurrency: PostgreSQL single-row
   commits, RabbitMQ publish-with-confirm and consume+ack (broker mode only needs them).
2. Per mode, OMS started with the `oms` command as the integration tests start it
   (embedded: `oms serve` on SQLite in a temp dir and the in-memory bus; broker: `oms
   serve --web-only` and one `oms worker` on a scratch PostgreSQL database and RabbitMQ
   under a namespace of its own): the HTTP ceiling (GET /healthz of that very
   gunicorn), in broker mode a calibration of what one checkout costs, then customers
   checking out for the duration, then order details at half the checkout rate (open
   loop), then the audit.
3. The table, the targets, the JSON file and the picture beside it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from kombu import Connection

from benchmarks import api, ceilings, chart, load, report, stats
from benchmarks.calibrate import SCHEMAS, calibrate
from benchmarks.cpu import CpuMeter, backend_pids
from benchmarks.options import Options
from benchmarks.server import MemoryWatch, roles
from oms.bus.rabbitmq import declared_names
from oms.config import Settings
from tests.integration.ops import Client
from tests.integration.processes import OmsProcesses, oms_environment, oms_processes, run_oms

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ADMIN_EMAIL = "bench-admin@example.com"
PRODUCTS = 10
TUNABLE = ("OMS_WEB_WORKERS", "OMS_WEB_THREADS", "OMS_WORKER_THREADS")
AUDIT_GRACE = 30.0  # seconds for orders still in flight (after errors) to settle


def main(args: argparse.Namespace) -> int:
    options = Options.from_args(args)
    problem = _check_options(options)
    if problem:
        print(f"benchmarks: {problem}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)  # stop like on Ctrl-C: clean up, then exit
    began = time.monotonic()
    results: dict[str, Any] = {"options": _describe(options), "ceilings": {}, "modes": {}}
    try:
        if "broker" in options.modes:
            results["ceilings"] = _ceilings_or_failure(options)
        for mode in options.modes:
            _say(f"{mode} mode")
            results["modes"][mode] = _run_mode_or_failure(mode, options, results["ceilings"])
    except KeyboardInterrupt:
        print("\nbenchmarks: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    results["elapsedSeconds"] = round(time.monotonic() - began, 1)
    results["targets"] = report.targets(results)
    report.write_json(options.output, results)
    options.picture.write_text(chart.svg(results))
    print(report.table(results))
    print(f"\nresults written to {options.output}, the picture to {options.picture}")
    met = all(target["met"] for target in results["targets"])
    return 3 if options.strict and not met else 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _check_options(options: Options) -> str:
    if (
        min(options.concurrency, options.processes, options.bus_workers) < 1
        or options.duration <= 0
    ):
        return "--duration, --concurrency, --processes and --bus-workers must be positive"
    for name, url in (
        ("--database-admin-url", options.database_admin_url),
        ("--broker-url", options.broker_url),
    ):
        if (urlsplit(url).hostname or "") not in LOOPBACK:
            return f"{name} must point at this machine (127.0.0.1): {url}"
    return ""


def _describe(options: Options) -> dict[str, Any]:
    return {
        "modes": list(options.modes),
        "durationSeconds": options.duration,
        "ceilingDurationSeconds": options.ceiling_duration,
        "warmupSeconds": options.warmup,
        "concurrency": options.concurrency,
        "loadProcesses": options.processes,
        "threadsPerProcess": -(-options.concurrency // options.processes),
        "cores": os.cpu_count(),
        "calibrationCheckouts": options.calibration,
    }


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- ceilings ---------------------------------------------------------------------


def _ceilings_or_failure(options: Options) -> dict[str, Any]:
    try:
        return _ceilings(options)
    except Exception as error:
        _say(f"ceilings failed: {error!r}")
        return {"failed": repr(error)[:500]}


def _ceilings(options: Options) -> dict[str, Any]:
    seconds, warmup = options.ceiling_duration, options.warmup
    _say(f"ceiling: PostgreSQL single-row commits, {seconds:.0f} s")
    pg = ceilings.pg_commit_rate(
        options.database_admin_url, options.concurrency, options.processes, seconds, warmup
    )
    _say(f"ceiling: RabbitMQ publish with confirms, then consume+ack, {seconds:.0f} s")
    amqp = ceilings.amqp_rates(
        options.broker_url, options.concurrency, options.processes, seconds, warmup
    )
    return {
        "postgresCommits": pg.as_dict(),
        "rabbitPublishConfirmed": amqp.publish.as_dict(),
        "rabbitConsumeAck": amqp.consume.as_dict(),
    }


# -- one mode ---------------------------------------------------------------------


def _run_mode_or_failure(mode: str, options: Options, machine: dict[str, Any]) -> dict[str, Any]:
    """The mode's figures; if it could not run to the end, why (and the next mode runs)."""
    try:
        return run_mode(mode, options, machine)
    except Exception as error:
        _say(f"{mode} mode failed: {error!r}")
        failure = stats.Errors()
        failure.add(f"{mode} mode failed", repr(error)[:500])
        return {"failed": repr(error)[:500], "errors": failure.as_dict()}


def run_mode(mode: str, options: Options, machine: dict[str, Any]) -> dict[str, Any]:
    with ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="oms-bench-")))
        env = oms_environment(**_mode_settings(mode, options, workdir, cleanup))
        _say(f"{mode}: oms db upgrade, oms create-admin, oms serve")
        run_oms(env, "db", "upgrade")
        password = secrets.token_urlsafe(24)
        # "--password=...": a random password may begin with "-", which is not a value to argparse
        run_oms(env, "create-admin", f"--email={ADMIN_EMAIL}", f"--password={password}")
        workers = options.bus_workers if mode == "broker" else 0
        oms = cleanup.enter_context(oms_processes(env, workdir / "logs", workers))
        for worker in oms.workers:
            oms.wait_consuming(worker)
        memory = MemoryWatch(oms).start()
        outcome = _drive(mode, options, oms, password, machine)
        outcome["memory"] = memory.stop()
    _count_unclean_stops(oms, outcome)  # now that every process has been stopped
    return outcome


def _mode_settings(
    mode: str, options: Options, workdir: Path, cleanup: ExitStack
) -> dict[str, str]:
    settings = {"OMS_JWT_SECRET": secrets.token_urlsafe(48), "OMS_BCRYPT_ROUNDS": "4"}
    # The benchmark measures capacity: its few customers check out far more often than
    # the per-customer limit lets a real one, and it signs them all up from one address.
    settings |= {"OMS_CHECKOUT_RATE_LIMIT": "1000000000", "OMS_REGISTER_RATE_LIMIT": "1000000"}
    # How the web tier is sized is the caller's to try: OMS_WEB_WORKERS=2 make bench.
    settings |= {name: os.environ[name] for name in TUNABLE if name in os.environ}
    if mode == "embedded":
        settings["OMS_DATABASE_URL"] = f"sqlite:///{workdir}/oms.db"
        settings["OMS_BROKER_URL"] = "memory://"
        return settings
    url = cleanup.enter_context(ceilings.scratch_database(options.database_admin_url, "oms_bench"))
    namespace = f"oms-bench-{uuid.uuid4().hex[:10]}."
    cleanup.callback(_delete_namespace, options.broker_url, namespace)
    settings.update(
        OMS_DATABASE_URL=url, OMS_BROKER_URL=options.broker_url, OMS_BROKER_NAMESPACE=namespace
    )
    return settings


def _count_unclean_stops(oms: OmsProcesses, outcome: dict[str, Any]) -> None:
    """A process that had to be killed, not stopped by SIGTERM, counts as an error."""
    outcome["uncleanStops"] = oms.unclean_stops
    errors = outcome.get("errors")
    if oms.unclean_stops and errors is not None:
        errors["total"] += len(oms.unclean_stops)
        errors["byKind"]["OMS process killed, not stopped by SIGTERM"] = len(oms.unclean_stops)


def _drive(
    mode: str, options: Options, oms: OmsProcesses, password: str, machine: dict[str, Any]
) -> dict[str, Any]:
    client = Client(oms.web_url)
    port = oms.ports["web"]
    shop = api.seed(client, client.login(ADMIN_EMAIL, password), options.concurrency, PRODUCTS)
    outcome: dict[str, Any] = {"gunicorn": _gunicorn_shape(oms)}
    errors = stats.Errors()
    outcome["httpCeiling"] = _http_ceiling(options, port, errors)
    if mode == "broker":
        _say(f"broker: calibration, {options.calibration} sequential checkouts")
        cost = calibrate(
            client,
            shop,
            oms.env["OMS_DATABASE_URL"],
            options.broker_url,
            oms.env["OMS_BROKER_NAMESPACE"],
            options.calibration,
        )
        outcome["sagaCost"] = cost.as_dict()
        outcome["sagaCeiling"] = report.saga_ceiling(cost, machine)
    checkouts = _checkouts(options, partial(_processes, oms, options, mode), port, shop, errors)
    outcome["checkout"] = checkouts.stats.as_dict()
    outcome["cpu"] = checkouts.cpu
    outcome["orderDetails"] = _details(options, port, shop, checkouts, errors)
    outcome["audit"] = _audit(client, shop, checkouts.answered, errors)
    if mode == "broker":
        outcome["queues"] = _queue_depths(options.broker_url, oms.env, errors)
    try:
        oms.assert_all_alive()
    except AssertionError as died:
        errors.add("OMS process exited during the run", str(died)[-500:])
    outcome["errors"] = errors.as_dict()
    return outcome


def _processes(oms: OmsProcesses, options: Options, mode: str) -> dict[int, str]:
    """OMS's processes and, in broker mode, the PostgreSQL backends serving it: pid -> role."""
    found = roles(oms)
    if mode == "broker":
        database = urlsplit(oms.env["OMS_DATABASE_URL"]).path.lstrip("/")
        pids = backend_pids(options.database_admin_url, database)
        found.update(dict.fromkeys(pids, "postgres backend"))
    return found


def _gunicorn_shape(oms: OmsProcesses) -> dict[str, Any]:
    found = list(roles(oms).values())
    return {
        "workers": found.count("gunicorn worker"),
        "threads": Settings.from_env(oms.env).request_threads,
        "busWorkers": found.count("oms worker"),
    }


def _http_ceiling(options: Options, port: int, errors: stats.Errors) -> dict[str, Any]:
    seconds = options.ceiling_duration
    _say(f"HTTP ceiling: GET /healthz, {seconds:.0f} s")
    plan = load.Plan(
        client="benchmarks.clients:HealthzClient",
        label="GET /healthz",
        common={"port": port},
        own=[{}] * options.concurrency,
        duration=options.warmup + seconds,
        processes=options.processes,
    )
    result = load.run(plan)
    errors.merge(stats.phase_errors(result, (200,), "healthz"))
    measured = stats.window(result, options.warmup, seconds)
    return {
        "perSecond": round(stats.closed_loop_rate(result, options.warmup, seconds), 1),
        "latencyMs": stats.latency_ms(s.end - s.start for s in measured if s.status == 200),
        "loadGeneratorCores": round(result.cores_used, 2),
    }


@dataclass(frozen=True)
class Checkouts:
    stats: stats.CheckoutStats
    orders_by_worker: list[list[str]]
    answered: set[str]
    cpu: dict[str, Any]


def _checkouts(
    options: Options,
    processes: Callable[[], dict[int, str]],
    port: int,
    shop: api.Shop,
    errors: stats.Errors,
) -> Checkouts:
    _say(f"checkouts: {options.concurrency} customers, {options.duration:.0f} s")
    plan = load.Plan(
        client="benchmarks.clients:CheckoutClient",
        label="checkouts",
        common={"port": port, "products": shop.products},
        own=[{"token": token, "seed": i} for i, token in enumerate(shop.customers)],
        duration=options.warmup + options.duration,
        processes=options.processes,
    )
    meter = CpuMeter.start(processes())
    result = load.run(plan)
    used = meter.stop(processes())
    errors.merge(stats.checkout_errors(result))
    orders: list[list[str]] = [[] for _ in shop.customers]
    for sample in result.samples:
        if sample.settled:
            orders[sample.worker].append(sample.ref)
    answered = {s.ref for s in result.samples if s.status in (201, 202) and s.ref}
    used["load generator"] = result.cpu_seconds
    return Checkouts(
        stats.checkout_stats(result, options.warmup, options.duration),
        orders,
        answered,
        _cpu_per_checkout(used, sum(len(part) for part in orders), result),
    )


def _cpu_per_checkout(used: dict[str, float], settled: int, result: load.Result) -> dict[str, Any]:
    """CPU milliseconds per settled checkout, by kind of process, over the whole phase."""
    per_checkout = {role: round(1000 * s / settled, 2) for role, s in used.items() if settled}
    seconds = result.deadline - result.started
    cores = {role: round(s / seconds, 2) for role, s in used.items()}
    return {"msPerSettledCheckout": per_checkout, "coresUsed": cores}


def _details(
    options: Options, port: int, shop: api.Shop, checkouts: Checkouts, errors: stats.Errors
) -> dict[str, Any]:
    rate = checkouts.stats.rate / 2
    if rate <= 0:
        errors.add("order details not measured", "no checkout settled")
        return {"targetPerSecond": 0.0}
    _say(f"order details: open loop at {rate:.1f}/s, {options.duration:.0f} s")
    plan = load.Plan(
        client="benchmarks.clients:DetailsClient",
        label="order details",
        common={"port": port},
        own=[
            {"token": token, "orders": orders}
            for token, orders in zip(shop.customers, checkouts.orders_by_worker, strict=True)
        ],
        duration=options.duration,
        processes=options.processes,
        rate=rate,
    )
    result = load.run(plan)
    errors.merge(stats.phase_errors(result, (200,), "order details"))
    return stats.open_loop_stats(result, rate)


def _audit(
    client: Client, shop: api.Shop, answered: set[str], errors: stats.Errors
) -> dict[str, Any]:
    _say("audit: every order terminal, stock conserved")
    deadline = time.monotonic() + AUDIT_GRACE
    result = api.audit(client, shop, answered)
    while not result.all_terminal and time.monotonic() < deadline:
        time.sleep(1.0)
        result = api.audit(client, shop, answered)
    errors.add(
        "order not terminal at the end",
        ", ".join(result.not_terminal[:3]),
        len(result.not_terminal),
    )
    if not result.stock_conserved:
        errors.add("stock not conserved", str(result.as_dict()["products"])[:300])
    errors.add(
        "order answered but not listed", ", ".join(result.unaccounted[:3]), len(result.unaccounted)
    )
    return result.as_dict()


# -- RabbitMQ namespace -----------------------------------------------------------


def _queue_names(namespace: str) -> list[str]:
    names = [namespace + module for module in SCHEMAS]
    return names + [name + ".dead-letter" for name in names]


def _queue_depths(url: str, settings: dict[str, str], errors: stats.Errors) -> dict[str, int]:
    """Messages left in OMS's queues; anything in a dead-letter queue is an error."""
    depths: dict[str, int] = {}
    with Connection(url, connect_timeout=5) as connection:
        for name in _queue_names(settings["OMS_BROKER_NAMESPACE"]):
            channel = connection.channel()
            try:
                depths[name] = channel.queue_declare(name, passive=True).message_count
            except Exception:
                continue  # a module without consumers has no queue
            finally:
                with suppress(Exception):
                    channel.close()
    for name, depth in depths.items():
        if name.endswith(".dead-letter"):
            errors.add("dead-lettered messages", name, depth)
    return depths


def _delete_namespace(url: str, namespace: str) -> None:
    queues, exchanges = declared_names(namespace)
    with Connection(url, connect_timeout=5) as connection:
        channel = connection.default_channel
        for queue in queues:
            channel.queue_delete(queue)
        for exchange in exchanges:
            channel.exchange_delete(exchange)
