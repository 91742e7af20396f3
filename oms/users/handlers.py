"""Events the users module consumes: none yet."""

from __future__ import annotations

from oms.bus import Handler
from oms.bus.catalogue import EventType
from oms.config import Settings


def event_handlers(settings: Settings) -> dict[EventType, Handler]:
    return {}
