"""What a log line is about: the request and the event being handled, per thread.

Context variables, so a request's id reaches every line written while handling it,
and the event's id, type and correlation id every line a handler writes. In the
in-memory bus a handler runs inside the request: its lines carry both.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}\Z")
# W3C Trace Context, version 00: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\Z")

_fields: ContextVar[dict[str, str] | None] = ContextVar("oms_log_fields", default=None)


def request_id_from(incoming: str | None) -> str:
    """Keep a valid incoming request id (1-128 of A-Z a-z 0-9 . _ -), else make one."""
    if incoming and _VALID_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def parse_traceparent(value: str | None) -> str | None:
    """The traceparent if it is a valid W3C one (lower-case, ids not all zero), else None."""
    match = _TRACEPARENT.match((value or "").strip())
    if match is None:
        return None
    version, trace_id, parent_id, _flags = match.groups()
    if version == "ff" or set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None
    return match.group(0)


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_traceparent(parent: str | None) -> str | None:
    """The same trace, one span further: what an event published under `parent` carries."""
    if parent is None:
        return None
    version, trace_id, _parent_id, flags = parent.split("-")
    return f"{version}-{trace_id}-{secrets.token_hex(8)}-{flags}"


def current_fields() -> dict[str, str]:
    """The context fields of the current request or event (empty outside of both)."""
    return _fields.get() or {}


def current_traceparent() -> str | None:
    return current_fields().get("traceparent")


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Add `fields` to every log line written inside the block (None values are left out)."""
    merged = {**current_fields(), **{key: value for key, value in fields.items() if value}}
    token = _fields.set(merged)
    try:
        yield
    finally:
        _fields.reset(token)


def event_fields(event_id: object, event_type: object, correlation_id: object) -> dict[str, str]:
    """The event's fields for a line logged about it outside a handler (`extra=`)."""
    fields = {"event_id": event_id, "event_type": event_type, "correlation_id": correlation_id}
    return {key: str(value) for key, value in fields.items() if value}
