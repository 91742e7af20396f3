"""The directory where every OMS process writes its metrics (prometheus_client's multi-process
mode). Kept apart from `metrics` because it must run before prometheus_client is imported."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Set by `oms serve` for its children: the directory is shared and already clean.
SHARED_METRICS_ENV = "OMS_METRICS_DIR_SHARED"


def prepare_multiprocess_dir(environ: dict[str, str] | None = None) -> Path:
    """Point PROMETHEUS_MULTIPROC_DIR (kept if set, else a new temporary directory) at an
    empty directory, for this process and the children it starts. Call before
    prometheus_client is imported anywhere in the process that records."""
    environ = os.environ if environ is None else environ
    configured = environ.get(MULTIPROC_ENV)
    path = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="oms-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):  # values of an earlier run would be added to ours
        stale.unlink()
    environ[MULTIPROC_ENV] = str(path)
    return path


def remove_multiprocess_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def process_exited(pid: int) -> None:
    """Forget a dead process's live gauges (gunicorn's child_exit hook calls this)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid)
