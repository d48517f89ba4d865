"""Password hashing with Argon2id (argon2-cffi).

Parameters: OWASP's first recommended Argon2id setting (19 MiB, 2 passes, 1 lane). One lane
keeps a check on one core: with the library's defaults (64 MiB, 3 passes, 4 lanes) every
check took both cores of a 2-core server, and a login flood doubled other schools' p99.
Hashes made with other parameters still verify, and are replaced at the next sign-in
(`needs_rehash`)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# A real hash of a random password: verifying against it when the user does not exist
# costs the same time as a real check, so response time does not reveal which emails exist.
_DUMMY = _HASHER.hash("no-such-user-dummy-password")


def hash_password(password: str) -> str:
    """An Argon2id hash string for storage."""
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; burns the same time when there is no stored
    hash (None, or the empty text of an account invited but not yet accepted), and is
    then False whatever the password — the dummy's own password included."""
    try:
        return _HASHER.verify(stored or _DUMMY, password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash was made with other parameters than today's."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return False
