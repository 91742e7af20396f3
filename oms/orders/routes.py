"""The orders module's own API (the seed's port 3001)."""

from __future__ import annotations

from uuid import UUID

from marshmallow import RAISE

from oms.db import Page
from oms.errors import Invalid
from oms.http.app import current_runtime
from oms.http.auth import ADMIN, requires
from oms.http.blueprint import Blueprint
from oms.http.schemas import links
from oms.orders import service
from oms.orders.domain import LineItem
from oms.orders.schemas import NewOrder, OrderPage, OrderSchema, OrderSearchQuery

blueprint = Blueprint("orders", __name__, url_prefix="/api/v1/orders", description="Orders")


@blueprint.post("")
@requires(ADMIN)
@blueprint.arguments(NewOrder)
@blueprint.response(201, OrderSchema)
@links(201, GetOrder=("get", "/api/v1/orders/{order_id}", {"order_id": "$response.body#/orderId"}))
def place_order(body: dict) -> service.OrderView:
    items = [
        LineItem(str(item["product_id"]), item["quantity"], item["unit_price"])
        for item in body["items"]
    ]
    request = service.OrderRequest(
        user_id=str(body["user_id"]),
        items=items,
        shipping_address=body["shipping_address"],
        payment_method=body["payment_method"],
    )
    claimed_total = body.get("total_amount")
    if claimed_total is not None and claimed_total != request.total_amount:
        raise Invalid(
            "totalAmount does not match the items.",
            {"totalAmount": [f"The items add up to {request.total_amount}."]},
        )
    rt = current_runtime()
    return service.get_order(rt, service.place_order(rt, request))


@blueprint.get("")
@requires(ADMIN)
@blueprint.arguments(OrderSearchQuery, location="query", unknown=RAISE)
@blueprint.response(200, OrderPage)
def search_orders(query: dict) -> Page:
    """Every customer's orders, newest first, filtered by status, user and creation time."""
    page, page_size = query.pop("page"), query.pop("page_size")
    return service.search_orders(current_runtime(), service.order_filter(query), page, page_size)


@blueprint.get("/<uuid:order_id>")
@requires(ADMIN)
@blueprint.response(200, OrderSchema)
def get_order(order_id: UUID) -> service.OrderView:
    return service.get_order(current_runtime(), str(order_id))


blueprints = [blueprint]
