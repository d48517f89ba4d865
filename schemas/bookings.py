"""A booking's satellites: move requests (`booking_move`) and its history
(`booking_history`), both synced records."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from schemas.base import Base, UtcDateTime, id_type
from schemas.synced import SyncedMixin

MOVE_STATUSES = ("requested", "accepted", "declined", "withdrawn")


def _booking_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant_id", "booking_id"], ["bookings.tenant_id", "bookings.id"])


class BookingMove(SyncedMixin, Base):
    """A request to move a booking to another time: made by its student (or staff),
    accepted or declined by the instructor or an admin. Accepting moves the booking (and
    its lesson) in the same commit. Student and instructor are copied from the booking,
    so the request is read by the same people."""

    __tablename__ = "booking_moves"

    booking_id: Mapped[str] = mapped_column(id_type())
    student_id: Mapped[str] = mapped_column(id_type())
    instructor_id: Mapped[str] = mapped_column(id_type())
    start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    note: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        _booking_fk(),
        CheckConstraint(
            "status IN ('requested', 'accepted', 'declined', 'withdrawn')", name="status"
        ),
        CheckConstraint('start < "end"', name="ordered"),
        Index("ix_booking_moves_booking", "booking_id", "tenant_id"),
    )


class BookingHistory(SyncedMixin, Base):
    """One change of a booking, written by the server in the commit that made it: who
    (user and role), when, what (`change`: created, status, moved, pickup, late_fee), and
    the field's value before and after, as text. Never changed; read by admins only."""

    __tablename__ = "booking_history"

    booking_id: Mapped[str] = mapped_column(id_type())
    student_id: Mapped[str] = mapped_column(id_type())
    instructor_id: Mapped[str] = mapped_column(id_type())
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    user_id: Mapped[str | None] = mapped_column(id_type())
    role: Mapped[str] = mapped_column(String(16))
    change: Mapped[str] = mapped_column(String(16))
    field: Mapped[str | None] = mapped_column(String(32))
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        _booking_fk(),
        Index("ix_booking_history_booking", "booking_id", "tenant_id"),
    )
