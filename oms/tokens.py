"""Bearer tokens: HS256 JWTs carrying the caller's id, role and token version.

No HTTP here: the users module issues tokens, `oms.http` reads them from requests.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from oms.config import Settings
from oms.errors import Unauthenticated

CUSTOMER = "customer"
ADMIN = "admin"
ROLES = (CUSTOMER, ADMIN)
ALGORITHM = "HS256"
CLOCK_SKEW_SECONDS = 5
VERIFIED_TOKENS_KEPT = 4096  # the tokens of that many recent clients (~2 MiB)


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
    """The caller a token names; Unauthenticated if it is expired, forged or malformed."""
    caller, expires = _verified(settings.jwt_secret, settings.jwt_ttl_seconds, token)
    if expires <= datetime.now(UTC).timestamp():
        raise Unauthenticated("The token has expired.")
    return caller


@functools.lru_cache(maxsize=VERIFIED_TOKENS_KEPT)
def _verified(secret: str, ttl_seconds: int, token: str) -> tuple[Caller, float]:
    """The caller of a token whose signature and claims hold, and when it expires. A
    client sends its token with every request: checked once, it is only looked up again
    (a forged or malformed one raises and is never kept)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "role", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthenticated("The token has expired.") from error
    except jwt.InvalidTokenError as error:
        raise Unauthenticated("The token is invalid.") from error
    if claims["role"] not in ROLES or not isinstance(claims["sub"], str):
        raise Unauthenticated("The token is invalid.")
    version = claims.get("ver", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise Unauthenticated("The token is invalid.")
    issued, expires = claims["iat"], claims["exp"]
    now = datetime.now(UTC).timestamp()
    # Never honour a lifetime longer than configured, nor a token issued in the future.
    if expires - issued > ttl_seconds or issued > now + CLOCK_SKEW_SECONDS:
        raise Unauthenticated("The token is invalid.")
    return Caller(user_id=claims["sub"], role=claims["role"], token_version=version), expires
