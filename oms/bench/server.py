"""OMS as an operator runs it: the `oms` command, real processes, loopback ports.

`OmsServer` runs `oms db upgrade` and `oms create-admin`, starts `oms serve` in its own
session (so every child can be reached at the end), waits until /readyz answers 200
(and, in broker mode, until the bus worker consumes), watches the peak memory of every
process of the tree, and stops it all: SIGTERM first, SIGKILL for what stays.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
PORT_NAMES = ("web", "mobile", "orders", "products", "users", "payments", "ops")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 35.0  # `oms serve` gives its children 30 s
CLI_TIMEOUT = 120.0
MEMORY_INTERVAL = 0.5


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that nothing listens on right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def oms_command() -> list[str]:
    """The `oms` console script of this installation."""
    script = Path(sys.executable).with_name("oms")
    if script.exists():
        return [str(script)]
    found = shutil.which("oms")
    return [found] if found else [sys.executable, "-m", "oms.cli"]


def oms_environment(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without any OMS_* variable, plus `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    env.update(settings)
    return env


@dataclass
class ProcessMemory:
    pid: int
    role: str
    peak_kib: int = 0  # VmHWM
    rss_kib: int = 0  # VmRSS at the last look

    def as_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "role": self.role, "peakMiB": round(self.peak_kib / 1024, 1)}


@dataclass
class OmsServer:
    """One OMS: its environment, working directory and, once started, its process tree."""

    env: dict[str, str]
    workdir: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    memory: dict[int, ProcessMemory] = field(default_factory=dict)
    _watching: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None

    @classmethod
    def create(cls, settings: dict[str, str], workdir: Path) -> OmsServer:
        ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
        env = {f"OMS_PORT_{name.upper()}": str(port) for name, port in ports.items()}
        env.update(settings, OMS_HOST=HOST)
        return cls(oms_environment(env), workdir, ports)

    @property
    def web_port(self) -> int:
        return self.ports["web"]

    @property
    def log_path(self) -> Path:
        return self.workdir / "oms-serve.log"

    def run_cli(self, *args: str) -> str:
        """A one-shot `oms` command; its output, or an error with what it said."""
        done = subprocess.run(
            [*oms_command(), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"oms {args[0]} exited {done.returncode}: {done.stderr[-2000:]}")
        return done.stdout

    def start(self, with_worker: bool) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*oms_command(), "serve"],
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(with_worker)
        self._watcher = threading.Thread(target=self._watch_memory, daemon=True)
        self._watcher.start()

    def _wait_ready(self, with_worker: bool) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            self._fail_if_exited()
            if self._ready() and (not with_worker or " consuming " in self.log_tail(200)):
                return
            time.sleep(0.2)
        raise RuntimeError(f"OMS not ready within {READY_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        url = f"http://{HOST}:{self.web_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _fail_if_exited(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"oms serve exited {self.process.returncode}:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- processes and memory ----------------------------------------------------

    def tree(self) -> dict[int, str]:
        """Every live process started for this OMS: pid -> role."""
        if self.process is None:
            return {}
        root = self.process.pid
        roles = {root: "oms serve"}
        pending = [root]
        while pending:
            parent = pending.pop()
            for child in _children(parent):
                roles[child] = _role(child, parent, root)
                pending.append(child)
        return roles

    def sample_memory(self) -> None:
        for pid, role in self.tree().items():
            status = _proc_status(pid)
            if "VmHWM" not in status:
                continue  # gone, or a zombie
            entry = self.memory.setdefault(pid, ProcessMemory(pid, role))
            entry.peak_kib = max(entry.peak_kib, _kib(status["VmHWM"]))
            entry.rss_kib = _kib(status.get("VmRSS", "0 kB"))

    def _watch_memory(self) -> None:
        while not self._watching.wait(MEMORY_INTERVAL):
            with suppress(OSError):
                self.sample_memory()

    def stop(self) -> list[str]:
        """Stop every process; what had to be killed (empty if all stopped on SIGTERM)."""
        self._watching.set()
        if self.process is None:
            return []
        with suppress(OSError):
            self.sample_memory()
        pids = set(self.tree())
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        killed = []
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            killed.append(f"oms serve {self.process.pid} (after {STOP_TIMEOUT:.0f} s)")
        killed += _kill_leftovers(self.process.pid, pids)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        return killed


def _kill_leftovers(group: int, pids: set[int]) -> list[str]:
    """SIGKILL the session we started and any process of the tree that outlived it."""
    killed = [f"pid {pid}" for pid in sorted(pids) if _exists(pid)]
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return killed


def _exists(pid: int) -> bool:
    state = _proc_status(pid).get("State", "")
    return bool(state) and not state.startswith("Z")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _role(pid: int, parent: int, root: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "gone"
    if "gunicorn" in command:
        return "gunicorn master" if parent == root else "gunicorn worker"
    if "worker" in command:
        return "oms worker"
    return "other"


def _proc_status(pid: int) -> dict[str, str]:
    """The fields of /proc/<pid>/status (empty if the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    fields = (line.partition(":") for line in text.splitlines())
    return {key: value.strip() for key, _, value in fields}


def _kib(value: str) -> int:
    """A size from /proc, such as "123456 kB", in KiB."""
    return int(value.split()[0])
