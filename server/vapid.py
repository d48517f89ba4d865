"""VAPID key pairs for Web Push (RFC 8292): a P-256 key, in the encodings browsers and
push libraries expect."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_vapid_keys() -> tuple[str, str]:
    """(private key as base64url raw 32 bytes, public key as base64url uncompressed point —
    the `applicationServerKey` a browser subscribes with)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(private), _b64url(public)


def public_key_of(private_b64: str) -> str:
    """The applicationServerKey for a configured private key."""
    raw = base64.urlsafe_b64decode(private_b64 + "=" * (-len(private_b64) % 4))
    key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(public)
