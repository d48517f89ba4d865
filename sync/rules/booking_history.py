"""A booking's history (`booking_history`): one server-written row per changed field, in
the commit that changed it, with who (user and role), when, and the value before and after.

Rules that change a booking take a `snapshot` before and call `log_changes` after; the
history rows are records like any other (rev, change index), read by admins only
(Visibility.ADMIN), so they reach the admin's replica with the booking itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from schemas import Booking, BookingHistory
from sync.records import wire_value
from sync.rules.batch import Context

# The booking fields whose changes are kept, and the name of the change each one makes.
TRACKED: dict[str, str] = {
    "status": "status",
    "start": "moved",
    "end": "moved",
    "pickup_location": "pickup",
    "late_fee_cents": "late_fee",
}

Snapshot = dict[str, Any]


def snapshot(row: Booking) -> Snapshot:
    """The tracked fields of a booking as they are now."""
    return {name: getattr(row, name) for name in TRACKED}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    shown = wire_value(value)
    return shown if isinstance(shown, str) else str(shown)


def _row(
    ctx: Context, booking: Booking, change: str, field: str | None, old: Any, new: Any
) -> BookingHistory:
    return BookingHistory(
        tenant_id=ctx.txn.tenant_id,
        id=str(uuid.uuid4()),
        created_by=ctx.who.user_id,
        booking_id=booking.id,
        student_id=booking.student_id,
        instructor_id=booking.instructor_id,
        at=ctx.txn.now,
        user_id=ctx.who.user_id,
        role=ctx.who.role,
        change=change,
        field=field,
        from_value=_text(old),
        to_value=_text(new),
        field_hlc={},
        deleted=False,
    )


def log_changes(ctx: Context, booking: Booking, before: Snapshot | None) -> list[BookingHistory]:
    """Write the history of one change of `booking` (`before` None: it was just created)."""
    if before is None:
        rows = [_row(ctx, booking, "created", "status", None, booking.status)]
        if booking.late_fee_cents is not None:
            rows.append(
                _row(ctx, booking, "late_fee", "late_fee_cents", None, booking.late_fee_cents)
            )
    else:
        rows = [
            _row(ctx, booking, change, name, before[name], getattr(booking, name))
            for name, change in TRACKED.items()
            if before[name] != getattr(booking, name)
        ]
    for row in rows:
        ctx.stamp("booking_history", row)
    return rows
