"""OMS as an operator runs it: real `oms` processes on loopback ports, and a cuttable broker link.

`OmsProcesses` starts `oms serve --web-only` on free ports plus any number of `oms worker`
processes, waits until the web port's /readyz answers 200, and at teardown stops them all
with SIGTERM (as an operator or an orchestrator would), killing what does not stop in
time. Which processes had to be killed is kept in `unclean_stops`, so a test can assert
that OMS shuts down cleanly.

`TcpProxy` is a TCP relay in front of the broker or the database that can be stopped
(listener and every relayed connection closed, as in a network outage) and started
again on its port, or frozen (nothing moves, nothing closes) and thawed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
OMS = PROJECT_ROOT / ".venv" / "bin" / "oms"
LOOPBACK = "127.0.0.1"
PORT_NAMES = ("web", "mobile", "orders", "products", "users", "payments", "ops")
READY_TIMEOUT = 45.0
STOP_TIMEOUT = {"web": 25.0, "worker": 15.0}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_until(
    condition: Callable[[], object], timeout: float, interval: float = 0.2, what: str = ""
) -> object:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not within {timeout:.0f} s: {what or condition}")
        time.sleep(interval)


def run_oms(env: Mapping[str, str], *args: str, timeout: float = 60.0) -> str:
    """Run a one-shot `oms` command (db upgrade, create-admin); its output, or fail loudly."""
    done = subprocess.run(
        [str(OMS), *args],
        env=dict(env),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"oms {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def oms_environment(**settings: str) -> dict[str, str]:
    """The caller's environment without any OMS_* variable, plus `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    env.update(settings)
    return env


@dataclass
class OmsProcess:
    role: str  # "web" or "worker"
    popen: subprocess.Popen
    log_path: Path
    killed: bool = False  # by the test, on purpose

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class OmsProcesses:
    """The web tier and the workers of one OMS; use `oms_processes()` to get one."""

    env: dict[str, str]
    log_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    web: OmsProcess | None = None
    workers: list[OmsProcess] = field(default_factory=list)
    unclean_stops: list[str] = field(default_factory=list)
    stop_seconds: dict[str, float] = field(default_factory=dict)  # "web 123": time to exit
    _count: int = 0

    @property
    def web_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['web']}"

    def start_web(self) -> OmsProcess:
        self.ports = {name: free_port() for name in PORT_NAMES}
        for name, port in self.ports.items():
            self.env[f"OMS_PORT_{name.upper()}"] = str(port)
        self.web = self._spawn("web", "serve", "--web-only")
        self.wait_ready()
        return self.web

    def start_worker(self) -> OmsProcess:
        worker = self._spawn("worker", "worker")
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: OmsProcess) -> None:
        """SIGKILL, like a crash or the OOM killer: no handler, no cleanup, no goodbye."""
        worker.killed = True
        worker.popen.send_signal(signal.SIGKILL)
        worker.popen.wait(timeout=10)
        _kill_group(worker.pid)  # nothing of it may live on

    def readyz(self, timeout: float = 5.0) -> int:
        return requests.get(f"{self.web_url}/readyz", timeout=timeout).status_code

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until /readyz on the web port answers 200; fail at once if the web tier died."""
        assert self.web is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.web.running():
                raise AssertionError(
                    f"oms serve exited {self.web.popen.returncode}:\n{self.web.log_tail()}"
                )
            with suppress(requests.RequestException):
                if self.readyz(timeout=2) == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"/readyz not 200 within {timeout:.0f} s:\n{self.web.log_tail()}")

    def assert_all_alive(self) -> None:
        """No OMS process died on its own (those the test killed excepted)."""
        for proc in [self.web, *self.workers]:
            if proc is not None and not proc.killed and not proc.running():
                raise AssertionError(
                    f"oms {proc.role} {proc.pid} exited {proc.popen.returncode} on its own:\n"
                    f"{proc.log_tail()}"
                )

    def wait_consuming(self, worker: OmsProcess, timeout: float = 30.0) -> None:
        """Until the worker logs that it consumes its queues (RabbitTransport says so)."""

        def consuming() -> bool:
            if not worker.running():
                raise AssertionError(f"oms worker exited early:\n{worker.log_tail()}")
            return " consuming " in worker.log_path.read_text(errors="replace")

        wait_until(consuming, timeout, what=f"worker {worker.pid} consuming")

    def logs(self) -> str:
        """The tail of every process's log, for an assertion message."""
        parts = [self.web] if self.web else []
        parts += self.workers
        return "\n".join(
            f"--- {proc.role} {proc.pid} ({proc.log_path.name}) ---\n{proc.log_tail()}"
            for proc in parts
        )

    def stop_all(self) -> None:
        """SIGTERM to every live process, then wait; SIGKILL and note what did not stop."""
        live = [proc for proc in [*self.workers, self.web] if proc is not None and proc.running()]
        for proc in live:
            with suppress(ProcessLookupError):
                proc.popen.send_signal(signal.SIGTERM)
        started = time.monotonic()
        for proc in live:
            try:
                proc.popen.wait(
                    timeout=max(0.1, started + STOP_TIMEOUT[proc.role] - time.monotonic())
                )
            except subprocess.TimeoutExpired:
                self.unclean_stops.append(
                    f"{proc.role} {proc.pid} still running {STOP_TIMEOUT[proc.role]:.0f} s "
                    f"after SIGTERM"
                )
                _kill_group(proc.pid)
                proc.popen.wait(timeout=10)
                continue
            self.stop_seconds[f"{proc.role} {proc.pid}"] = time.monotonic() - started
            if not _group_gone(proc.pid, timeout=5.0):
                self.unclean_stops.append(
                    f"{proc.role} {proc.pid} exited after {time.monotonic() - started:.1f} s "
                    f"but left children running"
                )
            _kill_group(proc.pid)

    def _spawn(self, role: str, *args: str) -> OmsProcess:
        self._count += 1
        log_path = self.log_dir / f"{self._count:02d}-{role}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [str(OMS), *args],
                env=dict(self.env),
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: teardown reaches every child
            )
        return OmsProcess(role, popen, log_path)


@contextmanager
def oms_processes(
    env: Mapping[str, str], log_dir: Path, workers: int = 1
) -> Iterator[OmsProcesses]:
    """`oms serve --web-only` on free ports and `workers` x `oms worker`, ready to serve."""
    log_dir.mkdir(parents=True, exist_ok=True)
    oms = OmsProcesses(env=dict(env), log_dir=log_dir)
    try:
        for _ in range(workers):
            oms.start_worker()
        oms.start_web()
        yield oms
    finally:
        oms.stop_all()


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after the ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _kill_group(pgid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class TcpProxy:
    """A TCP relay from a free loopback port to a server (the broker, PostgreSQL).

    `stop()` is a network outage: the listener and every relayed connection close, so
    clients see their connections drop and new ones refused; `start()` listens on the
    same port again. `freeze()` is a partition: connections stay open and new ones are
    accepted, but no byte moves either way until `thaw()`.
    """

    def __init__(self, upstream_host: str = LOOPBACK, upstream_port: int = 5672) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._running = False
        self._flowing = threading.Event()
        self._flowing.set()

    def url(self, user: str = "guest", password: str = "guest", vhost: str = "/") -> str:
        return f"amqp://{user}:{password}@{LOOPBACK}:{self.port}/{vhost.lstrip('/')}"

    def route(self, url: str) -> str:
        """`url` (a database URL, say) pointed at this proxy instead of its server."""
        routed = make_url(url).set(host=LOOPBACK, port=self.port)
        return routed.render_as_string(hide_password=False)

    def start(self) -> None:
        listener = socket.create_server((LOOPBACK, self.port))  # SO_REUSEADDR on POSIX
        listener.settimeout(0.2)
        with self._lock:
            self._listener = listener
            self._running = True
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            self._running = False
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            _shut(listener)
        for sock in sockets:
            _shut(sock)

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                with self._lock:
                    if self._listener is not listener:
                        return
                continue
            except OSError:
                return
            self._relay(client)

    def _relay(self, client: socket.socket) -> None:
        client.settimeout(None)
        try:
            upstream = socket.create_connection(self.upstream, timeout=2)
        except OSError:
            _shut(client)
            return
        upstream.settimeout(None)
        with self._lock:
            if not self._running:  # stopped while this one was being accepted
                _shut(client)
                _shut(upstream)
                return
            self._sockets.update((client, upstream))
        for source, target in ((client, upstream), (upstream, client)):
            pump = threading.Thread(target=_pump, args=(source, target, self._flowing), daemon=True)
            pump.start()


def _pump(source: socket.socket, target: socket.socket, flowing: threading.Event) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            flowing.wait()
            target.sendall(data)
    _shut(source)
    _shut(target)


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()
