"""`oms bench`: the order of things, and cleaning up after every one of them.

1. Ceilings, with the same load generator and concurrency: PostgreSQL single-row
   commits, RabbitMQ publish-with-confirm and consume+ack (broker mode only needs them).
2. Per mode, OMS started with the `oms` command (embedded: SQLite in a temp dir and the
   in-memory bus; broker: a scratch PostgreSQL database and RabbitMQ under a namespace
   of its own): the HTTP ceiling (GET /healthz of that very gunicorn), in broker mode a
   calibration of what one checkout costs, then customers checking out for the
   duration, then order details at half the checkout rate (open loop), then the audit.
3. The table, the targets, and the JSON file.
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

from oms.bench import api, ceilings, load, report, stats
from oms.bench.calibrate import PUBLISHERS, SCHEMAS, calibrate
from oms.bench.cpu import CpuMeter, backend_pids
from oms.bench.options import Options
from oms.bench.server import OmsServer

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ADMIN_EMAIL = "bench-admin@example.com"
PRODUCTS = 10
AUDIT_GRACE = 30.0  # seconds for orders still in flight (after errors) to settle


def main(args: argparse.Namespace) -> int:
    options = Options.from_args(args)
    problem = _check_options(options)
    if problem:
        print(f"oms bench: {problem}", file=sys.stderr)
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
        print("\noms bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    results["elapsedSeconds"] = round(time.monotonic() - began, 1)
    results["targets"] = report.targets(results)
    report.write_json(options.output, results)
    print(report.table(results))
    print(f"\nresults written to {options.output}")
    met = all(target["met"] for target in results["targets"])
    return 3 if options.strict and not met else 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _check_options(options: Options) -> str:
    if options.duration <= 0 or options.concurrency < 1 or options.processes < 1:
        return "--duration, --concurrency and --processes must be positive"
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
    print(f"[oms bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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
        settings = _mode_settings(mode, options, workdir, cleanup)
        server = OmsServer.create(settings, workdir)
        _say(f"{mode}: oms db upgrade, oms create-admin, oms serve")
        server.run_cli("db", "upgrade")
        password = secrets.token_urlsafe(24)
        server.run_cli("create-admin", "--email", ADMIN_EMAIL, "--password", password)
        outcome: dict[str, Any] = {}
        cleanup.callback(_stop_server, server, outcome)  # before the database is dropped
        server.start(with_worker=mode == "broker")
        outcome.update(_drive(mode, options, server, settings, password, machine))
        outcome["memory"] = [entry.as_dict() for entry in server.memory.values()]
    return outcome


def _mode_settings(
    mode: str, options: Options, workdir: Path, cleanup: ExitStack
) -> dict[str, str]:
    settings = {"OMS_JWT_SECRET": secrets.token_urlsafe(48), "OMS_BCRYPT_ROUNDS": "4"}
    # The benchmark measures capacity: its few customers check out far more often than
    # the per-customer limit lets a real one, and it signs them all up from one address.
    settings |= {"OMS_CHECKOUT_RATE_LIMIT": "1000000000", "OMS_REGISTER_RATE_LIMIT": "1000000"}
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


def _stop_server(server: OmsServer, outcome: dict[str, Any]) -> None:
    """Stop OMS; a process that had to be killed counts as an error."""
    killed = server.stop()
    outcome["uncleanStops"] = killed
    outcome["memory"] = [entry.as_dict() for entry in server.memory.values()]
    errors = outcome.get("errors")
    if killed and errors is not None:
        errors["total"] += len(killed)
        errors["byKind"]["OMS process killed, not stopped by SIGTERM"] = len(killed)


def _drive(
    mode: str,
    options: Options,
    server: OmsServer,
    settings: dict[str, str],
    password: str,
    machine: dict[str, Any],
) -> dict[str, Any]:
    client = api.Api(server.web_port)
    try:
        shop = client.seed(client.login(ADMIN_EMAIL, password), options.concurrency, PRODUCTS)
        outcome: dict[str, Any] = {"gunicorn": _gunicorn_shape(server)}
        errors = stats.Errors()
        outcome["httpCeiling"] = _http_ceiling(options, server.web_port, errors)
        if mode == "broker":
            _say(f"broker: calibration, {options.calibration} sequential checkouts")
            cost = calibrate(
                client,
                shop,
                settings["OMS_DATABASE_URL"],
                options.broker_url,
                settings["OMS_BROKER_NAMESPACE"],
                options.calibration,
            )
            outcome["sagaCost"] = cost.as_dict()
            outcome["sagaCeiling"] = report.saga_ceiling(cost, machine)
        processes = partial(_processes, server, options, settings, mode)
        checkouts = _checkouts(options, processes, server.web_port, shop, errors)
        outcome["checkout"] = checkouts.stats.as_dict()
        outcome["cpu"] = checkouts.cpu
        outcome["orderDetails"] = _details(options, server.web_port, shop, checkouts, errors)
        outcome["audit"] = _audit(client, shop, checkouts.answered, errors)
        if mode == "broker":
            outcome["queues"] = _queue_depths(options.broker_url, settings, errors)
        if not server.alive():
            errors.add("oms serve exited during the run", server.log_tail(5))
        server.sample_memory()
        outcome["errors"] = errors.as_dict()
        return outcome
    finally:
        client.close()


def _processes(
    server: OmsServer, options: Options, settings: dict[str, str], mode: str
) -> dict[int, str]:
    """OMS's processes and, in broker mode, the PostgreSQL backends serving it: pid -> role."""
    roles = server.tree()
    if mode == "broker":
        database = urlsplit(settings["OMS_DATABASE_URL"]).path.lstrip("/")
        pids = backend_pids(options.database_admin_url, database)
        roles.update(dict.fromkeys(pids, "postgres backend"))
    return roles


def _gunicorn_shape(server: OmsServer) -> dict[str, Any]:
    roles = list(server.tree().values())
    return {
        "workers": roles.count("gunicorn worker"),
        "threads": int(server.env.get("OMS_WEB_THREADS", "8")),
        "busWorkers": roles.count("oms worker"),
    }


def _http_ceiling(options: Options, port: int, errors: stats.Errors) -> dict[str, Any]:
    seconds = options.ceiling_duration
    _say(f"HTTP ceiling: GET /healthz, {seconds:.0f} s")
    plan = load.Plan(
        client="oms.bench.clients:HealthzClient",
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
        client="oms.bench.clients:CheckoutClient",
        common={"port": port, "products": shop.products},
        own=[{"token": c.token, "seed": i} for i, c in enumerate(shop.customers)],
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
        client="oms.bench.clients:DetailsClient",
        common={"port": port},
        own=[
            {"token": customer.token, "orders": orders}
            for customer, orders in zip(shop.customers, checkouts.orders_by_worker, strict=True)
        ],
        duration=options.duration,
        processes=options.processes,
        rate=rate,
    )
    result = load.run(plan)
    errors.merge(stats.phase_errors(result, (200,), "order details"))
    return stats.open_loop_stats(result, rate)


def _audit(
    client: api.Api, shop: api.Shop, answered: set[str], errors: stats.Errors
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
    with Connection(url, connect_timeout=5) as connection:
        channel = connection.default_channel
        for queue in _queue_names(namespace):
            channel.queue_delete(queue)
        for exchange in [*PUBLISHERS, "oms.dead-letter"]:
            channel.exchange_delete(namespace + exchange)
