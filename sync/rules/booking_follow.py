"""A booking carried along by its lesson (sync.rules.lww): a lesson completed or cancelled
in the car completes or cancels its confirmed booking, with the booking's own bookkeeping
(when and by whom it was cancelled, and its history)."""

from __future__ import annotations

from schemas import Booking
from sync.core.hlc import Hlc
from sync.rules import booking_cancel, booking_history
from sync.rules.batch import Context


async def booking_follows(ctx: Context, booking: Booking, status: str, hlc: str | None) -> None:
    """Move `booking` to `status` because its lesson moved there (a change stamped `hlc`)."""
    before = booking_history.snapshot(booking)
    if status == "cancelled":
        stamp = hlc or str(Hlc(int(ctx.txn.now.timestamp() * 1000), 0, "server"))
        await booking_cancel.settle(ctx, booking, booking.status, stamp, None)
    booking.status = status
    ctx.stamp("booking", booking)
    booking_history.log_changes(ctx, booking, before)
