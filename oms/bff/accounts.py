"""Signing up and signing in, as both frontends offer it."""

from __future__ import annotations

from flask_smorest import Blueprint

from oms import users
from oms.http.app import current_runtime

login_blueprint = Blueprint("login", __name__, url_prefix="/api/v1/auth", description="Sign in")
registration_blueprint = Blueprint(
    "registration", __name__, url_prefix="/api/v1/auth", description="Sign up"
)


@login_blueprint.post("/login")
@login_blueprint.arguments(users.Credentials)
@login_blueprint.response(200, users.AuthResult)
def login(body: dict) -> users.SignedIn:
    """Wrong credentials are 401, whichever part is wrong."""
    return users.login(current_runtime(), body["email"], body["password"])


@registration_blueprint.post("/register")
@registration_blueprint.arguments(users.Registration)
@registration_blueprint.response(201, users.AuthResult)
def register(body: dict) -> users.SignedIn:
    """Emails are case-insensitive: a second account for the same address is 409."""
    return users.register(current_runtime(), **body)
