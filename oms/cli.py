"""The `oms` command: serve, worker, db upgrade, create-admin, bench."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from oms.config import ConfigurationError, Settings, configure_logging
from oms.telemetry.multiproc import (
    MULTIPROC_ENV,
    SHARED_METRICS_ENV,
    prepare_multiprocess_dir,
    remove_multiprocess_dir,
)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigurationError as error:
        print(f"oms: {error}", file=sys.stderr)
        return 2
    return args.command(settings, args)


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Every port under gunicorn; in broker mode the bus worker beside it."""
    from oms.migrate import project_root, upgrade

    if args.migrate:  # under a database lock: replicas starting together never race
        upgrade(settings.database_url)
    root = project_root()
    commands = [
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(root / "config" / "gunicorn.conf.py"),
            "--pythonpath",
            str(root),
            "wsgi:create_app()",
        ]
    ]
    if settings.uses_broker and not args.web_only:
        commands.append([sys.executable, "-m", "oms.cli", "worker"])
    # Every child writes its metrics into one directory, added up on the ops port.
    with _metrics_dir(shared=False):
        os.environ[SHARED_METRICS_ENV] = "1"  # the worker child must not wipe gunicorn's files
        return _supervise(commands)


def worker(settings: Settings, args: argparse.Namespace) -> int:
    """Bus consumers and the outbox relay, without any port: scale out by running more."""
    if not settings.uses_broker:
        print("oms: the worker needs a broker (OMS_BROKER_URL=amqp://...)", file=sys.stderr)
        return 2
    with _metrics_dir(shared=bool(os.environ.get(SHARED_METRICS_ENV))):
        return _consume(settings, args)


def _consume(settings: Settings, args: argparse.Namespace) -> int:
    from oms.app import start_relay_thread, start_runtime
    from oms.telemetry import metrics
    from oms.telemetry.tracing import configure_tracing

    configure_tracing("oms-worker")
    runtime = start_runtime(settings)
    if args.metrics_port:
        _serve_worker_metrics(args.metrics_port)
    stop = threading.Event()
    _stop_on_signals(stop)
    # Handlers mostly wait on the database and the broker: several consumers per process
    # (each its own connection, competing like separate workers) keep a core busy.
    threads = [start_relay_thread(runtime, stop)]
    threads += [
        threading.Thread(target=runtime.bus.transport.consume, args=(stop,), name=f"consumer-{n}")
        for n in range(settings.worker_threads)
    ]
    for thread in threads[1:]:
        thread.start()
    try:
        while not stop.wait(1.0):
            alive = sum(thread.is_alive() for thread in threads[1:])
            metrics.report_worker_alive(alive)
            if not alive:
                return 1  # every consumer died: let the supervisor restart us
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        runtime.close()
        metrics.report_worker_alive(0)
    return 0


@contextmanager
def _metrics_dir(shared: bool) -> Iterator[None]:
    """A clean multi-process metrics directory for this process and its children (set
    before prometheus_client is imported); a temporary one is removed at the end. A
    worker started by `oms serve` (`shared`) uses serve's as it is."""
    if shared:
        yield
        return
    temporary = MULTIPROC_ENV not in os.environ  # a directory the operator chose stays
    path = prepare_multiprocess_dir()
    try:
        yield
    finally:
        if temporary:
            remove_multiprocess_dir(path)


def _serve_worker_metrics(port: int) -> None:
    """A worker in a container of its own shows its metrics on `port` (GET /metrics)."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, addr=os.environ.get("OMS_HOST", "127.0.0.1"), registry=registry)


def db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from oms.migrate import upgrade

    upgrade(settings.database_url, args.revision)
    return 0


def create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from oms import users
    from oms.app import start_runtime
    from oms.errors import DomainError

    runtime = start_runtime(settings)
    try:
        admin = users.create_admin(runtime, args.email, args.password)
    except DomainError as error:
        print(f"oms: {error.message}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    print(f"admin {admin.email} created with id {admin.user_id}")
    return 0


def bench(settings: Settings, args: argparse.Namespace) -> int:
    """Benchmark: starts its own OMS processes (embedded and broker) and drives them over HTTP."""
    from oms.bench.run import main as run_bench

    return run_bench(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oms", description="OMS order management system")
    commands = parser.add_subparsers(required=True, metavar="command")
    serve_parser = commands.add_parser("serve", help="serve every port")
    serve_parser.add_argument(
        "--web-only",
        action="store_true",
        help="in broker mode, leave the bus worker to `oms worker`",
    )
    serve_parser.add_argument(
        "--migrate",
        action="store_true",
        help="apply migrations first (under a database lock, so replicas never race)",
    )
    serve_parser.set_defaults(command=serve)
    worker_parser = commands.add_parser("worker", help="run bus consumers and relay")
    worker_parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("OMS_WORKER_METRICS_PORT", "0")),
        help="serve this worker's Prometheus metrics on this port (default: off; "
        "beside `oms serve` they are on its ops port)",
    )
    worker_parser.set_defaults(command=worker)
    db = commands.add_parser("db", help="database schema").add_subparsers(required=True)
    upgrade = db.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(command=db_upgrade)
    admin = commands.add_parser("create-admin", help="create an administrator")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.set_defaults(command=create_admin)
    from oms.bench.options import add_arguments as bench_arguments  # argparse only

    bench_parser = commands.add_parser("bench", help="benchmark OMS against the machine's ceilings")
    bench_arguments(bench_parser)
    bench_parser.set_defaults(command=bench)
    return parser


def _supervise(commands: list[list[str]]) -> int:
    """Run the children until one exits or we are told to stop; then stop them all."""
    children = [subprocess.Popen(command) for command in commands]
    stop = threading.Event()
    _stop_on_signals(stop)
    while not stop.is_set() and all(child.poll() is None for child in children):
        stop.wait(0.5)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return max((child.returncode or 0) for child in children) if not stop.is_set() else 0


def _stop_on_signals(stop: threading.Event) -> None:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


if __name__ == "__main__":
    sys.exit(main())
