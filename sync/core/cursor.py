"""Pull cursors: small signed value objects the client stores and sends back untouched.

A cursor says where a replica is: the rev it has caught up to, the fingerprint of the scope
it was built under, the schema version and entity filter it was made for, and — while a scope
change is being followed — how far the scope diff has got. It is bound to one tenant and user.

On the wire it is compact binary in base64url, about 50 characters, because a device sends it
with every poll over links as slow as 64 kbit/s::

    AgQBhcoBAQEjRWeJq83vASNFZ4mrze-jDdQ5Yh2G4kLX0m

Tenant and user are not written in it: the client's token already says who is asking, and
they are folded into the 96-bit HMAC-SHA256 tag, so a cursor shown by another user or school
does not verify. Anything that does not verify (an edit of any character, another secret,
another user) or cannot be read is `CursorError`, answered `410 reset_required`.

Cursors issued before this format (`<base64url JSON>.<base64url tag>`, tenant and user
inside) are still read, so devices keep their replicas across the upgrade.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any

from sync.core.entities import ENTITIES


class CursorError(ValueError):
    """A cursor that cannot be used: tampered with, foreign, or unreadable."""


# The longest cursor read (the pull and checksum routes refuse longer query values anyway).
MAX_LENGTH = 4096
_VERSION = 2
_TAG_BYTES = 12  # 96 bits: forging one is 2^96 guesses, each a request
_B64 = re.compile(r"[A-Za-z0-9_-]*")
_HEX32 = re.compile(r"[0-9a-f]{32}")
# Flags of the compact form.
_ENTITIES, _ENTITY_NAMES, _DIFF, _SCOPE_HEX, _TARGET_HEX, _MEMBER_UUIDS = 1, 2, 4, 8, 16, 32
# Entity filters are a bitmask over the registry's names in sorted order; the registry's
# digest travels with the mask, so a cursor made before an entity was added or removed is
# refused (reset) rather than read as another filter.
_NAMES = tuple(sorted(ENTITIES))
_REGISTRY = hashlib.sha256(",".join(_NAMES).encode()).digest()[:2]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Decode base64url, refusing any spelling but the canonical one (unused padding bits
    set, stray characters): otherwise several strings would verify as the same cursor."""
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        raise CursorError("malformed cursor")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CursorError("malformed cursor") from exc
    if _b64(data) != text:
        raise CursorError("malformed cursor")
    return data


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
        """The signed, opaque, compact form handed to clients (deterministic: the same
        cursor always gives the same text)."""
        payload = _encode(self)
        return _b64(payload + _tag(secret, self.tenant_id, self.user_id, payload))

    @classmethod
    def from_string(cls, text: str, secret: str, tenant_id: str, user_id: str) -> Cursor:
        """Verify and read a cursor of this tenant and user; `CursorError` if it was not
        made by us, for them, unchanged."""
        if not isinstance(text, str) or not text or len(text) > MAX_LENGTH:
            raise CursorError("malformed cursor")
        if "." in text:
            cursor = _legacy(text, secret)
            if cursor.tenant_id != tenant_id or cursor.user_id != user_id:
                raise CursorError("cursor belongs to another school or user")
            return cursor
        data = _unb64(text)
        payload, tag = data[:-_TAG_BYTES], data[-_TAG_BYTES:]
        if len(payload) < 2 or not hmac.compare_digest(
            tag, _tag(secret, tenant_id, user_id, payload)
        ):
            raise CursorError("cursor signature does not match")
        try:
            return _decode(payload, tenant_id, user_id)
        except (IndexError, ValueError, UnicodeDecodeError) as exc:
            raise CursorError("unreadable cursor") from exc


def _tag(secret: str, tenant_id: str, user_id: str, payload: bytes) -> bytes:
    bound = b"drivesync-cursor\0%s\0%s\0" % (tenant_id.encode(), user_id.encode())
    return hmac.new(secret.encode(), bound + payload, hashlib.sha256).digest()[:_TAG_BYTES]


# --- the compact form ----------------------------------------------------------------------
def _uvarint(n: int) -> bytes:
    if n < 0:
        raise ValueError("negative")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(value: str) -> bytes:
    raw = value.encode()
    return _uvarint(len(raw)) + raw


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _encode(c: Cursor) -> bytes:
    flags = 0
    body = bytearray(_uvarint(c.rev) + _uvarint(c.init_rev) + _uvarint(c.schema_version))
    if _HEX32.fullmatch(c.scope):
        flags |= _SCOPE_HEX
        body += bytes.fromhex(c.scope)
    else:
        body += _text(c.scope)
    if c.entities is not None:
        flags |= _ENTITIES
        if (
            all(name in ENTITIES for name in c.entities)
            and len(set(c.entities)) == len(c.entities)
            and list(c.entities) == sorted(c.entities)
        ):
            mask = sum(1 << _NAMES.index(name) for name in c.entities)
            raw = mask.to_bytes((len(_NAMES) + 7) // 8, "little")
            body += _uvarint(len(raw)) + raw + _REGISTRY
        else:  # not a filter of known names in canonical order: spelled out
            flags |= _ENTITY_NAMES
            body += _uvarint(len(c.entities)) + b"".join(_text(n) for n in c.entities)
    if c.diff is not None:
        flags |= _DIFF
        d = c.diff
        if _HEX32.fullmatch(d.target):
            flags |= _TARGET_HEX
            body += bytes.fromhex(d.target)
        else:
            body += _text(d.target)
        body += _uvarint(d.after_rev) + _text(d.after_id) + _uvarint(len(d.members))
        if all(_is_uuid(m) for m in d.members):
            flags |= _MEMBER_UUIDS
            body += b"".join(uuid.UUID(m).bytes for m in d.members)
        else:
            body += b"".join(_text(m) for m in d.members)
    return bytes([_VERSION, flags]) + bytes(body)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def uvarint(self) -> int:
        n = shift = 0
        while True:
            byte = self.take(1)[0]
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return n
            if shift > 70:
                raise ValueError("varint too long")

    def text(self) -> str:
        return self.take(self.uvarint()).decode()


def _decode(payload: bytes, tenant_id: str, user_id: str) -> Cursor:
    r = _Reader(payload)
    version, flags = r.take(1)[0], r.take(1)[0]
    if version != _VERSION or flags >= 64:
        raise ValueError("unknown cursor version")
    rev, init_rev, schema_version = r.uvarint(), r.uvarint(), r.uvarint()
    scope = r.take(16).hex() if flags & _SCOPE_HEX else r.text()
    entities: tuple[str, ...] | None = None
    if flags & _ENTITIES:
        if flags & _ENTITY_NAMES:
            entities = tuple(r.text() for _ in range(r.uvarint()))
        else:
            mask = int.from_bytes(r.take(r.uvarint()), "little")
            if r.take(2) != _REGISTRY:
                raise ValueError("cursor was made for another set of entities")
            entities = tuple(name for i, name in enumerate(_NAMES) if mask >> i & 1)
    diff = None
    if flags & _DIFF:
        target = r.take(16).hex() if flags & _TARGET_HEX else r.text()
        after_rev, after_id, count = r.uvarint(), r.text(), r.uvarint()
        if flags & _MEMBER_UUIDS:
            members = tuple(str(uuid.UUID(bytes=r.take(16))) for _ in range(count))
        else:
            members = tuple(r.text() for _ in range(count))
        diff = ScopeDiff(target, after_rev, after_id, members)
    if r.at != len(payload):
        raise ValueError("trailing bytes")
    return Cursor(tenant_id, user_id, rev, scope, schema_version, entities, init_rev, diff)


# --- the format before 2026-12 -------------------------------------------------------------
def _legacy(text: str, secret: str) -> Cursor:
    """Read a cursor of the earlier JSON form (`<payload>.<16-byte tag>`)."""
    if text.count(".") != 1:
        raise CursorError("malformed cursor")
    payload_text, tag_text = text.split(".")
    payload, tag = _unb64(payload_text), _unb64(tag_text)
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(tag, expected):
        raise CursorError("cursor signature does not match")
    try:
        body: dict[str, Any] = json.loads(payload)
        diff = body.pop("diff")
        entities = body.pop("entities")
        return Cursor(
            **body,
            entities=tuple(entities) if entities is not None else None,
            diff=ScopeDiff(**{**diff, "members": tuple(diff.get("members", ()))}) if diff else None,
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise CursorError("unreadable cursor") from exc


def legacy_string(cursor: Cursor, secret: str) -> str:
    """The earlier JSON form of a cursor (tests use it to show old cursors still read)."""
    payload = json.dumps(asdict(cursor), separators=(",", ":"), sort_keys=True).encode()
    tag = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
    return f"{_b64(payload)}.{_b64(tag)}"
