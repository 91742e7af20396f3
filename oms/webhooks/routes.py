"""The webhooks module's admin API. It has no port of its own: the web BFF serves it."""

from __future__ import annotations

from uuid import UUID

from oms.db import Page
from oms.http.app import current_runtime
from oms.http.auth import ADMIN, requires
from oms.http.blueprint import Blueprint
from oms.http.schemas import PageQuery, links
from oms.webhooks import service
from oms.webhooks.schemas import (
    DeliveryPage,
    DeliveryQuery,
    DeliverySchema,
    EndpointChanges,
    EndpointPage,
    EndpointSchema,
    NewEndpoint,
    NewEndpointResult,
)

WEBHOOK_ID = {"webhook_id": "$response.body#/webhookId"}
blueprint = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/api/v1/webhooks",
    description="Webhooks: HTTP endpoints that receive OMS events, signed (admin).",
)


@blueprint.post("")
@requires(ADMIN)
@blueprint.arguments(NewEndpoint)
@blueprint.response(201, NewEndpointResult)
@links(
    201,
    GetWebhook=("get", "/api/v1/webhooks/{webhook_id}", WEBHOOK_ID),
    ListDeliveries=("get", "/api/v1/webhooks/{webhook_id}/deliveries", WEBHOOK_ID),
)
def register(body: dict) -> service.NewEndpointView:
    """Subscribe a URL to events (names or patterns such as `order.*`). The answer carries
    the signing `secret`, shown only this once. A URL resolving to a loopback, private or
    link-local address is 422 unless OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS=true."""
    return service.register_endpoint(current_runtime(), **body)


@blueprint.get("")
@requires(ADMIN)
@blueprint.arguments(PageQuery, location="query")
@blueprint.response(200, EndpointPage)
def list_endpoints(query: dict) -> Page:
    return service.list_endpoints(current_runtime(), **query)


@blueprint.get("/<uuid:webhook_id>")
@requires(ADMIN)
@blueprint.response(200, EndpointSchema)
def get_endpoint(webhook_id: UUID) -> service.EndpointView:
    return service.get_endpoint(current_runtime(), str(webhook_id))


@blueprint.patch("/<uuid:webhook_id>")
@requires(ADMIN)
@blueprint.arguments(EndpointChanges)
@blueprint.response(200, EndpointSchema)
def update_endpoint(body: dict, webhook_id: UUID) -> service.EndpointView:
    """`{"enabled": true}` revives an endpoint that was disabled for failing."""
    return service.update_endpoint(current_runtime(), str(webhook_id), body)


@blueprint.delete("/<uuid:webhook_id>")
@requires(ADMIN)
@blueprint.response(204)
def delete_endpoint(webhook_id: UUID) -> None:
    service.delete_endpoint(current_runtime(), str(webhook_id))


@blueprint.get("/<uuid:webhook_id>/deliveries")
@requires(ADMIN)
@blueprint.arguments(DeliveryQuery, location="query")
@blueprint.response(200, DeliveryPage)
def list_deliveries(query: dict, webhook_id: UUID) -> Page:
    """Newest first; each with its status, attempts, last response code and duration,
    and every attempt."""
    return service.list_deliveries(current_runtime(), str(webhook_id), **query)


@blueprint.post("/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/redeliver")
@requires(ADMIN)
@blueprint.response(202, DeliverySchema)
def redeliver(webhook_id: UUID, delivery_id: UUID) -> service.DeliveryView:
    """Send it again as soon as possible, with a fresh set of attempts (409 while the
    webhook is disabled)."""
    return service.redeliver(current_runtime(), str(webhook_id), str(delivery_id))


blueprints = [blueprint]
