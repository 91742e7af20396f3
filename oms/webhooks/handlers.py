"""Events the webhooks module consumes: every event in the catalogue."""

from __future__ import annotations

from oms.bus import Event, Selective, UnitOfWork
from oms.bus.catalogue import CATALOGUE, EventType
from oms.config import Settings
from oms.webhooks import service


def event_handlers(settings: Settings) -> dict[EventType, Selective]:
    """All of them. On RabbitMQ the `webhooks` queue is bound only to the types some
    endpoint subscribes to; in memory every event comes, and those no endpoint
    subscribes to are let go without a transaction."""
    recording = Selective(
        wants=service.has_subscriber,
        handler=record_deliveries,
        types=service.subscribed_event_types,
    )
    return {event_type: recording for event_type in CATALOGUE.values()}


def record_deliveries(event: Event, uow: UnitOfWork) -> None:
    service.record_deliveries(uow, event)
