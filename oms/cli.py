"""The `oms` command: serve, worker, db upgrade, create-admin, dead-letters, audit."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

from oms.config import ConfigurationError, Settings, configure_logging
from oms.telemetry.multiproc import (
    MULTIPROC_ENV,
    SHARED_METRICS_ENV,
    prepare_multiprocess_dir,
    remove_multiprocess_dir,
)

if TYPE_CHECKING:
    from oms.bus import DeadLetter
    from oms.runtime import Runtime


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigurationError as error:
        print(f"oms: {error}", file=sys.stderr)
        return 2
    configure_logging(settings)
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
    from oms.app import start_runtime, start_upkeep_thread, start_webhook_thread
    from oms.telemetry.tracing import configure_tracing

    configure_tracing("oms-worker")
    runtime = start_runtime(settings)
    metrics_port = settings.worker_metrics_port if args.metrics_port is None else args.metrics_port
    if metrics_port:
        _serve_worker_metrics(metrics_port, settings.host)
    stop = threading.Event()
    _stop_on_signals(stop)
    threads = [start_upkeep_thread(runtime, stop), start_webhook_thread(runtime, stop)]
    try:
        # Handlers mostly wait on the database and the broker: several consumers per
        # process keep a core busy. If every one died, the supervisor restarts us.
        return 0 if runtime.bus.run_worker(stop, threads=settings.worker_threads) else 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        runtime.bus.relay_before_stopping()
        runtime.close()


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


def _serve_worker_metrics(port: int, host: str) -> None:
    """A worker in a container of its own shows its metrics on `port` (GET /metrics)."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, addr=host, registry=registry)


def db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from oms.migrate import upgrade

    upgrade(settings.database_url, args.revision)
    return 0


def create_admin(settings: Settings, args: argparse.Namespace) -> int:
    """Bad input (an invalid email, a password the policy refuses) is one line and exit 2."""
    from oms import users
    from oms.app import start_runtime
    from oms.errors import DomainError

    problem = _admin_input_problem(args.email, args.password)
    if problem:
        print(f"oms: {problem}", file=sys.stderr)
        return 2
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


def dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    """See, replay or drop what the bus could not deliver, in either mode."""
    from oms.app import start_runtime

    runtime = start_runtime(settings)
    try:
        if settings.uses_broker:  # collect what waits in the broker's dead-letter queues
            runtime.bus.transport.sweep()
        return DEAD_LETTER_ACTIONS[args.action](runtime, args)
    finally:
        runtime.close()


def _list_dead_letters(runtime: Runtime, args: argparse.Namespace) -> int:
    entries = runtime.bus.dead_letters.entries(include_waiting=args.waiting)
    if args.json:
        print(json.dumps([entry.as_json() for entry in entries], indent=2))
        return 0
    if not entries:
        print("no dead letters")
    for entry in entries:
        waiting = f", next try {entry.retry_at:%Y-%m-%d %H:%M:%S}" if entry.retry_at else ""
        print(
            f"{entry.id}  {entry.module}  {entry.kind}  {entry.event_type or '?'}"
            f"  order {entry.correlation_id or '-'}  {entry.attempts} attempt(s){waiting}\n"
            f"    first failed {entry.first_failed_at:%Y-%m-%d %H:%M:%S}: {entry.first_error}\n"
            f"    last failed  {entry.last_failed_at:%Y-%m-%d %H:%M:%S}: {entry.last_error}"
        )
    return 0


def _chosen_dead_letters(runtime: Runtime, args: argparse.Namespace) -> list[DeadLetter] | None:
    store = runtime.bus.dead_letters
    if args.all:
        return store.entries(include_waiting=True)
    chosen = store.find(args.ids)
    missing = sorted(set(args.ids) - {entry.id for entry in chosen})
    if missing:
        print(f"oms: no dead letter with id {', '.join(missing)}", file=sys.stderr)
        return None
    return chosen


def _replay_dead_letters(runtime: Runtime, args: argparse.Namespace) -> int:
    chosen = _chosen_dead_letters(runtime, args)
    if chosen is None:
        return 2
    failed = runtime.bus.replay(chosen)
    for entry, error in failed:
        print(f"oms: {entry.id} failed again: {error}", file=sys.stderr)
    print(f"replayed {len(chosen) - len(failed)} of {len(chosen)} dead letter(s)")
    return 1 if failed else 0


def _drop_dead_letters(runtime: Runtime, args: argparse.Namespace) -> int:
    chosen = _chosen_dead_letters(runtime, args)
    if chosen is None:
        return 2
    print(f"dropped {runtime.bus.dead_letters.forget(chosen)} dead letter(s)")
    return 0


DEAD_LETTER_ACTIONS = {
    "list": _list_dead_letters,
    "replay": _replay_dead_letters,
    "drop": _drop_dead_letters,
}


def audit(settings: Settings, args: argparse.Namespace) -> int:
    """Check the invariants across modules; exit 1 with a report when one breaks."""
    from oms.app import start_runtime
    from oms.audit import audit as run_audit

    runtime = start_runtime(settings)
    try:
        if settings.uses_broker:
            runtime.bus.transport.sweep()
        report = run_audit(runtime, settle_seconds=args.settle_seconds)
    finally:
        runtime.close()
    print(json.dumps(report.as_json(), indent=2) if args.json else report.as_text())
    return 0 if report.ok else 1


def _admin_input_problem(email: str, password: str) -> str | None:
    from marshmallow import ValidationError

    from oms import users

    try:
        users.Credentials().load({"email": email, "password": password or "-"})
    except ValidationError as error:
        messages = error.normalized_messages()
        if "email" in messages:
            return f"--email {email!r}: not a valid email address"
    problems = users.password_problems(password, email)
    return f"--password: {' '.join(problems)}" if problems else None


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
        help="serve this worker's Prometheus metrics on this port (default: "
        "OMS_WORKER_METRICS_PORT, else off; beside `oms serve` they are on its ops port)",
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
    _dead_letter_parsers(commands)
    audit_parser = commands.add_parser("audit", help="check the invariants across modules")
    audit_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    audit_parser.add_argument(
        "--settle-seconds",
        type=float,
        default=10.0,
        help="leave cancellations younger than this to finish compensating (default 10)",
    )
    audit_parser.set_defaults(command=audit)
    return parser


def _dead_letter_parsers(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dead-letters", help="see, replay or drop what the bus could not deliver"
    )
    parser.set_defaults(command=dead_letters)
    actions = parser.add_subparsers(required=True, dest="action", metavar="action")
    listing = actions.add_parser("list", help="list dead letters, oldest first")
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    listing.add_argument(
        "--waiting", action="store_true", help="also deliveries waiting for their next try"
    )
    for action, what in (("replay", "hand them to their consumer again"), ("drop", "forget them")):
        chosen = actions.add_parser(action, help=what)
        which = chosen.add_mutually_exclusive_group(required=True)
        which.add_argument("ids", nargs="*", default=[], metavar="ID", help="dead letter ids")
        which.add_argument("--all", action="store_true", help="every dead letter")


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
