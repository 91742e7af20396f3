"""The mobile backend-for-frontend (port 3011): saved preferences in, light responses out."""

from __future__ import annotations

from uuid import UUID

from flask_smorest import Blueprint

from oms import orders, payments, users
from oms.bff import schemas
from oms.bff.accounts import login_blueprint
from oms.bff.checkout import Checkout, check_buyer, place_checkout
from oms.db import Page
from oms.http.app import current_runtime
from oms.http.auth import current_caller, requires
from oms.http.schemas import PageQuery, links

checkout = Blueprint(
    "mobile-checkout", __name__, url_prefix="/api/v1/checkout", description="Checkout"
)
my_orders = Blueprint("mobile-orders", __name__, url_prefix="/api/v1/orders", description="Orders")


@checkout.post("")
@requires()
@checkout.arguments(schemas.IdempotencyHeader, location="headers")
@checkout.arguments(schemas.MobileCheckout)
@checkout.response(201, schemas.CheckoutResult, description="Paid: the order is processing.")
@checkout.alt_response(202, schema=schemas.CheckoutResult, description="Still settling.")
@checkout.alt_response(402, schema=schemas.CheckoutResult, description="Payment declined.")
@checkout.alt_response(409, schema=schemas.CheckoutResult, description="Insufficient inventory.")
@checkout.alt_response(429, description="Too many checkouts: see `Retry-After`.")
@links(
    201,
    202,
    402,
    409,
    GetOrder=("get", "/api/v1/orders/{order_id}", {"order_id": "$response.body#/orderId"}),
)
def mobile_checkout(headers: dict, body: dict) -> tuple[dict, int]:
    """Checkout with a saved address and card; another user's address or card is 404."""
    rt, caller = current_runtime(), current_caller()
    check_buyer(caller, body)
    address = users.get_address(rt, caller.user_id, str(body["address_id"]))
    card = payments.get_payment_method(rt, str(body["payment_method_id"]), caller.user_id)
    request = Checkout(
        items=body["items"],
        shipping_address=address.postal_address(),
        payment_method={"type": card.type, "paymentMethodId": card.payment_method_id},
        idempotency_key=headers.get("idempotency_key"),
    )
    return place_checkout(rt, caller, request)


@my_orders.get("")
@requires()
@my_orders.arguments(PageQuery, location="query")
@my_orders.response(200, orders.OrderSummaryPage)
def list_orders(query: dict) -> Page:
    return orders.list_orders(current_runtime(), current_caller().user_id, **query)


@my_orders.get("/<uuid:order_id>")
@requires()
@my_orders.response(200, orders.OrderSummarySchema)
def get_order(order_id: UUID) -> orders.OrderView:
    return orders.get_order(current_runtime(), str(order_id), owner_id=current_caller().user_id)


blueprints = [login_blueprint, checkout, my_orders]
