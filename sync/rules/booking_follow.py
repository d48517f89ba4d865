"""A booking carried along by its lesson (sync.rules.lww): a lesson completed or cancelled
in the car completes or cancels its confirmed booking, with the booking's own bookkeeping
(when and by whom it was cancelled, and its history)."""

from __future__ import annotations

from sqlalchemy import select

from schemas import Booking, BookingMove
from sync.core.hlc import Hlc
from sync.core.policy import LIVE_BOOKING
from sync.rules import booking_cancel, booking_credit, booking_history
from sync.rules.batch import Context


async def close_open_moves(ctx: Context, booking: Booking) -> None:
    """A booking that is no longer live (cancelled, declined, completed) takes its open move
    requests with it: they are closed as `withdrawn`, so nobody is left asked to accept a
    move of a lesson that will not happen. Not told on their own: the booking's change is."""
    if booking.status in LIVE_BOOKING:
        return
    rows = await ctx.session.scalars(
        select(BookingMove).where(
            BookingMove.booking_id == booking.id, BookingMove.status == "requested"
        )
    )
    for move in rows:
        move.status = "withdrawn"
        ctx.stamp("booking_move", move)


async def booking_follows(ctx: Context, booking: Booking, status: str, hlc: str | None) -> None:
    """Move `booking` to `status` because its lesson moved there (a change stamped `hlc`)."""
    before = booking_history.snapshot(booking)
    previous = booking.status
    if status == "cancelled":
        stamp = hlc or str(Hlc(int(ctx.txn.now.timestamp() * 1000), 0, "server"))
        await booking_cancel.settle(ctx, booking, booking.status, stamp, None)
    booking.status = status
    ctx.stamp("booking", booking)
    await booking_credit.follow(ctx, booking, previous)
    booking_history.log_changes(ctx, booking, before)
    await close_open_moves(ctx, booking)
