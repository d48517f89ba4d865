"""The audit log as admins read it: who changed what and when, newest first, filtered by
person, entity, record and dates, a page at a time.

The rows are those the server already writes (`schemas.AuditEntry`): one per applied
mutation of a push (`sync.put` / `sync.patch` / `sync.delete`, with the fields sent, the
device and the outcome) and one per admin action (`admin.*`). Dates are days of the
school's calendar, both ends included. Pages are cut by a cursor on (`at`, `id`) rather
than an offset, so a page stays right while new rows arrive at the top.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import AuditEntry, Membership, User
from sync.errors import Invalid
from sync.records import wire_value

MAX_PAGE = 200


@dataclass(frozen=True)
class AuditQuery:
    user_id: str | None = None
    entity: str | None = None
    record_id: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    limit: int = 50
    before: str | None = None  # the `next` of the previous page


def encode_cursor(at: dt.datetime, row_id: str) -> str:
    text = f"{at.astimezone(dt.UTC).isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at_text, row_id = base64.urlsafe_b64decode(padded.encode()).decode().split("|", 1)
        at = dt.datetime.fromisoformat(at_text)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise Invalid("before is not a cursor this server gave", {"field": "before"}) from None
    if at.tzinfo is None:
        raise Invalid("before is not a cursor this server gave", {"field": "before"})
    return at, row_id


async def read_page(session: AsyncSession, query: AuditQuery, timezone: str) -> dict[str, Any]:
    """A page of the log (session bound to the school): `entries`, newest first, each with
    who made it (name, email, role), and `next`, the cursor of the following page or None."""
    if query.since and query.until and query.until < query.since:
        raise Invalid("until is before since", {"field": "until"})
    tz = ZoneInfo(timezone)
    q = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if query.user_id:
        q = q.where(AuditEntry.user_id == query.user_id)
    if query.entity:
        q = q.where(AuditEntry.entity == query.entity)
    if query.record_id:
        q = q.where(AuditEntry.record_id == query.record_id)
    if query.since:
        q = q.where(AuditEntry.at >= dt.datetime.combine(query.since, dt.time(), tz))
    if query.until:
        next_day = query.until + dt.timedelta(days=1)
        q = q.where(AuditEntry.at < dt.datetime.combine(next_day, dt.time(), tz))
    if query.before:
        at, row_id = decode_cursor(query.before)
        q = q.where(or_(AuditEntry.at < at, and_(AuditEntry.at == at, AuditEntry.id < row_id)))
    limit = min(max(query.limit, 1), MAX_PAGE)
    rows = list(await session.scalars(q.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    people = await _people(session, {r.user_id for r in rows if r.user_id})
    return {
        "entries": [_entry(r, people.get(r.user_id or "")) for r in rows],
        "next": encode_cursor(rows[-1].at, rows[-1].id) if more else None,
    }


async def _people(session: AsyncSession, user_ids: set[str]) -> dict[str, dict[str, Any]]:
    if not user_ids:
        return {}
    rows = await session.execute(
        select(User.id, User.name, User.email, Membership.role)
        .outerjoin(Membership, Membership.user_id == User.id)
        .where(User.id.in_(user_ids))
    )
    return {r.id: {"name": r.name, "email": r.email, "role": r.role} for r in rows}


def _entry(row: AuditEntry, person: dict[str, Any] | None) -> dict[str, Any]:
    person = person or {}
    return {
        "id": row.id,
        "at": wire_value(row.at),
        "user_id": row.user_id,
        "user_name": person.get("name"),
        "user_email": person.get("email"),
        "role": person.get("role"),
        "action": row.action,
        "entity": row.entity,
        "record_id": row.record_id,
        "rev": row.rev,
        "details": row.details or {},
    }
