"""The mobile backend-for-frontend (port 3011): everything a phone app needs, light bodies.

The routes both frontends serve run the same code (`oms.bff.customer`); only the
response bodies differ.
"""

from __future__ import annotations

from typing import NoReturn

from oms import payments, users
from oms.bff import schemas
from oms.bff.accounts import login_blueprint, registration_blueprint
from oms.bff.checkout import Checkout, check_buyer, place_checkout
from oms.bff.customer import (
    Bodies,
    add_catalogue_routes,
    add_order_routes,
    add_profile_route,
    add_saved_preference_routes,
)
from oms.errors import Invalid
from oms.http.app import current_runtime
from oms.http.auth import Caller, current_caller, requires
from oms.http.blueprint import Blueprint
from oms.http.idempotency import request_fingerprint
from oms.http.schemas import links
from oms.runtime import Runtime

me = Blueprint(
    "mobile-me", __name__, url_prefix="/api/v1/users/me", description="Saved addresses and cards"
)
catalogue = Blueprint(
    "mobile-catalogue", __name__, url_prefix="/api/v1/products", description="Products"
)
checkout = Blueprint(
    "mobile-checkout", __name__, url_prefix="/api/v1/checkout", description="Checkout"
)
my_orders = Blueprint("mobile-orders", __name__, url_prefix="/api/v1/orders", description="Orders")

SAVED_OR_NEW = {
    "address": ("addressId", "shippingAddress"),
    "card": ("paymentMethodId", "paymentMethod"),
}
MOBILE_BODIES = Bodies(
    product=schemas.ProductSummary,
    product_page=schemas.ProductSummaryPage,
    address=schemas.AddressSummary,
    address_page=schemas.AddressSummaryPage,
    card=schemas.CardSummary,
    card_page=schemas.CardSummaryPage,
    order=schemas.OrderSummarySchema,
    order_page=schemas.OrderSummaryPage,
)

add_profile_route(me)
add_saved_preference_routes(me, MOBILE_BODIES)
add_catalogue_routes(catalogue, MOBILE_BODIES)
add_order_routes(my_orders, MOBILE_BODIES)


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
    """Checkout with a saved address and card (`addressId`, `paymentMethodId`), or new ones
    (`shippingAddress`, `paymentMethod`, as on the web); one left out means the saved
    default. Another user's address or card is 404."""
    rt, caller = current_runtime(), current_caller()
    check_buyer(caller, body)
    request = Checkout(
        items=body["items"],
        shipping_address=body.get("shipping_address") or _saved_address(rt, caller, body),
        payment_method=body.get("payment_method") or _saved_card(rt, caller, body),
        idempotency_key=headers.get("idempotency_key"),
        fingerprint=request_fingerprint(),
    )
    return place_checkout(rt, caller, request)


def _saved_address(rt: Runtime, caller: Caller, body: dict) -> dict:
    if "address_id" in body:
        address = users.get_address(rt, caller.user_id, str(body["address_id"]))
    else:
        address = users.default_address(rt, caller.user_id) or _no_default("address")
    return address.postal_address()


def _saved_card(rt: Runtime, caller: Caller, body: dict) -> dict:
    if "payment_method_id" in body:
        card = payments.get_payment_method(rt, str(body["payment_method_id"]), caller.user_id)
    else:
        card = payments.default_payment_method(rt, caller.user_id) or _no_default("card")
    return {"type": card.type, "paymentMethodId": card.payment_method_id}


def _no_default(kind: str) -> NoReturn:
    saved, new = SAVED_OR_NEW[kind]
    raise Invalid(f"No default {kind} is saved.", {saved: [f"Give {saved} or {new}."]})


blueprints = [login_blueprint, registration_blueprint, me, catalogue, checkout, my_orders]
