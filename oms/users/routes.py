"""The users module's own API (the seed's port 3003), for admins and other services."""

from __future__ import annotations

from uuid import UUID

from oms.http.app import current_runtime
from oms.http.auth import ADMIN, requires
from oms.http.blueprint import Blueprint
from oms.http.schemas import links
from oms.users import service
from oms.users.schemas import AddressSchema, AuthResult, Registration, UserSchema

blueprint = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Users")


@blueprint.post("/register")
@requires(ADMIN)
@blueprint.arguments(Registration)
@blueprint.response(201, AuthResult)
@links(201, GetUser=("get", "/api/v1/users/{user_id}", {"user_id": "$response.body#/userId"}))
def register(body: dict) -> service.SignedIn:
    return service.register(current_runtime(), **body)


@blueprint.get("/<uuid:user_id>")
@requires(ADMIN)
@blueprint.response(200, UserSchema)
def get_user(user_id: UUID) -> service.UserView:
    return service.get_user(current_runtime(), str(user_id))


@blueprint.get("/<uuid:user_id>/addresses/<uuid:address_id>")
@requires(ADMIN)
@blueprint.response(200, AddressSchema)
def get_address(user_id: UUID, address_id: UUID) -> service.AddressView:
    return service.get_address(current_runtime(), str(user_id), str(address_id))


blueprints = [blueprint]
