"""Sign-in lockout and sign-up limits, counted in the users schema (every process sees them).

Sign-in: failures are counted per account (the email) and per client address within a
window. Once a key reaches its limit it is locked for `login_lockout_seconds`, doubling
with each further failure up to `login_lockout_max_seconds`. While either key is locked
a sign-in is refused with 429 before any password is checked, so refused tries cost one
indexed read and no bcrypt. A successful sign-in clears the account's count (not the
address's: an attacker's own account must not reset the count of the address).

Sign-up: at most `register_rate_limit` accounts per client address per window.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from oms.config import Settings
from oms.errors import TooManyRequests
from oms.runtime import Runtime
from oms.users.models import MESSAGES, Throttle


def account_key(email: str) -> str:
    return f"account:{email.strip().lower()}"[:300]


def address_key(address: str | None) -> str:
    return f"address:{address or 'unknown'}"[:300]


def refuse_if_locked(rt: Runtime, email: str, address: str | None) -> bool:
    """429 when the account or the address is locked; whether the account has failures."""
    now = datetime.now(UTC)
    keys = (account_key(email), address_key(address))
    with rt.database.reading() as session:
        rows = {
            row.key: row for row in session.scalars(select(Throttle).where(Throttle.key.in_(keys)))
        }
    settings = rt.settings
    for key, limit in zip(keys, _login_limits(settings), strict=True):
        row = rows.get(key)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            raise TooManyRequests(
                "Too many failed sign-ins; try again later.",
                retry_after=_seconds_until(row.locked_until, now),
                limit=limit,
                window=settings.login_failure_window_seconds,
            )
    return keys[0] in rows


def record_failed_sign_in(rt: Runtime, email: str, address: str | None) -> None:
    settings = rt.settings
    keys = (account_key(email), address_key(address))
    _count(rt, zip(keys, _login_limits(settings), strict=True), lock=True)


def clear_account(rt: Runtime, email: str) -> None:
    with rt.bus.unit_of_work(MESSAGES) as uow:
        uow.session.execute(delete(Throttle).where(Throttle.key == account_key(email)))


def count_sign_up(rt: Runtime, address: str | None) -> None:
    """429 past the sign-up limit of this address; else count this sign-up."""
    settings = rt.settings
    key = f"register:{address or 'unknown'}"[:300]
    now = datetime.now(UTC)
    window = timedelta(seconds=settings.register_rate_window_seconds)
    with rt.bus.unit_of_work(MESSAGES) as uow:
        row = uow.session.get(Throttle, key, with_for_update=True)
        if row is None or row.window_started_at + window <= now:
            if row is None:
                row = Throttle(key=key, attempts=0, window_started_at=now)
                uow.session.add(row)
            row.attempts, row.window_started_at = 0, now
        if row.attempts >= settings.register_rate_limit:
            raise TooManyRequests(
                "Too many sign-ups from this address; try again later.",
                retry_after=_seconds_until(row.window_started_at + window, now),
                limit=settings.register_rate_limit,
                window=settings.register_rate_window_seconds,
            )
        row.attempts += 1


def _login_limits(settings: Settings) -> tuple[int, int]:
    return settings.login_max_failures, settings.login_address_max_failures


def _count(rt: Runtime, keys_and_limits: Iterable[tuple[str, int]], lock: bool) -> None:
    settings = rt.settings
    pairs = list(keys_and_limits)
    now = datetime.now(UTC)
    window = timedelta(seconds=settings.login_failure_window_seconds)
    for attempt in range(2):  # a concurrent first failure may insert the same key
        try:
            with rt.bus.unit_of_work(MESSAGES) as uow:
                for key, limit in pairs:
                    row = uow.session.get(Throttle, key, with_for_update=True)
                    if row is None:
                        row = Throttle(key=key, attempts=0, window_started_at=now)
                        uow.session.add(row)
                    elif row.window_started_at + window <= now and not _locked(row, now):
                        row.attempts, row.window_started_at = 0, now
                    row.attempts += 1
                    if lock and row.attempts >= limit:
                        row.locked_until = now + timedelta(seconds=_lockout(settings, row, limit))
            return
        except IntegrityError:
            if attempt:
                raise


def _lockout(settings: Settings, row: Throttle, limit: int) -> float:
    """Grows with every failure past the limit: base, 2 x base, 4 x base ... up to the cap."""
    doublings = min(row.attempts - limit, 20)
    return min(settings.login_lockout_seconds * 2**doublings, settings.login_lockout_max_seconds)


def _locked(row: Throttle, now: datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds() + 0.999))
