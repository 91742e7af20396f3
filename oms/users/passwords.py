"""The password policy (NIST SP 800-63B style): long enough, not guessable, fits bcrypt.

No composition rules; instead at least 12 characters, not the account's email (or its
part before the @), not one of about 20,000 common passwords (the list Django ships,
`data/common-passwords.txt.gz`, after Royce Williams' 2017 compilation), not made of
fewer than four distinct characters, not one shorter string repeated, and at most
72 bytes in UTF-8 (bcrypt's limit: a longer password is refused rather than silently cut).
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

MIN_LENGTH = 12
BCRYPT_MAX_BYTES = 72
MIN_DISTINCT_CHARACTERS = 4


@functools.cache
def common_passwords() -> frozenset[str]:
    data = resources.files("oms.users").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def password_problems(password: str, email: str | None = None) -> list[str]:
    """Why this password is refused; empty when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return [f"Use at least {MIN_LENGTH} characters."]
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        return [f"Must be at most {BCRYPT_MAX_BYTES} bytes long."]
    folded = password.strip().lower()
    if len(set(folded)) < MIN_DISTINCT_CHARACTERS:
        return ["Use more different characters."]
    if email:
        address = email.strip().lower()
        if folded in (address, address.split("@", 1)[0]):
            return ["Do not use your email address as the password."]
    if folded in common_passwords() or folded.replace(" ", "") in common_passwords():
        return ["This password is too common; choose another."]
    if _repeats(folded):
        return ["Do not repeat a word or a pattern."]
    return []


def _repeats(text: str) -> bool:
    """Whether `text` is one shorter string over and over ("passwordpassword")."""
    return any(
        len(text) % size == 0 and text == text[:size] * (len(text) // size)
        for size in range(1, len(text) // 2 + 1)
    )
