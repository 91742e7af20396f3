"""Errors a use case reports to its caller, in the domain's words; `oms.http` maps each
kind to its HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request the domain refuses (bad input it cannot name a field for)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    """No such thing, or one that belongs to someone else (its existence is not revealed)."""


class Conflict(DomainError):
    """The request contradicts the current state (a duplicate, a state that forbids it)."""


class Invalid(DomainError):
    """Well-formed input the domain cannot accept; `errors` maps fields to messages."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class Unauthenticated(DomainError):
    """The caller could not prove who they are."""


class NotAllowed(DomainError):
    """The caller is known but may not do this."""


class TooManyRequests(DomainError):
    """A rate limit or a lockout applies: `limit` tries per `window` seconds; try again
    after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int, limit: int, window: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.limit = limit
        self.window = window
