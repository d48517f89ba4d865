"""Packages of lessons, the students' credit ledger and their balances.

A `Package` is catalogue (admin-written, read by every member). A `CreditEntry` is one
line of a student's ledger, written by the server only and never edited: a correction is
a new entry. A `StudentBalance` is the sums of one student's ledger, kept in the same
transaction as every entry (sync.money.ledger); its id is the student's.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKeyConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from schemas.base import Base, UtcDateTime, id_type
from schemas.synced import SyncedMixin

CREDIT_KINDS = ("purchase", "booking", "refund", "expiry", "adjustment", "fee", "payment")


def _student_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant_id", "student_id"], ["students.tenant_id", "students.id"])


class Package(SyncedMixin, Base):
    """A bundle a student buys up front: a number of lessons, or of minutes (exactly one of
    the two), for a price, valid for `valid_days` from the purchase. Retired, never
    deleted (purchases name it)."""

    __tablename__ = "packages"

    name: Mapped[str] = mapped_column(String(200))
    lessons: Mapped[int | None] = mapped_column(Integer)
    minutes: Mapped[int | None] = mapped_column(Integer)
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    valid_days: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        CheckConstraint(
            "(lessons > 0 AND minutes IS NULL) OR (minutes > 0 AND lessons IS NULL)",
            name="one_unit",
        ),
        CheckConstraint("price_cents >= 0", name="price"),
        CheckConstraint("valid_days >= 1", name="valid_days"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
    )


class CreditEntry(SyncedMixin, Base):
    """One line of a student's ledger. `lessons` and `minutes` are signed credit units,
    `amount_cents` the signed money side (+ owed by the student, - paid or credited).
    `source_id` names the purchase or adjustment a draw, return or expiry acts on
    (sync.core.credits)."""

    __tablename__ = "credit_entries"

    student_id: Mapped[str] = mapped_column(id_type())
    kind: Mapped[str] = mapped_column(String(16))
    lessons: Mapped[int] = mapped_column(Integer, default=0)
    minutes: Mapped[int] = mapped_column(Integer, default=0)
    amount_cents: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    booking_id: Mapped[str | None] = mapped_column(id_type())
    payment_id: Mapped[str | None] = mapped_column(id_type())
    package_id: Mapped[str | None] = mapped_column(id_type())
    refund_id: Mapped[str | None] = mapped_column(id_type())
    source_id: Mapped[str | None] = mapped_column(id_type())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        _student_fk(),
        CheckConstraint(
            "kind IN ('purchase', 'booking', 'refund', 'expiry', 'adjustment', 'fee', 'payment')",
            name="kind",
        ),
        Index("ix_credit_entries_student", "student_id", "tenant_id"),
        Index("ix_credit_entries_booking", "booking_id", "tenant_id"),
        Index("ix_credit_entries_expiry", "expires_at", "tenant_id"),
    )


class StudentBalance(SyncedMixin, Base):
    """The sums of one student's ledger (id = student_id): never written but with an
    entry, in the same transaction."""

    __tablename__ = "student_balances"

    student_id: Mapped[str] = mapped_column(id_type())
    lessons_left: Mapped[int] = mapped_column(Integer, default=0)
    minutes_left: Mapped[int] = mapped_column(Integer, default=0)
    owed_cents: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    next_expiry: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        _student_fk(),
        CheckConstraint("lessons_left >= 0 AND minutes_left >= 0", name="never_negative"),
    )
