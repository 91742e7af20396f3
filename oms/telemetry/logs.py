"""One log format for every OMS process: JSON lines or readable text, with context ids.

The format is `json` (one JSON object per line) or `text` (the default outside the
container: a readable line with the same fields appended as key=value), and with the
level it comes from the settings (`OMS_LOG_FORMAT`, `OMS_LOG_LEVEL`), passed in here.
gunicorn's own logs and its access log go through the same formatter (see
`gunicorn_logconfig`); the access line takes its fields from gunicorn's atoms, among
them what OMS put in the WSGI environ (request id, route template, port).
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any

from oms.telemetry.context import current_fields

ACCESS_LOGGER = "gunicorn.access"
# What OMS leaves in the WSGI environ for the access line.
ENVIRON_REQUEST_ID = "oms.request_id"
ENVIRON_ROUTE = "oms.route"
ENVIRON_PORT = "oms.port"
# LogRecord attributes that are not extra fields of a line.
_RECORD_ATTRIBUTES = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class OmsFormatter(logging.Formatter):
    """The fields of a line: time, level, logger, process, message, then the context ids
    (request_id, event_id, event_type, correlation_id, trace_id) and any `extra`."""

    def __init__(self, style_name: str = "text") -> None:
        super().__init__()
        self.as_json = style_name == "json"

    def format(self, record: logging.LogRecord) -> str:
        fields = self.fields_of(record)
        if self.as_json:
            return json.dumps(fields, default=str, separators=(",", ":"))
        head = (
            f"{fields.pop('time')} {fields.pop('level').upper()} [{fields.pop('pid')}] "
            f"{fields.pop('logger')}: {fields.pop('message')}"
        )
        error = fields.pop("error", None)
        tail = " ".join(f"{key}={value}" for key, value in fields.items())
        line = f"{head} {tail}" if tail else head
        return f"{line}\n{error}" if error else line

    def fields_of(self, record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
        }
        if record.name == ACCESS_LOGGER and isinstance(record.args, dict):
            fields["message"] = "request"
            fields.update(_access_fields(record.args))
        else:
            fields["message"] = record.getMessage()
            fields.update(current_fields())
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                fields[key] = value
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return fields


def _access_fields(atoms: dict[str, Any]) -> dict[str, Any]:
    """gunicorn's access atoms, as the fields of OMS's access line."""

    def atom(name: str) -> Any:
        value = atoms.get(name)
        return None if value in (None, "-") else value

    fields = {
        "request_id": atom(_environ_atom(ENVIRON_REQUEST_ID)) or atom("{x-request-id}o"),
        "method": atom("m"),
        "route": atom(_environ_atom(ENVIRON_ROUTE)),
        "path": atom("U"),
        "status": int(atoms["s"]) if str(atoms.get("s", "")).isdigit() else atom("s"),
        "duration_ms": round(int(atoms.get("D") or 0) / 1000, 3),
        "port": atom(_environ_atom(ENVIRON_PORT)),
        "remote": atom("h"),
        "bytes": atom("B"),
    }
    return {key: value for key, value in fields.items() if value is not None}


def _environ_atom(key: str) -> str:
    return "{" + key + "}e"


def handler_config() -> dict[str, Any]:
    return {
        "class": "logging.StreamHandler",
        "formatter": "oms",
        "stream": "ext://sys.stderr",
    }


def formatter_config(log_format: str) -> dict[str, Any]:
    return {"()": OmsFormatter, "style_name": log_format}


class CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of the record, not at set-up: a
    thread that outlives a swapped stream (a test's captured one) does not write to a
    closed file."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        return None


def skip_unused_record_fields() -> None:
    """Records need not carry what OMS's lines never show: the caller's file and line
    (a walk up the stack for every line), the thread, the multiprocessing name. The
    logging HOWTO's "Optimization" section names these switches."""
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logMultiprocessing = False


def configure_logging(log_format: str, log_level: str) -> None:
    """The root logger writes OMS's format to stderr (idempotent)."""
    skip_unused_record_fields()
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_oms", False)), None)
    if handler is None:
        handler = CurrentStderrHandler()
        handler._oms = True  # type: ignore[attr-defined]
        for old in list(root.handlers):
            root.removeHandler(old)
        root.addHandler(handler)
    handler.setFormatter(OmsFormatter(log_format))
    root.setLevel(log_level)


def gunicorn_logconfig(log_format: str, log_level: str) -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its error and access logs in OMS's format."""
    skip_unused_record_fields()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"oms": formatter_config(log_format)},
        "handlers": {"oms": handler_config()},
        "root": {"level": log_level, "handlers": ["oms"]},
        "loggers": {
            "gunicorn.error": {"level": log_level, "handlers": [], "propagate": True},
            ACCESS_LOGGER: {"level": "INFO", "handlers": [], "propagate": True},
        },
    }
