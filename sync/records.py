"""Turning table rows into wire records (the `record` of pushes, pulls and the journal).

A record is shaped for the schema version its reader speaks (`RecordContext.schema_version`):
the only difference so far is a trip segment's `points`, in the list form for version 1 and
the compact form (sync.core.track) for version 2, whichever form the row stores."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import StudentInstructor, Tenant
from sync.core.entities import ENTITIES
from sync.core.track import to_compact, to_points

#: Fields whose wire form depends on the schema version: (entity, field) -> version -> form.
#: Versions not listed get the field as stored.
VERSIONED: dict[tuple[str, str], dict[int, Callable[[Any], Any]]] = {
    ("trip_segment", "points"): {1: to_points, 2: to_compact},
}


def wire_value(value: Any) -> Any:
    """A column value as JSON: UTC timestamps end in Z, dates are ISO."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class RecordContext:
    """What a record needs beyond its own row: the school's timezone (availability),
    students' instructor ids (student), the reader's schema version (the form of trip
    points) and whether the reader is staff (`staff_only` fields). Loaded once per page, for
    the rows on it. `staff` defaults to False so that a caller who forgets to say who reads
    hands out less, never more."""

    def __init__(
        self,
        timezone: str,
        instructor_ids: dict[str, list[str]],
        schema_version: int = 1,
        *,
        staff: bool = False,
    ) -> None:
        self.timezone = timezone
        self.instructor_ids = instructor_ids
        self.schema_version = schema_version
        self.staff = staff

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        tenant_id: str,
        student_ids: Iterable[str] = (),
        schema_version: int = 1,
        *,
        staff: bool = False,
    ) -> RecordContext:
        tz = await session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
        wanted = sorted(set(student_ids))
        assigned: dict[str, list[str]] = defaultdict(list)
        if wanted:
            rows = await session.execute(
                select(StudentInstructor.student_id, StudentInstructor.instructor_id)
                .where(StudentInstructor.student_id.in_(wanted))
                .order_by(StudentInstructor.student_id, StudentInstructor.instructor_id)
            )
            for student_id, instructor_id in rows:
                assigned[student_id].append(instructor_id)
        return cls(tz or "UTC", assigned, schema_version, staff=staff)


@cache
def record_columns(entity: str, table: Any) -> list[Any]:
    """The columns a record is built from (pulls select only these, as plain rows: no ORM
    objects, no decoding of bookkeeping such as `field_hlc`)."""
    names = ("id", "rev", "updated_at", *ENTITIES[entity].record_fields)
    present = set(table.__table__.c.keys())
    return [getattr(table, n) for n in names if n in present]


def _joined(source: str, row: Any, ctx: RecordContext) -> Any:
    """A record field joined in from elsewhere (an entity's `joined` sources)."""
    if source == "school_timezone":
        return ctx.timezone
    if source == "assigned_instructors":
        return list(ctx.instructor_ids.get(row.id, ()))
    raise KeyError(source)  # pragma: no cover - a registry entry names an unknown source


def to_record(entity: str, row: Any, ctx: RecordContext) -> dict[str, Any]:
    """The wire form of one row: id, rev, updated_at and the entity's record fields (less
    its staff-only ones when the reader is not staff)."""
    spec = ENTITIES[entity]
    joined = spec.joined
    hidden = frozenset() if ctx.staff else spec.staff_only
    out: dict[str, Any] = {
        "id": row.id,
        "rev": row.rev,
        "updated_at": wire_value(row.updated_at),
    }
    for name in spec.record_fields:
        if name in hidden:
            continue
        source = joined.get(name)
        out[name] = wire_value(getattr(row, name)) if source is None else _joined(source, row, ctx)
        forms = VERSIONED.get((entity, name))
        if forms is not None and out[name] is not None:
            shape = forms.get(ctx.schema_version)
            if shape is not None:
                out[name] = shape(out[name])
    return out


def needs_assignments(entity: str) -> bool:
    """Whether this entity's records carry their students' assigned instructors."""
    return "assigned_instructors" in ENTITIES[entity].joined.values()


def student_ids_of(entity: str, rows: Sequence[Any]) -> list[str]:
    """Ids of the rows whose records need the assignments (student records)."""
    return [r.id for r in rows] if needs_assignments(entity) else []
