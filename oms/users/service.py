"""Use cases of the users module: one function per thing a caller can do, one transaction each."""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import bcrypt
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession

from oms.bus import events
from oms.db import Page, choose_default, owned_by, read_first, read_page
from oms.errors import Conflict, Invalid, NotAllowed, NotFound, Unauthenticated
from oms.runtime import Runtime
from oms.tokens import ADMIN, CUSTOMER, issue_token
from oms.users import throttle
from oms.users.models import MESSAGES, Address, User
from oms.users.passwords import password_problems


@dataclass(frozen=True)
class UserView:
    user_id: str
    email: str
    first_name: str
    last_name: str
    role: str
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(user.id, user.email, user.first_name, user.last_name, user.role, user.created_at)


@dataclass(frozen=True)
class AddressView:
    address_id: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str
    created_at: datetime
    is_default: bool

    def postal_address(self) -> dict:
        return {
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "postal_code": self.postal_code,
            "country": self.country,
        }

    @classmethod
    def of(cls, address: Address) -> AddressView:
        return cls(
            address.id,
            address.line1,
            address.line2,
            address.city,
            address.postal_code,
            address.country,
            address.created_at,
            address.is_default,
        )


@dataclass(frozen=True)
class SignedIn:
    """A signed-in user: who, and the bearer token that proves it."""

    user_id: str
    email: str
    token: str


_dummy_hash: dict[int, bytes] = {}
# The profile fields a user may change, as user.updated names them.
EVENT_FIELDS = {"first_name": "firstName", "last_name": "lastName"}


class WrongPassword(NotAllowed):
    """The current password given to change it is wrong."""


def register(
    rt: Runtime,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    role: str = CUSTOMER,
    client_address: str | None = None,
) -> SignedIn:
    """A new account; `client_address` (the caller's IP) counts against the sign-up limit."""
    problems = password_problems(password, email)
    if problems:
        raise Invalid("The password is not acceptable.", {"password": problems})
    if client_address is not None:
        throttle.count_sign_up(rt, client_address)
    user = User(
        id=str(uuid.uuid4()),
        email=email.strip().lower(),
        password_hash=_hash(rt, password),
        first_name=first_name,
        last_name=last_name,
        role=role,
        created_at=datetime.now(UTC),
        token_version=0,
    )
    try:
        with rt.bus.unit_of_work(MESSAGES) as uow:
            if _find_by_email(uow.session, user.email) is not None:
                raise Conflict("A user with this email already exists.")
            uow.session.add(user)
            uow.session.flush()
            uow.publish(
                events.USER_CREATED,
                {
                    "userId": user.id,
                    "email": user.email,
                    "firstName": first_name,
                    "lastName": last_name,
                },
                correlation_id=user.id,
            )
    except IntegrityError as error:  # lost a race with the same email
        raise Conflict("A user with this email already exists.") from error
    return SignedIn(user.id, user.email, issue_token(rt.settings, user.id, role, 0))


def create_admin(rt: Runtime, email: str, password: str) -> SignedIn:
    return register(rt, email, password, "Admin", "Admin", role=ADMIN)


def login(rt: Runtime, email: str, password: str, client_address: str | None = None) -> SignedIn:
    """Refused with 429, before any hash is checked, while the account or the client's
    address is locked out after repeated failures."""
    had_failures = throttle.refuse_if_locked(rt, email, client_address)
    with rt.database.reading() as session:
        user = _find_by_email(session, email.strip().lower())
    stored = user.password_hash.encode() if user else _dummy(rt)
    # Check a hash even for unknown emails, so timing does not tell which emails exist.
    matches = _password_matches(password, stored)
    if user is None or not matches:
        throttle.record_failed_sign_in(rt, email, client_address)
        raise Unauthenticated("The email or password is wrong.")
    if had_failures:
        throttle.clear_account(rt, email)
    token = issue_token(rt.settings, user.id, user.role, user.token_version)
    return SignedIn(user.id, user.email, token)


def change_password(
    rt: Runtime, user_id: str, current_password: str, new_password: str, client_address: str | None
) -> None:
    """Every token issued before the change stops working (the token version goes up)."""
    user = _user(rt, user_id)
    throttle.refuse_if_locked(rt, user.email, client_address)
    if not _password_matches(current_password, user.password_hash.encode()):
        throttle.record_failed_sign_in(rt, user.email, client_address)
        raise WrongPassword("The current password is wrong.")
    problems = password_problems(new_password, user.email)
    if problems:
        raise Invalid("The new password is not acceptable.", {"newPassword": problems})
    new_hash = _hash(rt, new_password)
    with rt.bus.unit_of_work(MESSAGES) as uow:
        stored = uow.session.get(User, user_id, with_for_update=True)
        if stored is None:
            raise NotFound("No such user.")
        stored.password_hash = new_hash
        stored.token_version += 1
    _token_cache(rt).forget(user_id)


def token_is_current(rt: Runtime, user_id: str, role: str, version: int) -> bool:
    """Whether a token's subject still exists with this role and token version.

    Answers from a per-process cache for `token_check_ttl_seconds`: the hot path costs no
    query. A change made in this process is seen at once (the cache entry is dropped); a
    change made in another process (another gunicorn worker, another replica) is seen
    within the TTL.
    """
    return _token_cache(rt).current(rt, user_id) == (role, version)


class _TokenCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.entries: dict[str, tuple[float, tuple[str, int]]] = {}
        self.lock = threading.Lock()

    def current(self, rt: Runtime, user_id: str) -> tuple[str, int] | None:
        now = time.monotonic()
        entry = self.entries.get(user_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        with rt.database.reading() as session:
            row = session.execute(
                select(User.role, User.token_version).where(User.id == user_id)
            ).first()
        if row is None:
            return None  # never cached: a user made later under this id is not refused
        value = (row.role, row.token_version)
        with self.lock:
            if len(self.entries) > 100_000:
                self.entries.clear()
            self.entries[user_id] = (now + self.ttl, value)
        return value

    def forget(self, user_id: str) -> None:
        with self.lock:
            self.entries.pop(user_id, None)


_token_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _token_cache(rt: Runtime) -> _TokenCache:
    cache = _token_caches.get(rt.database)
    if cache is None:
        cache = _token_caches.setdefault(
            rt.database, _TokenCache(rt.settings.token_check_ttl_seconds)
        )
    return cache


def _user(rt: Runtime, user_id: str) -> User:
    with rt.database.reading() as session:
        user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def get_user(rt: Runtime, user_id: str) -> UserView:
    return UserView.of(_user(rt, user_id))


def find_user_by_email(rt: Runtime, email: str) -> UserView | None:
    """The user with this email (case-insensitive), if any."""
    with rt.database.reading() as session:
        user = _find_by_email(session, email.strip().lower())
        return None if user is None else UserView.of(user)


def get_users(rt: Runtime, user_ids: Iterable[str]) -> dict[str, UserView]:
    """The users that exist among `user_ids`, by id (one query)."""
    with rt.database.reading() as session:
        rows = session.scalars(select(User).where(User.id.in_(set(user_ids)))).all()
        return {row.id: UserView.of(row) for row in rows}


def add_address(rt: Runtime, user_id: str, fields: dict) -> AddressView:
    """Save an address; a user's first address becomes their default."""
    get_user(rt, user_id)
    address = Address(id=str(uuid.uuid4()), user_id=user_id, created_at=datetime.now(UTC), **fields)
    with rt.bus.unit_of_work(MESSAGES) as uow:
        has_one = uow.session.scalar(select(exists().where(Address.user_id == user_id)))
        address.is_default = not has_one
        uow.session.add(address)
    return AddressView.of(address)


def list_addresses(rt: Runtime, user_id: str, page: int, page_size: int) -> Page:
    query = select(Address).where(Address.user_id == user_id)
    order_by = (Address.created_at, Address.id)
    return read_page(rt.database, query, order_by, page, page_size, AddressView.of)


def get_address(rt: Runtime, user_id: str, address_id: str) -> AddressView:
    """A saved address of this user; another user's address is not found, not forbidden."""
    with rt.database.reading() as session:
        return AddressView.of(_own_address(session, user_id, address_id))


def default_address(rt: Runtime, user_id: str) -> AddressView | None:
    query = select(Address).where(Address.user_id == user_id, Address.is_default)
    return read_first(rt.database, query, AddressView.of)


def mark_default_address(
    rt: Runtime, user_id: str, address_id: str, is_default: bool = True
) -> AddressView:
    """Make this address the user's default (the previous default stops being one)."""
    with rt.bus.unit_of_work(MESSAGES) as uow:
        address = _own_address(uow.session, user_id, address_id)
        choose_default(uow.session, Address, address, is_default)
    return AddressView.of(address)


def delete_address(rt: Runtime, user_id: str, address_id: str) -> None:
    """Forget a saved address. Orders keep their own copy of where they ship to."""
    with rt.bus.unit_of_work(MESSAGES) as uow:
        uow.session.delete(_own_address(uow.session, user_id, address_id))


def update_profile(rt: Runtime, user_id: str, changes: dict) -> UserView:
    """Change the user's first and/or last name; publishes user.updated with what changed."""
    with rt.bus.unit_of_work(MESSAGES) as uow:
        user = uow.session.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        changed = {name: value for name, value in changes.items() if getattr(user, name) != value}
        for name, value in changed.items():
            setattr(user, name, value)
        if changed:
            data = {EVENT_FIELDS[name]: value for name, value in changed.items()}
            uow.publish(events.USER_UPDATED, {"userId": user.id, **data}, correlation_id=user.id)
    return UserView.of(user)


def _own_address(session: OrmSession, user_id: str, address_id: str) -> Address:
    address = owned_by(session, Address, address_id, user_id)
    if address is None:
        raise NotFound("No such address.")
    return address


def _find_by_email(session: OrmSession, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email)).first()


def _hash(rt: Runtime, password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rt.settings.bcrypt_rounds)).decode()


def _password_matches(password: str, stored: bytes) -> bool:
    candidate = password.encode()
    return len(candidate) <= 72 and bcrypt.checkpw(candidate, stored)


def _dummy(rt: Runtime) -> bytes:
    rounds = rt.settings.bcrypt_rounds
    if rounds not in _dummy_hash:
        _dummy_hash[rounds] = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds))
    return _dummy_hash[rounds]
