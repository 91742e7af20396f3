"""Events the webhooks module consumes: every event in the catalogue."""

from __future__ import annotations

from oms.bus import Event, Handler, UnitOfWork
from oms.bus.catalogue import CATALOGUE, EventType
from oms.config import Settings
from oms.webhooks import service


def event_handlers(settings: Settings) -> dict[EventType, Handler]:
    """All of them: on RabbitMQ the `webhooks` queue is bound to every event type."""
    return {event_type: record_deliveries for event_type in CATALOGUE.values()}


def record_deliveries(event: Event, uow: UnitOfWork) -> None:
    service.record_deliveries(uow, event)
