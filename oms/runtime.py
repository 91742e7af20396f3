"""What a running OMS process holds: its settings, its database and its bus."""

from __future__ import annotations

from dataclasses import dataclass

from oms.bus import Bus, MemoryTransport, RetryPolicy, Transport
from oms.config import Settings
from oms.db import Database


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    database: Database
    bus: Bus

    @classmethod
    def start(cls, settings: Settings, transport: Transport | None = None) -> Runtime:
        database = Database(
            settings.database_url,
            connect_timeout=settings.db_connect_timeout_seconds,
            statement_timeout=settings.db_statement_timeout_seconds,
        )
        bus = Bus(database, transport or transport_for(settings), retry_policy(settings))
        return cls(settings, database, bus)

    def close(self) -> None:
        self.bus.close()
        self.database.dispose()


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        initial_seconds=settings.retry_initial_seconds,
        max_delay_seconds=settings.retry_max_delay_seconds,
        budget_seconds=settings.retry_budget_seconds,
        quick_attempts=settings.max_delivery_attempts,
    )


def transport_for(settings: Settings) -> Transport:
    if not settings.uses_broker:
        return MemoryTransport()
    from oms.bus.rabbitmq import RabbitTransport  # kombu is only loaded in broker mode

    return RabbitTransport(
        settings.broker_url,
        namespace=settings.broker_namespace,
        delivery_limit=settings.delivery_limit,
    )
