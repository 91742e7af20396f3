"""Errors a use case reports to its caller; each HTTP port maps them to a status code."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    """Well-formed input the domain cannot accept (422); `errors` maps fields to messages."""

    status_code = 422

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class Unauthenticated(DomainError):
    status_code = 401


class TooManyRequests(DomainError):
    """A rate limit or a lockout applies: try again after `retry_after` seconds."""

    status_code = 429

    def __init__(self, message: str, retry_after: int, limit: int, window: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {
            "Retry-After": str(self.retry_after),
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(self.retry_after),
            "RateLimit-Policy": f"{limit};w={window}",
        }
