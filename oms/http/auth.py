"""Bearer tokens: HS256 JWTs carrying the caller's id and role."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import jwt
from flask import current_app, g, request
from flask_smorest import Blueprint
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from oms.config import Settings
from oms.http.app import current_runtime

CUSTOMER = "customer"
ADMIN = "admin"
ROLES = (CUSTOMER, ADMIN)
ALGORITHM = "HS256"
CLOCK_SKEW_SECONDS = 5
TOKEN_CHECK = "oms.token_check"  # app.extensions: (user_id, role, version) -> still valid?
SECURITY = [{"bearerAuth": []}]

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Caller:
    user_id: str
    role: str
    token_version: int = 0

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


def issue_token(settings: Settings, user_id: str, role: str, version: int = 0) -> str:
    """`ver` is the user's token version: raised when the password or role changes."""
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "role": role,
        "ver": version,
        "iat": now,
        "exp": now + timedelta(seconds=settings.jwt_ttl_seconds),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def read_token(settings: Settings, token: str) -> Caller:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "role", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise _unauthorized("The token has expired.") from error
    except jwt.InvalidTokenError as error:
        raise _unauthorized("The token is invalid.") from error
    if claims["role"] not in ROLES or not isinstance(claims["sub"], str):
        raise _unauthorized("The token is invalid.")
    version = claims.get("ver", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise _unauthorized("The token is invalid.")
    issued, expires = claims["iat"], claims["exp"]
    now = datetime.now(UTC).timestamp()
    # Never honour a lifetime longer than configured, nor a token issued in the future.
    if expires - issued > settings.jwt_ttl_seconds or issued > now + CLOCK_SKEW_SECONDS:
        raise _unauthorized("The token is invalid.")
    return Caller(user_id=claims["sub"], role=claims["role"], token_version=version)


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
