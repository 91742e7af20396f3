"""Bearer tokens: HS256 JWTs carrying the caller's id and role."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import jwt
from flask import g, request
from flask_smorest import Blueprint
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from oms.config import Settings
from oms.http.app import current_runtime

CUSTOMER = "customer"
ADMIN = "admin"
ROLES = (CUSTOMER, ADMIN)
ALGORITHM = "HS256"
SECURITY = [{"bearerAuth": []}]

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Caller:
    user_id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


def issue_token(settings: Settings, user_id: str, role: str) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "role": role,
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
    return Caller(user_id=claims["sub"], role=claims["role"])


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
    return read_token(settings, token.strip())


def _unauthorized(message: str) -> Unauthorized:
    return Unauthorized(message, www_authenticate=WWWAuthenticate("bearer"))
