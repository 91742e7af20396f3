"""The web backend-for-frontend (port 3010): full views, aggregated from every module."""

from __future__ import annotations

from uuid import UUID

from flask import request
from flask_smorest import Blueprint

from oms import orders, payments, products, users
from oms.bff import schemas
from oms.bff.accounts import login_blueprint, registration_blueprint
from oms.bff.checkout import Checkout, check_buyer, place_checkout
from oms.db import Page
from oms.http.app import current_runtime
from oms.http.auth import ADMIN, current_caller, requires
from oms.http.schemas import CardToken, PageQuery, PostalAddress, links

ORDER_ID = {"order_id": "$response.body#/orderId"}
PRODUCT_ID = {"product_id": "$response.body#/productId"}
me = Blueprint("me", __name__, url_prefix="/api/v1/users/me", description="The signed-in user")
catalogue = Blueprint("catalogue", __name__, url_prefix="/api/v1/products", description="Products")
checkout = Blueprint("checkout", __name__, url_prefix="/api/v1/checkout", description="Checkout")
my_orders = Blueprint("orders", __name__, url_prefix="/api/v1/orders", description="Orders")


@me.get("")
@requires()
@me.response(200, users.UserSchema)
def get_me() -> users.UserView:
    return users.get_user(current_runtime(), current_caller().user_id)


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


@me.post("/addresses")
@requires()
@me.arguments(PostalAddress)
@me.response(201, users.AddressSchema)
@links(201, ListAddresses=("get", "/api/v1/users/me/addresses", {}))
def add_address(body: dict) -> users.AddressView:
    return users.add_address(current_runtime(), current_caller().user_id, body)


@me.get("/addresses")
@requires()
@me.arguments(PageQuery, location="query")
@me.response(200, users.AddressPage)
def list_addresses(query: dict) -> Page:
    return users.list_addresses(current_runtime(), current_caller().user_id, **query)


@me.post("/payment-methods")
@requires()
@me.arguments(CardToken)
@me.response(201, payments.PaymentMethodSchema)
@links(201, ListPaymentMethods=("get", "/api/v1/users/me/payment-methods", {}))
def add_payment_method(body: dict) -> payments.PaymentMethodView:
    """The gateway token is stored, never shown again."""
    return payments.add_payment_method(current_runtime(), current_caller().user_id, **body)


@me.get("/payment-methods")
@requires()
@me.arguments(PageQuery, location="query")
@me.response(200, payments.PaymentMethodPage)
def list_payment_methods(query: dict) -> Page:
    return payments.list_payment_methods(current_runtime(), current_caller().user_id, **query)


@catalogue.get("")
@catalogue.arguments(PageQuery, location="query")
@catalogue.response(200, products.ProductPage)
def list_products(query: dict) -> Page:
    return products.list_products(current_runtime(), **query)


@catalogue.get("/<uuid:product_id>")
@catalogue.response(200, products.ProductSchema)
def get_product(product_id: UUID) -> products.ProductView:
    return products.get_product(current_runtime(), str(product_id))


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
    )
    return place_checkout(current_runtime(), caller, request)


@my_orders.get("")
@requires()
@my_orders.arguments(PageQuery, location="query")
@my_orders.response(200, orders.OrderPage)
def list_orders(query: dict) -> Page:
    return orders.list_orders(current_runtime(), current_caller().user_id, **query)


@my_orders.get("/<uuid:order_id>")
@requires()
@my_orders.response(200, orders.OrderSchema)
def get_order(order_id: UUID) -> orders.OrderView:
    return orders.get_order(current_runtime(), str(order_id), owner_id=current_caller().user_id)


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


@my_orders.post("/<uuid:order_id>/cancel")
@requires()
@my_orders.response(200, orders.OrderSchema)
def cancel_order(order_id: UUID) -> orders.OrderView:
    """Before shipping only (else 409): stock is released and the payment refunded."""
    return orders.cancel_order(current_runtime(), str(order_id), current_caller().user_id)


@my_orders.post("/<uuid:order_id>/ship")
@requires(ADMIN)
@my_orders.response(200, orders.OrderSchema)
def ship_order(order_id: UUID) -> orders.OrderView:
    return orders.ship_order(current_runtime(), str(order_id))


blueprints = [login_blueprint, registration_blueprint, me, catalogue, checkout, my_orders]
