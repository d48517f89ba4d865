"""Who wants what, how, and when: the event types, default channels, a user's own choices,
quiet hours and opt-out.

Stored in `notification_preferences`, one row per (user, event type). The row with event
type "*" holds the user's quiet hours and global opt-out; a row for an event type holds the
channels chosen for it (authoritative when present, even if empty) and may carry its own
quiet hours or opt-out. With no row, the defaults apply: every event by push and email, plus
SMS for booking confirmed / cancelled and reminders when the user has a phone number.

Quiet hours are wall-clock times in the school's timezone. A delivery falling inside them is
deferred to their end, computed in that timezone, so it lands at 07:00 local even on the night
the clocks change; it is never dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import NotificationPreference, Tenant
from sync.core.principal import Principal
from sync.errors import Invalid
from sync.store import Store
from workers.config import CHANNELS
from workers.session import bound


class Unset:
    """Marks a field left out of a partial update (as opposed to an explicit null)."""


UNSET = Unset()

# Every event type the dispatcher knows, with a line for people (the preferences API).
EVENT_TYPES: dict[str, str] = {
    "booking_requested": "A student asked for a lesson (to the instructor)",
    "booking_confirmed": "Your lesson was confirmed",
    "booking_cancelled": "A lesson was cancelled",
    "booking_declined": "A lesson request was declined",
    "booking_move_requested": "A student asked to move a lesson (to the instructor)",
    "booking_move_accepted": "Your lesson was moved",
    "booking_move_declined": "A request to move a lesson was declined",
    "booking_reminder": "Reminders 24 hours and 2 hours before a lesson",
    "series_requested": "A student asked for recurring lessons (to the instructor)",
    "series_confirmed": "Your recurring lessons were confirmed",
    "series_declined": "A request for recurring lessons was declined",
    "series_cancelled": "Recurring lessons were cancelled",
    "instructor_digest": "Tomorrow's lessons, every evening (instructors)",
    "lesson_completed": "Summary of a finished lesson",
    "mock_test_passed": "A mock theory test was passed",
    "test_reminder": "Reminder the evening before a driving test (students and guardians)",
    "conflict_stored": "A sync conflict needs an admin",
    "payment_succeeded": "Payment receipt",
    "payment_failed": "A card payment did not go through",
    "payment_refunded": "A payment was refunded",
    "credit_note_issued": "A credit note for a refund (its PDF attached to the email)",
    "time_off_clash": "Your instructor is away at the time of a confirmed lesson",
    "time_off_clash_admin": "Time off lies over confirmed lessons (admins)",
    "message_received": "A new message (push at once; email only if still unread later)",
}
ALL_EVENTS = "*"
# Account mail (workers/notifications/accounts.py) carries a one-time link to set a
# password: by email only (never push or SMS, whose text shows on a lock screen), whatever
# the preferences say, and not listed above (there is nothing to choose).
ACCOUNT_EVENTS = frozenset({"invitation_requested", "password_reset_requested"})
# An admin's test of a template (workers/notifications/template_admin.py) goes by email to
# them alone, whatever their preferences, like account mail.
EMAIL_ONLY = ACCOUNT_EVENTS | {"template_test"}
# Event types delivered under another's preferences, on some of its channels: a new
# message's push and SMS go at once (`message_received`), its email only when it is still
# unread after the delay (`message_unread`, written by the scheduler).
DELIVERED_AS: dict[str, tuple[str, frozenset[str]]] = {
    "message_received": ("message_received", frozenset({"webpush", "sms", "whatsapp"})),
    "message_unread": ("message_received", frozenset({"email"})),
}
SMS_BY_DEFAULT = frozenset({"booking_confirmed", "booking_cancelled", "booking_reminder"})
DEFAULT_CHANNELS = ("webpush", "email")
# What a guardian receives a copy of until they choose otherwise: what a parent paying for
# and driving to lessons needs. Any other kind a learner is told goes to a guardian only
# once they choose channels for it (a row of theirs for that kind).
GUARDIAN_DEFAULTS = frozenset(
    {
        "booking_confirmed",
        "booking_cancelled",
        "booking_declined",
        "booking_move_accepted",
        "booking_reminder",
        "series_confirmed",
        "series_cancelled",
        "lesson_completed",
        "payment_succeeded",
        "payment_failed",
        "payment_refunded",
        "credit_note_issued",
        "time_off_clash",
        "test_reminder",
    }
)


@dataclass(frozen=True)
class Choice:
    """What one user wants for one event type."""

    channels: tuple[str, ...]
    quiet: tuple[dt.time, dt.time] | None
    opted_out: bool
    customised: bool


def default_channels(event_type: str, has_phone: bool) -> tuple[str, ...]:
    """The channels used when the user has chosen nothing for this event type."""
    if event_type in SMS_BY_DEFAULT and has_phone:
        return (*DEFAULT_CHANNELS, "sms")
    return DEFAULT_CHANNELS


def parse_hhmm(text: str | None) -> dt.time | None:
    """ "HH:MM" (24 h) as a time, None for None; ValueError for anything else."""
    if text is None:
        return None
    hours, sep, minutes = text.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2:
        raise ValueError(f"{text!r} is not HH:MM")
    return dt.time(int(hours), int(minutes))


def resolve(
    rows: dict[str, NotificationPreference],
    event_type: str,
    has_phone: bool,
    role: str | None = None,
) -> Choice:
    """Combine a user's rows (by event type) into one choice for `event_type`. A guardian
    (a copy of what their learner is told) gets the kinds of GUARDIAN_DEFAULTS until they
    choose, and no others."""
    if event_type in EMAIL_ONLY:
        return Choice(("email",), None, False, False)
    if event_type in DELIVERED_AS:
        kind, allowed = DELIVERED_AS[event_type]
        choice = _resolve(rows, kind, has_phone, role)
        return Choice(
            tuple(c for c in choice.channels if c in allowed),
            choice.quiet,
            choice.opted_out,
            choice.customised,
        )
    return _resolve(rows, event_type, has_phone, role)


def _resolve(
    rows: dict[str, NotificationPreference], event_type: str, has_phone: bool, role: str | None
) -> Choice:
    own, everything = rows.get(event_type), rows.get(ALL_EVENTS)
    if own is not None:
        channels = tuple(c for c in (own.channels or ()) if c in CHANNELS)
    elif role == "guardian" and event_type not in GUARDIAN_DEFAULTS:
        channels = ()
    else:
        channels = default_channels(event_type, has_phone)
    quiet_row = own if own is not None and own.quiet_start and own.quiet_end else everything
    quiet = None
    if quiet_row is not None and quiet_row.quiet_start and quiet_row.quiet_end:
        start, end = parse_hhmm(quiet_row.quiet_start), parse_hhmm(quiet_row.quiet_end)
        if start is not None and end is not None and start != end:
            quiet = (start, end)
    opted_out = bool((own is not None and own.opted_out) or (everything and everything.opted_out))
    return Choice(channels, quiet, opted_out, own is not None)


def quiet_until(
    now: dt.datetime, quiet: tuple[dt.time, dt.time], tz: ZoneInfo
) -> dt.datetime | None:
    """When quiet hours that contain `now` end (UTC), or None when `now` is outside them.

    The end is a wall-clock time on the right local day, converted with the zone's rules of
    that day, so a night across a DST change still ends at the same local time."""
    start, end = quiet
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    if start < end:
        if not start <= t < end:
            return None
        end_day = local.date()
    else:  # wraps midnight, e.g. 22:00-07:00
        if end <= t < start:
            return None
        end_day = local.date() + dt.timedelta(days=1) if t >= start else local.date()
    # fold=0: a non-existent local time (spring forward) maps just past the gap, and an
    # ambiguous one (fall back) to its first occurrence.
    return dt.datetime.combine(end_day, end, tzinfo=tz).astimezone(dt.UTC)


async def load(
    session: AsyncSession, user_ids: Iterable[str]
) -> dict[str, dict[str, NotificationPreference]]:
    """Every preference row of these users, as user_id → event_type → row."""
    wanted = sorted({u for u in user_ids if u})
    out: dict[str, dict[str, NotificationPreference]] = {}
    if not wanted:
        return out
    rows = await session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id.in_(wanted))
    )
    for row in rows:
        out.setdefault(row.user_id, {})[row.event_type] = row
    return out


async def _has_phone(session: AsyncSession, who: Principal) -> bool:
    """Whether SMS can reach this user (their student/instructor record or account)."""
    from schemas import Instructor, Student, User

    phones = []
    if who.student_id:
        phones.append(
            await session.scalar(select(Student.phone).where(Student.id == who.student_id))
        )
    if who.instructor_id:
        phones.append(
            await session.scalar(select(Instructor.phone).where(Instructor.id == who.instructor_id))
        )
    phones.append(await session.scalar(select(User.phone).where(User.id == who.user_id)))
    return any(phones)


async def describe(session: AsyncSession, who: Principal, timezone: str) -> dict[str, Any]:
    """A user's effective preferences, every event type listed (defaults marked)."""
    rows = (await load(session, [who.user_id])).get(who.user_id, {})
    has_phone = await _has_phone(session, who)
    everything = rows.get(ALL_EVENTS)
    quiet = None
    if everything is not None and everything.quiet_start and everything.quiet_end:
        quiet = {"start": everything.quiet_start, "end": everything.quiet_end}
    events = {}
    for event_type, description in EVENT_TYPES.items():
        choice = resolve(rows, event_type, has_phone, who.role)
        own = rows.get(event_type)
        events[event_type] = {
            "description": description,
            "channels": list(choice.channels),
            "opted_out": bool(own.opted_out) if own is not None else False,
            "default": own is None,
        }
    return {
        "timezone": timezone,
        "channels": list(CHANNELS),
        "quiet_hours": quiet,
        "opted_out": bool(everything and everything.opted_out),
        "events": events,
    }


async def save(
    session: AsyncSession,
    who: Principal,
    events: dict[str, dict[str, Any] | None] | None = None,
    quiet_hours: dict[str, str] | Unset | None = UNSET,
    opted_out: bool | None = None,
) -> None:
    """Apply a partial update: each event given replaces that event's choice (None resets it
    to the default); quiet hours and the global opt-out change only when given."""
    rows = (await load(session, [who.user_id])).get(who.user_id, {})
    for event_type, value in (events or {}).items():
        if event_type not in EVENT_TYPES:
            raise Invalid(f"unknown event type {event_type!r}", {"field": f"events.{event_type}"})
        row = rows.get(event_type)
        if value is None:
            if row is not None:
                await session.delete(row)
            continue
        channels = list(dict.fromkeys(value.get("channels") or []))
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise Invalid(
                f"unknown channel {unknown[0]!r}", {"field": f"events.{event_type}.channels"}
            )
        row = row or _new_row(session, who, event_type)
        row.channels = channels
        row.opted_out = bool(value.get("opted_out", False))
    if not isinstance(quiet_hours, Unset) or opted_out is not None:
        row = rows.get(ALL_EVENTS) or _new_row(session, who, ALL_EVENTS)
        if not isinstance(quiet_hours, Unset):
            if quiet_hours is None:
                row.quiet_start = row.quiet_end = None
            else:
                for name in ("start", "end"):
                    try:
                        parse_hhmm(quiet_hours.get(name))
                    except ValueError:
                        raise Invalid(
                            "quiet hours are HH:MM", {"field": f"quiet_hours.{name}"}
                        ) from None
                row.quiet_start, row.quiet_end = quiet_hours["start"], quiet_hours["end"]
        if opted_out is not None:
            row.opted_out = opted_out
    await session.flush()


async def current(store: Store, who: Principal) -> dict[str, Any]:
    """`describe` for the caller, in their school's timezone (UTC when it has none)."""
    async with store.read(who.tenant_id) as session:
        return await describe(session, who, await _timezone(session, who))


async def change(
    store: Store,
    who: Principal,
    events: dict[str, dict[str, Any] | None] | None = None,
    quiet_hours: dict[str, str] | Unset | None = UNSET,
    opted_out: bool | None = None,
) -> dict[str, Any]:
    """`save` in a transaction of its own, then `describe` the result as committed."""
    async with bound(store, who.tenant_id) as session:
        async with session.begin():
            await save(session, who, events, quiet_hours, opted_out)
        return await describe(session, who, await _timezone(session, who))


async def _timezone(session: AsyncSession, who: Principal) -> str:
    tz = await session.scalar(select(Tenant.timezone).where(Tenant.id == who.tenant_id))
    return tz or "UTC"


def _new_row(session: AsyncSession, who: Principal, event_type: str) -> NotificationPreference:
    row = NotificationPreference(
        tenant_id=who.tenant_id,
        user_id=who.user_id,
        event_type=event_type,
        channels=[],
        opted_out=False,
    )
    session.add(row)
    return row
