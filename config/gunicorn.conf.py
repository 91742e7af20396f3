"""Gunicorn settings for `oms serve`: one process group bound to all six ports."""

import multiprocessing

from oms.config import Settings
from oms.telemetry.logs import gunicorn_logconfig
from oms.telemetry.multiproc import process_exited

_settings = Settings.from_env()

bind = [f"{_settings.host}:{port}" for port in _settings.ports.values()]
# gthread, except that each request is read in full on the event loop before a thread
# takes it: slow or idle clients cost a socket, never a thread (see oms/http/serving.py).
worker_class = "oms.http.serving.BufferingThreadWorker"
worker_connections = _settings.web_connections
# OMS_WEB_WORKERS unset (or 0) is automatic: a process per core, in both modes. Embedded,
# each process runs the sagas of its own requests; SQLite's one writer at a time is
# handed from process to process by a file lock (oms.db.Database.write_turn), so a
# process waiting for it wakes at once. Measured with `make bench` on 2 cores: 117
# checkouts/s with two processes against 88/s with one, p99 alike.
workers = _settings.web_workers or multiprocessing.cpu_count()
threads = _settings.request_threads  # OMS_WEB_THREADS, or by the bus (see oms.config)
timeout = 60
graceful_timeout = 20
keepalive = 5
# One format for gunicorn's own lines and its access line (method, route, status,
# duration, request id), OMS's too: JSON lines with OMS_LOG_FORMAT=json.
accesslog = None  # the access line goes through logconfig_dict's handler instead
errorlog = "-"
loglevel = _settings.log_level.lower()
logconfig_dict = gunicorn_logconfig(_settings.log_format, _settings.log_level)
# gunicorn 27 keeps a control socket at one fixed per-user path: two OMS on a machine
# (tests, the benchmark) would fight over it.
control_socket_disable = True


def child_exit(server, worker):
    process_exited(worker.pid)  # its live gauges leave the ops port's sum
