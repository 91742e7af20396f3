"""Who is calling: the bearer token of a request (see `oms.tokens`) and role checks on routes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_smorest import Blueprint
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from oms import tokens
from oms.config import Settings
from oms.errors import Unauthenticated
from oms.http.app import current_runtime
from oms.tokens import ADMIN, CUSTOMER, ROLES, Caller, issue_token

__all__ = [
    "ADMIN",
    "CUSTOMER",
    "ROLES",
    "TOKEN_CHECK",
    "Caller",
    "current_caller",
    "issue_token",
    "read_token",
    "requires",
]

TOKEN_CHECK = "oms.token_check"  # app.extensions: (user_id, role, version) -> still valid?
SECURITY = [{"bearerAuth": []}]

View = TypeVar("View", bound=Callable[..., Any])


def read_token(settings: Settings, token: str) -> Caller:
    """The caller a bearer token names, or 401 with a `WWW-Authenticate: Bearer` header."""
    try:
        return tokens.read_token(settings, token)
    except Unauthenticated as error:
        raise _unauthorized(error.message) from error


def current_caller() -> Caller:
    return g.oms_caller


def requires(role: str | None = None) -> Callable[[View], View]:
    """Authenticate the caller before anything else (401), then check the role (403)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            g.oms_caller = _authenticate(current_runtime().settings)
            if role is not None and g.oms_caller.role != role:
                raise Forbidden("You are not allowed to do this.")
            return view(*args, **kwargs)

        return Blueprint.doc(security=SECURITY)(guarded)  # type: ignore[return-value]

    return decorator


def _authenticate(settings: Settings) -> Caller:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("A bearer token is required.")
    caller = read_token(settings, token.strip())
    still_valid = current_app.extensions.get(TOKEN_CHECK)
    if still_valid is not None and not still_valid(
        caller.user_id, caller.role, caller.token_version
    ):
        raise _unauthorized("The token is no longer valid; sign in again.")
    return caller


def _unauthorized(message: str) -> Unauthorized:
    return Unauthorized(message, www_authenticate=WWWAuthenticate("bearer"))
