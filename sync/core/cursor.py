"""Pull cursors: small signed value objects the client stores and sends back untouched.

A cursor says where a replica is: tenant, user, the rev it has caught up to, the fingerprint
of the scope it was built under, the schema version and entity filter it was made for, and —
while a scope change is being followed — how far the scope diff has got. It is JSON in
base64url with an HMAC-SHA256 tag, so it is opaque to clients and any edit is detected::

    eyJ0IjoiOWY…In0.Qk1hX3l0VjNwR2x2c0lBNQ

Anything that does not verify, or that belongs to another tenant or user, is `CursorError`
and answers `410 reset_required`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, replace
from typing import Any


class CursorError(ValueError):
    """A cursor that cannot be used: tampered with, foreign, or unreadable."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class ScopeDiff:
    """Progress through the records that entered or left the scope: the target scope's
    fingerprint, the members (student and instructor ids) whose records are being walked,
    and the (rev, id) keyset position reached."""

    target: str
    after_rev: int = 0
    after_id: str = ""
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cursor:
    """Where a replica is. `init_rev` is the tenant rev when its initial sync began:
    tombstones at or below it are skipped, the replica never had those records."""

    tenant_id: str
    user_id: str
    rev: int
    scope: str
    schema_version: int
    entities: tuple[str, ...] | None = None
    init_rev: int = 0
    diff: ScopeDiff | None = None

    def advanced(self, rev: int) -> Cursor:
        return replace(self, rev=rev)

    def to_string(self, secret: str) -> str:
        """The signed, opaque form handed to clients."""
        body = asdict(self)
        payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        tag = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
        return f"{_b64(payload)}.{_b64(tag)}"

    @classmethod
    def from_string(cls, text: str, secret: str) -> Cursor:
        """Verify and read a cursor; `CursorError` if it was not made by us unchanged."""
        if not isinstance(text, str) or len(text) > 4096 or text.count(".") != 1:
            raise CursorError("malformed cursor")
        payload_text, tag_text = text.split(".")
        try:
            payload = _unb64(payload_text)
            tag = _unb64(tag_text)
        except (binascii.Error, ValueError) as exc:
            raise CursorError("malformed cursor") from exc
        expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(tag, expected):
            raise CursorError("cursor signature does not match")
        try:
            body: dict[str, Any] = json.loads(payload)
            diff = body.pop("diff")
            entities = body.pop("entities")
            return cls(
                **body,
                entities=tuple(entities) if entities is not None else None,
                diff=ScopeDiff(**{**diff, "members": tuple(diff.get("members", ()))})
                if diff
                else None,
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise CursorError("unreadable cursor") from exc
