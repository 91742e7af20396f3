"""The CloudEvents 1.0 envelope (JSON structured mode) every event travels in."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "data")


class MalformedEvent(ValueError):
    """A message that is not an event OMS can handle; it belongs in a dead-letter queue."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Event:
    type: str
    source: str
    data: dict[str, Any]
    correlationid: str | None = None
    dataschema: str | None = None
    # CloudEvents distributed tracing extension: the W3C trace context it was published in.
    traceparent: str | None = None
    id: str = field(default_factory=_new_id)
    time: str = field(default_factory=_now)
    specversion: str = SPEC_VERSION
    datacontenttype: str = CONTENT_TYPE

    def to_json(self) -> str:
        document = {name: getattr(self, name) for name in FIELDS}
        if document["traceparent"] is None:  # an extension is absent rather than null
            del document["traceparent"]
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        try:
            document = json.loads(raw)
        except (TypeError, ValueError) as error:
            raise MalformedEvent(f"not JSON: {error}") from error
        return cls.from_dict(document)

    @classmethod
    def from_dict(cls, document: Any) -> Event:
        if not isinstance(document, dict):
            raise MalformedEvent("an event is a JSON object")
        missing = [name for name in REQUIRED_ATTRIBUTES if name not in document]
        if missing:
            raise MalformedEvent(f"missing CloudEvents attributes: {', '.join(missing)}")
        if document["specversion"] != SPEC_VERSION:
            raise MalformedEvent(f"unsupported specversion {document['specversion']!r}")
        for name in ("id", "source", "type"):
            if not isinstance(document[name], str) or not document[name]:
                raise MalformedEvent(f"{name} must be a non-empty string")
        known = {name: document[name] for name in cls.__dataclass_fields__ if name in document}
        if not isinstance(known["data"], dict):
            raise MalformedEvent("event data is a JSON object")
        return cls(**known)


FIELDS = tuple(item.name for item in fields(Event))
