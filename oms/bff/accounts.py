"""Signing up and signing in, as both frontends offer it."""

from __future__ import annotations

from flask import request

from oms import users
from oms.http.app import current_runtime
from oms.http.blueprint import Blueprint
from oms.http.schemas import links

login_blueprint = Blueprint("login", __name__, url_prefix="/api/v1/auth", description="Sign in")
registration_blueprint = Blueprint(
    "registration", __name__, url_prefix="/api/v1/auth", description="Sign up"
)


TOO_MANY = {"description": "Rate limit or lockout: see `Retry-After` and `RateLimit-*`."}


@login_blueprint.post("/login")
@login_blueprint.arguments(users.Credentials)
@login_blueprint.response(200, users.AuthResult)
@login_blueprint.alt_response(429, **TOO_MANY)
@links(200, GetMe=("get", "/api/v1/users/me", {}))
def login(body: dict) -> users.SignedIn:
    """Wrong credentials are 401, whichever part is wrong. Repeated failures lock the
    account and the client's address out for a growing time (429, no password checked)."""
    return users.login(current_runtime(), body["email"], body["password"], request.remote_addr)


@registration_blueprint.post("/register")
@registration_blueprint.arguments(users.Registration)
@registration_blueprint.response(201, users.AuthResult)
@registration_blueprint.alt_response(429, **TOO_MANY)
@links(201, GetMe=("get", "/api/v1/users/me", {}))
def register(body: dict) -> users.SignedIn:
    """Emails are case-insensitive: a second account for the same address is 409.
    Sign-ups per client address are limited (429)."""
    return users.register(current_runtime(), **body, client_address=request.remote_addr)
