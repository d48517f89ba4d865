"""Access tokens: short-lived HS256 JWTs carrying (user, tenant, role); refresh tokens:
random strings stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import jwt

from sync.core.principal import Principal

ISSUER = "drivesync"


class TokenError(Exception):
    """An access token that is missing, malformed, forged or expired."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def issue_access_token(
    principal: Principal, secret: str, ttl_s: int, family_id: str | None = None
) -> str:
    """A signed JWT for `principal`, valid for `ttl_s` seconds. `family_id` names the
    refresh-token family (the device's sign-in) it was issued with, so logging out of that
    device also voids it (see `AuthService.check_access`)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "typ": "access",
        "sub": principal.user_id,
        "tid": principal.tenant_id,
        "role": principal.role,
        "iat": now,
        "exp": now + ttl_s,
    }
    if family_id:
        claims["fam"] = family_id
    if principal.student_id:
        claims["sid"] = principal.student_id
    if principal.instructor_id:
        claims["iid"] = principal.instructor_id
    if principal.ward_ids:
        claims["wards"] = list(principal.ward_ids)
    return jwt.encode(claims, secret, algorithm="HS256")


def read_access_token(token: str, secret: str) -> Principal:
    """The principal in a valid token; `TokenError` saying what is wrong otherwise."""
    return read_access(token, secret)[0]


def read_access(token: str, secret: str) -> tuple[Principal, str | None]:
    """The principal and refresh family (None in tokens issued without one) of a valid
    token; `TokenError` saying what is wrong otherwise."""
    if not token.isascii():  # a JWT is ASCII; PyJWT would fail encoding a lone surrogate
        raise TokenError("access token is invalid")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "tid", "role"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("access token expired: refresh it") from exc
    except jwt.InvalidSignatureError as exc:
        raise TokenError("access token signature is invalid") from exc
    except jwt.PyJWTError as exc:
        raise TokenError(f"access token is invalid: {exc}") from exc
    if claims.get("typ") != "access":
        raise TokenError("not an access token")
    principal = Principal(
        tenant_id=str(claims["tid"]),
        user_id=str(claims["sub"]),
        role=str(claims["role"]),
        student_id=claims.get("sid"),
        instructor_id=claims.get("iid"),
        ward_ids=tuple(claims.get("wards", ())),
    )
    family = claims.get("fam")
    return principal, family if isinstance(family, str) else None


def new_refresh_token() -> tuple[str, str]:
    """A fresh refresh token and the hash to store for it."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    """SHA-256 hex of a refresh token (high-entropy, so no salt or slow hash is needed).
    Text that is not valid UTF-8 (a lone surrogate) cannot be a token we issued: it hashes
    to something no stored token has instead of raising."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
