"""The products module's own API (the seed's port 3002)."""

from __future__ import annotations

from uuid import UUID

from oms.http.app import current_runtime
from oms.http.auth import ADMIN, requires
from oms.http.blueprint import Blueprint
from oms.http.schemas import links
from oms.products import service
from oms.products.schemas import NewProduct, ProductSchema

PRODUCT_ID = {"product_id": "$response.body#/productId"}
blueprint = Blueprint("products", __name__, url_prefix="/api/v1/products", description="Products")


@blueprint.post("")
@requires(ADMIN)
@blueprint.arguments(NewProduct)
@blueprint.response(201, ProductSchema)
@links(
    201,
    GetProduct=(
        "get",
        "/api/v1/products/{product_id}",
        {"product_id": "$response.body#/productId"},
    ),
)
def create_product(body: dict) -> service.ProductView:
    return service.create_product(current_runtime(), **body)


@blueprint.get("/<uuid:product_id>")
@requires(ADMIN)
@blueprint.response(200, ProductSchema)
def get_product(product_id: UUID) -> service.ProductView:
    return service.get_product(current_runtime(), str(product_id))


blueprints = [blueprint]
