"""Password hashing with Argon2id (argon2-cffi), parameters from the library's defaults."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# A real hash of a random password: verifying against it when the user does not exist
# costs the same time as a real check, so response time does not reveal which emails exist.
_DUMMY = _HASHER.hash("no-such-user-dummy-password")


def hash_password(password: str) -> str:
    """An Argon2id hash string for storage."""
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; burns the same time when `stored` is None."""
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False
