"""Where the CPU goes: process CPU time from /proc, before and after a phase.

On a machine of a few cores, OMS's own CPU per checkout (Python in the web and worker
processes, and the PostgreSQL backends serving them) bounds the rate as surely as the
database or the broker does; this makes that bound visible.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psycopg2

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds of each live process."""
    found: dict[int, float] = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # after the command name: state is first
        found[pid] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return found


def backend_pids(admin_url: str, database: str) -> list[int]:
    """The PostgreSQL server processes serving connections to `database`."""
    connection = psycopg2.connect(admin_url, connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
            return [int(row[0]) for row in cursor.fetchall()]
    finally:
        connection.close()


@dataclass
class CpuMeter:
    """CPU seconds per group of processes (by role) between `start` and `stop`."""

    before: dict[int, float]
    roles: dict[int, str]

    @classmethod
    def start(cls, roles: dict[int, str]) -> CpuMeter:
        return cls(cpu_seconds(roles), dict(roles))

    def stop(self, roles: dict[int, str]) -> dict[str, float]:
        """Seconds per role; a process that started meanwhile counts from its start."""
        self.roles.update(roles)
        after = cpu_seconds(self.roles)
        used: dict[str, float] = {}
        for pid, seconds in after.items():
            role = self.roles[pid]
            used[role] = used.get(role, 0.0) + seconds - self.before.get(pid, 0.0)
        return used
