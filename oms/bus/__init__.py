"""The event bus: the only way state crosses from one module to another.

It knows events, the outbox and inbox, and transports; it never knows a module.
"""

from oms.bus import catalogue as events
from oms.bus.bus import Bus, Handler, Selective
from oms.bus.dead_letters import DeadLetter, DeadLetterStore
from oms.bus.envelope import Event, MalformedEvent
from oms.bus.faults import RetryPolicy, is_transient
from oms.bus.store import MessageTables, message_tables
from oms.bus.transport import MemoryTransport, Transport
from oms.bus.unit_of_work import UnitOfWork

__all__ = [
    "Bus",
    "DeadLetter",
    "DeadLetterStore",
    "Event",
    "Handler",
    "MalformedEvent",
    "MemoryTransport",
    "MessageTables",
    "RetryPolicy",
    "Selective",
    "Transport",
    "UnitOfWork",
    "events",
    "is_transient",
    "message_tables",
]
