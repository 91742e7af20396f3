"""The outbox and the inbox each module keeps in its own schema.

Outbox: an event is written in the same transaction as the change that caused it,
and deleted once the transport has taken it. Inbox: the id of each event a module
has handled, written in the handler's transaction, so a redelivery has no effect.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, MetaData, String, Table, Text

from oms.db import UtcDateTime


@dataclass(frozen=True)
class MessageTables:
    module: str
    outbox: Table
    inbox: Table


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
    return MessageTables(module=module, outbox=outbox, inbox=inbox)
