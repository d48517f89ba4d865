"""A push's mutations as typed commands, and what applying one yields.

`parse_command` turns one raw mutation of a push into a `Command` (known entity and op, UUID
id, parsed and clamped hlc, data validated against the entity's write model), or raises
`Reject`. Entity rules raise `Reject` to refuse a command with a stable code; the push turns
it into a `rejected` result and a journal entry, and goes on with the batch. A rule that
applies a command returns an `Outcome`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from sync.core.entities import ENTITIES, SERVER_FIELDS, EntitySpec
from sync.core.hlc import Hlc, clamp
from sync.core.principal import Principal

Op = Literal["put", "patch", "delete"]
# Revs are 64-bit columns; a larger base_rev could not even be compared with one in SQL.
MAX_REV = 2**63 - 1
Status = Literal["applied", "merged", "conflict", "rejected"]


class Reject(Exception):
    """A command refused as a whole: `code` is stable (invalid, forbidden, not_found,
    read_only_field, immutable, deleted, invalid_transition, unavailable, overlap, in_past,
    not_assigned), `field` names the offending field when there is one."""

    def __init__(self, code: str, message: str, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details)
        if field is not None:
            self.details["field"] = field


@dataclass
class Command:
    """One mutation checked for shape: known entity and op, UUID id, parsed hlc, and `data`
    validated against the entity's write model (only the fields the client sent)."""

    seq: int
    spec: EntitySpec
    id: str
    op: Op
    hlc: str
    base_rev: int | None
    data: dict[str, Any]
    raw: dict[str, Any]
    clamped: bool = False
    skew_ms: int = 0


@dataclass
class Outcome:
    """What a rule did: status, the rev, the committed row (the result's `record` is built
    from it after the batch's flush, with no query), and what lost."""

    status: Status
    rev: int | None
    row: Any = None
    loser: dict[str, Any] | None = None
    lost: dict[str, Any] | None = None
    include_record: bool = True


def parse_command(raw: dict[str, Any], who: Principal, now_ms: int, max_skew_ms: int) -> Command:
    """Check a raw mutation's shape and the writer's role, or `Reject` naming the field."""
    seq = raw["seq"]
    entity = raw.get("entity")
    if not isinstance(entity, str) or entity not in ENTITIES:
        raise Reject("invalid", f"unknown entity {entity!r}", "entity")
    spec = ENTITIES[entity]
    op = raw.get("op")
    if op not in ("put", "patch", "delete"):
        raise Reject("invalid", "op must be put, patch or delete", "op")
    rid = raw.get("id")
    try:
        if not isinstance(rid, str) or len(rid) > 36:
            raise ValueError
        rid = str(uuid.UUID(rid))
    except ValueError:
        raise Reject("invalid", "id must be a UUID string", "id") from None
    hlc_text = raw.get("hlc")
    try:
        if not isinstance(hlc_text, str):
            raise ValueError("missing")
        sent = Hlc.parse(hlc_text)
    except ValueError as exc:
        raise Reject("invalid", f"hlc is not a valid stamp: {exc}", "hlc") from None
    stamp, clamped = clamp(sent, now_ms, max_skew_ms)
    base_rev = raw.get("base_rev")
    if base_rev is not None and (
        not isinstance(base_rev, int) or isinstance(base_rev, bool) or not 0 <= base_rev <= MAX_REV
    ):
        raise Reject("invalid", "base_rev must be a rev: an integer from 0 to 2**63-1", "base_rev")
    if not spec.writers:
        raise Reject("forbidden", f"{entity} is a read-only replica", "entity")
    if who.role not in spec.writers:
        raise Reject("forbidden", f"a {who.role} may not write {entity}")
    data: dict[str, Any] = {}
    if op != "delete":
        body = raw.get("data")
        if not isinstance(body, dict):
            raise Reject("invalid", "data must be an object", "data")
        for name in body:
            if name in SERVER_FIELDS or name in spec.read_only_fields:
                raise Reject("read_only_field", f"{name} is set by the server", str(name))
        data = validate_fields(spec.write_model, body)
    skew = sent.ms - now_ms if clamped else 0
    return Command(seq, spec, rid, op, str(stamp), base_rev, data, raw, clamped, skew)


def validate_fields(model: type[BaseModel] | None, body: dict[str, Any]) -> dict[str, Any]:
    """The fields the client sent, validated and normalised (UUIDs, UTC times)."""
    assert model is not None
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "data"
        raise Reject("invalid", f"{where}: {first['msg']}", where) from None
    # Only the sent fields: dumping the whole model would deep-copy defaults too.
    return parsed.model_dump(include=set(body))
