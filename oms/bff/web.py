"""The web backend-for-frontend (port 3010): full views, aggregated from every module."""

from __future__ import annotations

from uuid import UUID

from flask import request

from oms import orders, payments, products, users, webhooks
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
from oms.http.app import current_runtime
from oms.http.auth import ADMIN, current_caller, requires
from oms.http.blueprint import Blueprint
from oms.http.idempotency import request_fingerprint
from oms.http.schemas import links

ORDER_ID = {"order_id": "$response.body#/orderId"}
PRODUCT_ID = {"product_id": "$response.body#/productId"}
me = Blueprint("me", __name__, url_prefix="/api/v1/users/me", description="The signed-in user")
catalogue = Blueprint("catalogue", __name__, url_prefix="/api/v1/products", description="Products")
checkout = Blueprint("checkout", __name__, url_prefix="/api/v1/checkout", description="Checkout")
my_orders = Blueprint("orders", __name__, url_prefix="/api/v1/orders", description="Orders")

WEB_BODIES = Bodies(
    product=products.ProductSchema,
    product_page=products.ProductPage,
    address=users.AddressSchema,
    address_page=users.AddressPage,
    card=payments.PaymentMethodSchema,
    card_page=payments.PaymentMethodPage,
    order=orders.OrderSchema,
    order_page=orders.OrderPage,
)


@me.patch("")
@requires()
@me.arguments(users.ProfileChanges, required=False)
@me.response(200, users.UserSchema)
def update_me(body: dict) -> users.UserView:
    """Change your first and/or last name."""
    return users.update_profile(current_runtime(), current_caller().user_id, body)


@me.post("/password")
@requires()
@me.arguments(users.PasswordChange)
@me.response(204)
@me.alt_response(403, description="The current password is wrong.")
@me.alt_response(429, description="Locked out after repeated wrong passwords.")
def change_password(body: dict) -> None:
    """Every token issued before the change answers 401 from then on: sign in again."""
    users.change_password(
        current_runtime(),
        current_caller().user_id,
        body["current_password"],
        body["new_password"],
        request.remote_addr,
    )


add_profile_route(me)
add_saved_preference_routes(me, WEB_BODIES)
add_catalogue_routes(catalogue, WEB_BODIES)


@catalogue.post("")
@requires(ADMIN)
@catalogue.arguments(products.NewProduct)
@catalogue.response(201, products.ProductSchema)
@links(
    201,
    GetProduct=("get", "/api/v1/products/{product_id}", PRODUCT_ID),
    UpdateProduct=("patch", "/api/v1/products/{product_id}", PRODUCT_ID),
    AdjustStock=("post", "/api/v1/products/{product_id}/inventory", PRODUCT_ID),
)
def create_product(body: dict) -> products.ProductView:
    """Creates the inventory record too (`stock` defaults to 0); publishes product.created."""
    return products.create_product(current_runtime(), **body)


@catalogue.patch("/<uuid:product_id>")
@requires(ADMIN)
@catalogue.arguments(products.ProductChanges)
@catalogue.response(200, products.ProductSchema)
def update_product(body: dict, product_id: UUID) -> products.ProductView:
    """Publishes product.updated with the fields that changed."""
    return products.update_product(current_runtime(), str(product_id), body)


@catalogue.post("/<uuid:product_id>/inventory")
@requires(ADMIN)
@catalogue.arguments(products.StockChange)
@catalogue.response(200, products.ProductSchema)
def adjust_stock(body: dict, product_id: UUID) -> products.ProductView:
    """Restock (positive delta) or write off (negative); stock never goes below zero (409)."""
    return products.adjust_stock(current_runtime(), str(product_id), body["delta"])


@checkout.post("")
@requires()
@checkout.arguments(schemas.IdempotencyHeader, location="headers")
@checkout.arguments(schemas.WebCheckout)
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
    GetOrder=("get", "/api/v1/orders/{order_id}", ORDER_ID),
    GetOrderDetails=("get", "/api/v1/orders/{order_id}/details", ORDER_ID),
    CancelOrder=("post", "/api/v1/orders/{order_id}/cancel", ORDER_ID),
)
def web_checkout(headers: dict, body: dict) -> tuple[dict, int]:
    """Prices come from the catalogue, never from the client."""
    caller = current_caller()
    check_buyer(caller, body)
    request = Checkout(
        items=body["items"],
        shipping_address=body["shipping_address"],
        payment_method=body["payment_method"],
        idempotency_key=headers.get("idempotency_key"),
        fingerprint=request_fingerprint(),
    )
    return place_checkout(current_runtime(), caller, request)


add_order_routes(my_orders, WEB_BODIES, admins_see_all=True)


@my_orders.get("/<uuid:order_id>/details")
@requires()
@my_orders.response(200, schemas.OrderDetails)
def order_details(order_id: UUID) -> dict:
    """The order with its timeline, its buyer, its products and its payments."""
    rt, caller = current_runtime(), current_caller()
    owner = None if caller.is_admin else caller.user_id
    order = orders.get_order(rt, str(order_id), owner_id=owner)
    catalogue_entries = products.get_products(rt, [item.product_id for item in order.items])
    return {
        "order": order,
        "user": users.get_user(rt, order.user_id),
        "products": list(catalogue_entries.values()),
        "payments": payments.payments_of_order(rt, order.order_id),
    }


@my_orders.post("/<uuid:order_id>/ship")
@requires(ADMIN)
@my_orders.response(200, orders.OrderSchema)
def ship_order(order_id: UUID) -> orders.OrderView:
    return orders.ship_order(current_runtime(), str(order_id))


blueprints = [
    login_blueprint,
    registration_blueprint,
    me,
    catalogue,
    checkout,
    my_orders,
    *webhooks.blueprints,  # the webhooks module's admin routes: it has no port of its own
]
