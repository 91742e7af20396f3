"""The outbox and the inbox each module keeps in its own schema.

Outbox: an event is written in the same transaction as the change that caused it,
and deleted once the transport has taken it. Inbox: the id of each event a module
has handled, written in the handler's transaction, so a redelivery has no effect.
Dead letters: what the module could not handle (or, for its own events, what no
queue took), kept until an operator replays or drops it; in the embedded mode also
deliveries waiting for their next try (`retry_at`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from oms.db import UtcDateTime


@dataclass(frozen=True)
class MessageTables:
    module: str
    outbox: Table
    inbox: Table
    dead_letters: Table


def message_tables(metadata: MetaData) -> MessageTables:
    """Declare the outbox and inbox of the module whose schema `metadata` carries."""
    module = metadata.schema
    if module is None:
        raise ValueError("a module's metadata names its schema")
    outbox = Table(
        "outbox",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("envelope", Text, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False, index=True),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("event_id", String(36), primary_key=True),
        Column("type", String(100), nullable=False),
        Column("handled_at", UtcDateTime(), nullable=False),
        # Which order (or entity) the event was about: the operator console's timeline.
        Column("correlation_id", String(100), nullable=True, index=True),
    )
    dead_letters = Table(
        "dead_letters",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("kind", String(20), nullable=False),
        Column("event_id", String(100)),
        Column("event_type", String(100)),
        Column("correlation_id", String(100)),
        Column("body", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("first_error", Text, nullable=False),
        Column("last_error", Text, nullable=False),
        Column("first_failed_at", UtcDateTime(), nullable=False),
        Column("last_failed_at", UtcDateTime(), nullable=False),
        Column("retry_at", UtcDateTime(), index=True),
    )
    return MessageTables(module=module, outbox=outbox, inbox=inbox, dead_letters=dead_letters)
