"""The event catalogue as an AsyncAPI 3.0 document: every event, who sends and receives it.

Generated from `oms.bus.catalogue` (names, publishers, versions, payload schemas) and
the bus's subscriptions (which module consumes which type), so it cannot drift from
the code. Payload schemas come from the catalogue's marshmallow schemas through
apispec, as JSON Schema.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from oms.bus.catalogue import CATALOGUE, EventType
from oms.bus.envelope import CONTENT_TYPE, SPEC_VERSION

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"


def asyncapi_document(
    subscriptions: dict[str, set[str]], namespace: str = "", version: str = "1.0.0"
) -> dict[str, Any]:
    consumers = {
        name: sorted(module for module, types in subscriptions.items() if name in types)
        for name in CATALOGUE
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type in CATALOGUE.values():
        key = event_type.name
        message_ref = {"$ref": f"#/channels/{key}/messages/{key}"}
        messages[key] = _message(event_type, consumers[key], namespace)
        channels[key] = {
            "address": key,
            "title": key,
            "description": f"Routing key {key} on the {namespace}{event_type.publisher} "
            "topic exchange.",
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": namespace + event_type.publisher,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
        operations[f"{event_type.publisher}.send.{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [message_ref],
            "summary": f"{event_type.publisher} publishes {key}.",
            "tags": [{"name": event_type.publisher}],
        }
        for consumer in consumers[key]:
            operations[f"{consumer}.receive.{key}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{key}"},
                "messages": [message_ref],
                "summary": f"{consumer} handles {key} from its queue {namespace}{consumer}.",
                "tags": [{"name": consumer}],
                "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
            }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "OMS events",
            "version": version,
            "description": "Every event OMS modules publish to each other: CloudEvents 1.0 "
            "in JSON structured mode, one topic exchange per publishing module, routing key = "
            "event type, one durable queue per consuming module.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "broker": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The RabbitMQ of OMS_BROKER_URL (in the embedded default "
                "the same topology runs in process).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": payload_schemas()},
    }


def _message(event_type: EventType, consumers: list[str], namespace: str) -> dict[str, Any]:
    data_ref = {"$ref": f"#/components/schemas/{_schema_name(event_type)}"}
    return {
        "name": event_type.name,
        "title": f"{event_type.name} v{event_type.version}",
        "summary": f"Published by {event_type.publisher}; consumed by "
        f"{', '.join(consumers) or 'no module yet'}.",
        "contentType": CONTENT_TYPE,
        "correlationId": {
            "description": "The order (or entity) the event belongs to.",
            "location": "$message.payload#/correlationid",
        },
        "payload": _envelope(event_type, data_ref),
        "tags": [{"name": event_type.publisher}],
        "x-oms-version": event_type.version,
        "x-oms-publisher": event_type.publisher,
        "x-oms-consumers": consumers,
        "x-oms-exchange": namespace + event_type.publisher,
        "x-oms-routing-key": event_type.name,
    }


def _envelope(event_type: EventType, data_ref: dict[str, str]) -> dict[str, Any]:
    """The CloudEvents envelope the payload travels in."""
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "data"],
        "properties": {
            "specversion": {"type": "string", "const": SPEC_VERSION},
            "id": {"type": "string", "format": "uuid"},
            "source": {"type": "string", "const": f"oms/{event_type.publisher}"},
            "type": {"type": "string", "const": event_type.name},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"type": "string", "const": CONTENT_TYPE},
            "dataschema": {"type": "string", "const": event_type.dataschema},
            "correlationid": {"type": ["string", "null"]},
            "traceparent": {
                "type": "string",
                "description": "W3C trace context (CloudEvents distributed tracing extension).",
                "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
            },
            "data": data_ref,
        },
    }


def _schema_name(event_type: EventType) -> str:
    return event_type.payload.__name__


@cache
def payload_schemas() -> dict[str, Any]:
    """Each event's payload (and the pieces they nest) as JSON Schema, by name."""
    spec = APISpec("OMS events", "1", "3.1.0", plugins=[MarshmallowPlugin()])
    for event_type in CATALOGUE.values():
        spec.components.schema(_schema_name(event_type), schema=event_type.payload)
    schemas = spec.to_dict()["components"]["schemas"]
    return _ecma_patterns(schemas)


def _ecma_patterns(value: Any) -> Any:
    """Python's end-of-text anchor `\\Z` is `$` in the ECMA regexes JSON Schema uses."""
    if isinstance(value, dict):
        return {
            key: (
                item.replace("\\Z", "$")
                if key == "pattern" and isinstance(item, str)
                else _ecma_patterns(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_ecma_patterns(item) for item in value]
    return value
