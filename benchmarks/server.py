"""What the benchmark watches of the OMS processes the tests' harness starts.

OMS itself is started, waited for and stopped by `tests.integration.processes` (the
same `oms serve --web-only` and `oms worker` processes, each in its own process group,
as the integration tests run). Here: which process is which (for CPU per role), and
every process's peak memory, sampled from /proc while the benchmark runs.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.processes import OmsProcesses, group_members

MEMORY_INTERVAL = 0.5


def roles(oms: OmsProcesses) -> dict[int, str]:
    """Every live process of this OMS: pid -> role (oms serve, gunicorn master, ...)."""
    found: dict[int, str] = {}
    for root in [oms.web, *oms.workers]:
        if root is not None:
            found |= {pid: _role(pid, root.pid) for pid in group_members(root.pid)}
    return found


def _role(pid: int, root: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "gone"
    if "gunicorn" in command:
        return "gunicorn master" if _parent(pid) == root else "gunicorn worker"
    if " worker" in command:
        return "oms worker"
    return "oms serve" if pid == root else "other"


def _parent(pid: int) -> int:
    return int(_proc_status(pid).get("PPid", "0"))


@dataclass
class ProcessMemory:
    pid: int
    role: str
    peak_kib: int = 0  # VmHWM

    def as_dict(self) -> dict[str, object]:
        return {"pid": self.pid, "role": self.role, "peakMiB": round(self.peak_kib / 1024, 1)}


@dataclass
class MemoryWatch:
    """The peak memory of every process of `oms`, sampled until `stop`."""

    oms: OmsProcesses
    peaks: dict[int, ProcessMemory] = field(default_factory=dict)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def start(self) -> MemoryWatch:
        threading.Thread(target=self._watch, daemon=True).start()
        return self

    def sample(self) -> None:
        for pid, role in roles(self.oms).items():
            status = _proc_status(pid)
            if "VmHWM" not in status:
                continue  # gone, or a zombie
            entry = self.peaks.setdefault(pid, ProcessMemory(pid, role))
            entry.peak_kib = max(entry.peak_kib, _kib(status["VmHWM"]))

    def stop(self) -> list[dict[str, object]]:
        """A last look, then the peaks."""
        self._stopped.set()
        with suppress(OSError):
            self.sample()
        return [entry.as_dict() for entry in self.peaks.values()]

    def _watch(self) -> None:
        while not self._stopped.wait(MEMORY_INTERVAL):
            with suppress(OSError):
                self.sample()


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
