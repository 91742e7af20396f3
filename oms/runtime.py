"""What a running OMS process holds: its settings, its database and its bus."""

from __future__ import annotations

from dataclasses import dataclass

from oms.bus import Bus, MemoryTransport, Transport
from oms.config import Settings
from oms.db import Database


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    database: Database
    bus: Bus

    @classmethod
    def start(cls, settings: Settings, transport: Transport | None = None) -> Runtime:
        database = Database(settings.database_url)
        return cls(settings, database, Bus(database, transport or transport_for(settings)))

    def close(self) -> None:
        self.bus.transport.close()
        self.database.dispose()


def transport_for(settings: Settings) -> Transport:
    if not settings.uses_broker:
        return MemoryTransport(settings.max_delivery_attempts)
    from oms.bus.rabbitmq import RabbitTransport  # kombu is only loaded in broker mode

    return RabbitTransport(
        settings.broker_url, settings.max_delivery_attempts, namespace=settings.broker_namespace
    )
