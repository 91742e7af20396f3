"""The `oms` command: serve, worker, db upgrade, create-admin, bench."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from oms.config import ConfigurationError, Settings, configure_logging

GUNICORN_CONFIG = Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"
PROJECT_ROOT = GUNICORN_CONFIG.parent.parent


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
    commands = [
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(GUNICORN_CONFIG),
            "--pythonpath",
            str(PROJECT_ROOT),
            "wsgi:create_app()",
        ]
    ]
    if settings.uses_broker and not args.web_only:
        commands.append([sys.executable, "-m", "oms.cli", "worker"])
    return _supervise(commands)


def worker(settings: Settings, args: argparse.Namespace) -> int:
    """Bus consumers and the outbox relay, without any port: scale out by running more."""
    if not settings.uses_broker:
        print("oms: the worker needs a broker (OMS_BROKER_URL=amqp://...)", file=sys.stderr)
        return 2
    from oms.app import start_relay_thread, start_runtime

    runtime = start_runtime(settings)
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
            if not any(thread.is_alive() for thread in threads[1:]):
                return 1  # every consumer died: let the supervisor restart us
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        runtime.close()
    return 0


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
    serve_parser.set_defaults(command=serve)
    commands.add_parser("worker", help="run bus consumers and relay").set_defaults(command=worker)
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
