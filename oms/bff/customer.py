"""What a customer does on either frontend: one code path per route, each frontend
choosing only the response bodies it shows (full on the web, light on the phone)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from marshmallow import RAISE, Schema
from werkzeug.exceptions import Forbidden

from oms import orders, payments, products, users
from oms.bff.schemas import DefaultChoice
from oms.db import Page
from oms.http.app import current_runtime
from oms.http.auth import current_caller, requires
from oms.http.blueprint import Blueprint
from oms.http.schemas import CardToken, PageQuery, PostalAddress, links
from oms.runtime import Runtime


@dataclass(frozen=True)
class Bodies:
    """The response bodies one frontend shows for the routes both serve."""

    product: type[Schema]
    product_page: type[Schema]
    address: type[Schema]
    address_page: type[Schema]
    card: type[Schema]
    card_page: type[Schema]
    order: type[Schema]
    order_page: type[Schema]


def add_catalogue_routes(blueprint: Blueprint, bodies: Bodies) -> None:
    """GET "" (paged, with a name search) and GET /{productId}: anyone may browse."""

    @blueprint.get("")
    @blueprint.arguments(products.ProductQuery, location="query")
    @blueprint.response(200, bodies.product_page)
    def list_products(query: dict) -> Page:
        return products.list_products(current_runtime(), **query)

    @blueprint.get("/<uuid:product_id>")
    @blueprint.response(200, bodies.product)
    def get_product(product_id: UUID) -> products.ProductView:
        return products.get_product(current_runtime(), str(product_id))


@dataclass(frozen=True)
class SavedKind:
    """A kind of thing a customer saves under /users/me, and the use cases that keep it."""

    path: str  # the collection under /users/me
    id_param: str  # the path parameter naming one
    noun: str  # for the documentation
    new: type[Schema]  # the body that saves one
    add: Callable[[Runtime, str, dict], Any]
    list: Callable[..., Page]
    mark_default: Callable[[Runtime, str, str, bool], Any]
    delete: Callable[[Runtime, str, str], None]
    add_note: str
    delete_note: str


ADDRESSES = SavedKind(
    path="addresses",
    id_param="address_id",
    noun="address",
    new=PostalAddress,
    add=users.add_address,
    list=users.list_addresses,
    mark_default=users.mark_default_address,
    delete=users.delete_address,
    add_note="The first one saved is the default.",
    delete_note="Orders placed with it keep their own copy of the address.",
)
CARDS = SavedKind(
    path="payment-methods",
    id_param="payment_method_id",
    noun="card",
    new=CardToken,
    add=lambda rt, user_id, body: payments.add_payment_method(rt, user_id, **body),
    list=payments.list_payment_methods,
    mark_default=payments.mark_default_payment_method,
    delete=payments.delete_payment_method,
    add_note="The first one saved is the default. The gateway token is stored, never shown again.",
    delete_note="Orders placed with the card can still be charged and refunded.",
)


def add_profile_route(blueprint: Blueprint) -> None:
    """GET /users/me: who is signed in (what sign-up and sign-in link to)."""

    @blueprint.get("", endpoint="get_me")
    @requires()
    @blueprint.response(200, users.UserSchema)
    def get_me() -> users.UserView:
        return users.get_user(current_runtime(), current_caller().user_id)


def add_saved_preference_routes(blueprint: Blueprint, bodies: Bodies) -> None:
    """The caller's saved addresses and cards, under /users/me: add, list, mark default,
    delete. Another user's address or card is 404."""
    _add_saved_routes(blueprint, ADDRESSES, bodies.address, bodies.address_page)
    _add_saved_routes(blueprint, CARDS, bodies.card, bodies.card_page)


def _add_saved_routes(
    blueprint: Blueprint, kind: SavedKind, body: type[Schema], page: type[Schema]
) -> None:
    name = kind.path.replace("-", "_")
    listing = kind.path.title().replace("-", "")
    collection, item = f"/{kind.path}", f"/{kind.path}/<uuid:{kind.id_param}>"

    @blueprint.post(collection, endpoint=f"add_{name}")
    @blueprint.doc(summary=f"Save a {kind.noun}", description=kind.add_note)
    @requires()
    @blueprint.arguments(kind.new)
    @blueprint.response(201, body)
    @links(201, **{f"List{listing}": ("get", f"/api/v1/users/me/{kind.path}", {})})
    def add(new: dict) -> Any:
        return kind.add(current_runtime(), current_caller().user_id, new)

    @blueprint.get(collection, endpoint=f"list_{name}")
    @blueprint.doc(summary=f"Your saved {kind.path.replace('-', ' ')}")
    @requires()
    @blueprint.arguments(PageQuery, location="query")
    @blueprint.response(200, page)
    def list_saved(query: dict) -> Page:
        return kind.list(current_runtime(), current_caller().user_id, **query)

    @blueprint.patch(item, endpoint=f"mark_default_{name}")
    @blueprint.doc(
        summary=f"Make a saved {kind.noun} the default (or not)",
        description='`{"isDefault": true}`: the previous default stops being one.',
    )
    @requires()
    @blueprint.arguments(DefaultChoice)
    @blueprint.response(200, body)
    def mark_default(choice: dict, **path: UUID) -> Any:
        rt, caller = current_runtime(), current_caller()
        item_id = str(path[kind.id_param])
        return kind.mark_default(rt, caller.user_id, item_id, choice["is_default"])

    @blueprint.delete(item, endpoint=f"delete_{name}")
    @blueprint.doc(summary=f"Delete a saved {kind.noun}", description=kind.delete_note)
    @requires()
    @blueprint.response(204)
    def delete(**path: UUID) -> None:
        item_id = str(path[kind.id_param])
        kind.delete(current_runtime(), current_caller().user_id, item_id)


def add_order_routes(blueprint: Blueprint, bodies: Bodies, admins_see_all: bool = False) -> None:
    """The caller's orders: GET "" (newest first, filtered by status and creation time;
    with `admins_see_all`, an admin's list holds every customer's, also by userId),
    GET /{orderId}, POST /{orderId}/cancel."""

    @blueprint.get("")
    @requires()
    @blueprint.arguments(orders.OrderSearchQuery, location="query", unknown=RAISE)
    @blueprint.response(200, bodies.order_page)
    def list_orders(query: dict) -> Page:
        caller = current_caller()
        page, page_size = query.pop("page"), query.pop("page_size")
        if not (admins_see_all and caller.is_admin):
            if query.get("user_id") is not None and str(query["user_id"]) != caller.user_id:
                raise Forbidden("Only administrators list other customers' orders.")
            query["user_id"] = caller.user_id
        where = orders.order_filter(query)
        return orders.search_orders(current_runtime(), where, page, page_size)

    @blueprint.get("/<uuid:order_id>")
    @requires()
    @blueprint.response(200, bodies.order)
    def get_order(order_id: UUID) -> orders.OrderView:
        rt, caller = current_runtime(), current_caller()
        return orders.get_order(rt, str(order_id), owner_id=caller.user_id)

    @blueprint.post("/<uuid:order_id>/cancel")
    @requires()
    @blueprint.response(200, bodies.order)
    def cancel_order(order_id: UUID) -> orders.OrderView:
        """Before shipping only (else 409): stock is released and the payment refunded."""
        return orders.cancel_order(current_runtime(), str(order_id), current_caller().user_id)
