"""Payments, refunds, instructor payouts, invoices and inbound webhook events. Financial rows
are never edited in place: a correction is a new row (a refund, an adjustment, a credit note)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from schemas.base import Base, JsonDoc, UtcDateTime, id_type, utcnow
from schemas.synced import SyncedMixin


class Payment(SyncedMixin, Base):
    """A payment (a Stripe PaymentIntent, perhaps made by a Checkout Session) for a booking,
    a package or an outstanding balance (`purpose`). Synced read-only to the student."""

    __tablename__ = "payments"

    booking_id: Mapped[str | None] = mapped_column(id_type())  # purpose 'booking' only
    student_id: Mapped[str] = mapped_column(id_type())
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(24), default="pending")
    provider: Mapped[str] = mapped_column(String(16), default="stripe")
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    # What the money is for, and who paid (the student's or a guardian's sign-in).
    purpose: Mapped[str] = mapped_column(String(16), default="booking", server_default="booking")
    package_id: Mapped[str | None] = mapped_column(id_type())
    payer_user_id: Mapped[str | None] = mapped_column(id_type())
    # The Stripe Checkout Session paying it, while one is (or was) open: a second click
    # reuses it instead of opening another.
    checkout_ref: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount"),
        CheckConstraint("purpose IN ('booking', 'package', 'balance')", name="purpose"),
        CheckConstraint("purpose <> 'booking' OR booking_id IS NOT NULL", name="booking_named"),
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


class Invoice(SyncedMixin, Base):
    """An invoice for a payment that succeeded, or a credit note (negative amounts) for a
    refund of one. Issued by the server (workers/payments/invoicing.py) and synced read-only
    to the student and their guardians. Immutable once issued but for `status`, which only
    moves forward (issued → paid → credited, or issued → void). The school's name and
    address, the student's and payer's names are copied in when issued: an invoice shows
    what was true that day."""

    __tablename__ = "invoices"

    number: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(12), default="invoice")
    student_id: Mapped[str] = mapped_column(id_type())
    payer_user_id: Mapped[str | None] = mapped_column(id_type())
    payment_id: Mapped[str] = mapped_column(id_type())
    refund_id: Mapped[str | None] = mapped_column(id_type())
    credits_invoice_id: Mapped[str | None] = mapped_column(id_type())
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    subtotal_cents: Mapped[int] = mapped_column(Integer)
    tax_cents: Mapped[int] = mapped_column(Integer, default=0)
    total_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    school_name: Mapped[str] = mapped_column(String(200))
    school_address: Mapped[str | None] = mapped_column(Text)
    bill_to_name: Mapped[str] = mapped_column(String(200))
    payer_name: Mapped[str | None] = mapped_column(String(200))
    payment_reference: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint("kind IN ('invoice', 'credit_note')", name="kind"),
        CheckConstraint("status IN ('issued', 'paid', 'void', 'credited')", name="status"),
        CheckConstraint("subtotal_cents + tax_cents = total_cents", name="adds_up"),
        CheckConstraint(
            "(kind = 'invoice' AND total_cents >= 0 AND refund_id IS NULL)"
            " OR (kind = 'credit_note' AND total_cents <= 0 AND refund_id IS NOT NULL"
            " AND credits_invoice_id IS NOT NULL)",
            name="sign",
        ),
        UniqueConstraint("number", "tenant_id"),
        # One invoice per payment, one credit note per refund: a redelivered or reordered
        # webhook can never issue twice (the issuing code checks first; these are the floor).
        Index(
            "ux_invoices_payment",
            "payment_id",
            "tenant_id",
            unique=True,
            sqlite_where=text("kind = 'invoice'"),
            postgresql_where=text("kind = 'invoice'"),
        ),
        Index("ux_invoices_refund", "refund_id", "tenant_id", unique=True),
        Index("ix_invoices_student", "student_id", "tenant_id"),
    )


class InvoiceCounter(Base):
    """The last number given in one series of a school ('INV', 'CN'): read FOR UPDATE and
    incremented in the transaction that issues, so numbers are gap-free (a rollback takes
    its number back with it) and never given twice."""

    __tablename__ = "invoice_counters"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    series: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (CheckConstraint("last_number >= 0", name="non_negative"),)
