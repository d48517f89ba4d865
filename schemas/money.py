"""Payments, refunds, instructor payouts and inbound webhook events. Financial rows are
never edited in place: a correction is a new row (a refund, an adjustment)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from schemas.base import Base, JsonDoc, UtcDateTime, id_type, utcnow
from schemas.synced import SyncedMixin


class Payment(SyncedMixin, Base):
    """A payment for a booking (a Stripe PaymentIntent). Synced read-only to the student."""

    __tablename__ = "payments"

    booking_id: Mapped[str] = mapped_column(id_type())
    student_id: Mapped[str] = mapped_column(id_type())
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(24), default="pending")
    provider: Mapped[str] = mapped_column(String(16), default="stripe")
    provider_ref: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount"),
        CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'refunded', 'partially_refunded')",
            name="status",
        ),
        Index("ix_payments_booking", "booking_id", "tenant_id"),
        UniqueConstraint("provider_ref", "tenant_id"),
    )


class Refund(Base):
    """Money given back on a payment: a new row, never an edit of the payment."""

    __tablename__ = "refunds"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    payment_id: Mapped[str] = mapped_column(id_type())
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(24), default="pending")
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount"),)


class Payout(SyncedMixin, Base):
    """An instructor's share of one paid lesson, after the platform fee (once per booking).
    Synced read-only to its instructor (and admins) as the entity `payout`.

    `status` is the share itself ('pending', or 'cancelled' when the lesson was refunded
    before any money moved); `transfer_status` is the money's way to the instructor's
    Stripe account (workers/payments/transfers.py): NULL (not sent) → 'sending' → 'sent' →
    'paid_out' (in their bank) or 'payout_failed'; 'reversed' when taken back."""

    __tablename__ = "payouts"

    instructor_id: Mapped[str] = mapped_column(id_type())
    booking_id: Mapped[str] = mapped_column(id_type())
    # The card payment it came from; NULL for a lesson paid with package credit.
    payment_id: Mapped[str | None] = mapped_column(id_type())
    gross_cents: Mapped[int] = mapped_column(Integer)
    fee_cents: Mapped[int] = mapped_column(Integer)
    net_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # When the lesson was (its booking's start): earnings are grouped by it.
    lesson_start: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    transfer_status: Mapped[str | None] = mapped_column(String(16))
    transfer_ref: Mapped[str | None] = mapped_column(String(200))
    # How much of the transfer was taken back (refunds after the transfer).
    reversed_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paid_out_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("payment_id", "tenant_id"),
        UniqueConstraint("booking_id", "tenant_id"),
        CheckConstraint("gross_cents = fee_cents + net_cents", name="split_adds_up"),
        CheckConstraint("fee_cents >= 0 AND net_cents >= 0", name="non_negative"),
        Index("ix_payouts_instructor", "instructor_id", "tenant_id"),
    )


class WebhookEvent(Base):
    """An inbound provider event, stored once by its provider id (duplicates ignored)."""

    __tablename__ = "webhook_events"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
