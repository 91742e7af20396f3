"""Request and response bodies of the webhooks module."""

from __future__ import annotations

from marshmallow import fields, validate

from oms.http.schemas import CamelSchema, PageQuery, PageSchema

EVENT_PATTERN = validate.Regexp(
    r"^(\*|[a-z][a-z_]*)(\.(\*|[a-z][a-z_]*))*$",
    error='Use an event name such as "order.created", or a pattern such as "order.*" or "*".',
)
URL = validate.Length(min=1, max=2000)
DESCRIPTION = validate.Length(max=500)


def _events(**options: bool) -> fields.List:
    return fields.List(
        fields.String(validate=[validate.Length(max=100), EVENT_PATTERN]),
        validate=validate.Length(min=1, max=50),
        metadata={"description": 'Event names or patterns ("order.*", "*").'},
        **options,
    )


class NewEndpoint(CamelSchema):
    url = fields.String(required=True, validate=URL)
    events = _events(required=True)
    description = fields.String(load_default=None, allow_none=True, validate=DESCRIPTION)


class EndpointChanges(CamelSchema):
    """Anything of an endpoint but its secret; `enabled: true` revives a disabled one."""

    url = fields.String(validate=URL)
    events = _events()
    description = fields.String(allow_none=True, validate=DESCRIPTION)
    enabled = fields.Boolean()


class EndpointSchema(CamelSchema):
    webhook_id = fields.String(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    description = fields.String(allow_none=True)
    enabled = fields.Boolean(required=True)
    disabled_reason = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class NewEndpointResult(EndpointSchema):
    secret = fields.String(
        required=True,
        metadata={"description": "Signs every delivery (OMS-Signature); shown only this once."},
    )


class EndpointPage(PageSchema):
    items = fields.List(fields.Nested(EndpointSchema), required=True)


class AttemptSchema(CamelSchema):
    number = fields.Integer(required=True)
    started_at = fields.DateTime(required=True)
    response_code = fields.Integer(allow_none=True)
    duration_ms = fields.Integer(required=True)
    error = fields.String(allow_none=True)


class DeliverySchema(CamelSchema):
    delivery_id = fields.String(required=True)
    webhook_id = fields.String(required=True)
    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    status = fields.String(
        required=True, metadata={"description": "pending, succeeded or failed (replayable)."}
    )
    attempts = fields.Integer(required=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    last_response_code = fields.Integer(allow_none=True)
    last_duration_ms = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    history = fields.List(fields.Nested(AttemptSchema), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class DeliveryPage(PageSchema):
    items = fields.List(fields.Nested(DeliverySchema), required=True)


class DeliveryQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(["pending", "succeeded", "failed"]))
