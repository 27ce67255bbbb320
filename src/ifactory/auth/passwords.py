"""Password hashing with Argon2id (argon2-cffi's RFC 9106 defaults)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
# Bounded so that a huge "password" cannot make hashing a denial of service.
MAX_LENGTH = 1024

_hasher = PasswordHasher()


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Hash with other Argon2 parameters from now on (e.g. cheap ones in tests); returns the old."""
    global _hasher
    previous, _hasher = _hasher, hasher
    _dummy_hash.cache_clear()
    return previous


def check_policy(password: str) -> str | None:
    """Why `password` is not acceptable, or None when it is."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    """An Argon2id hash of `password` (salted; the password itself is never stored)."""
    return _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not-a-real-password: used to spend the same time on unknown users")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; without a hash, spends the time of a check and fails."""
    if len(password) > MAX_LENGTH:
        password = password[:MAX_LENGTH]
        password_hash = None
    try:
        # An unknown user or a token-only account is checked against a dummy hash, so the
        # response time does not tell which usernames exist.
        matched = _hasher.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with older parameters and should be renewed at next login."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
