"""Tenants (driving schools), their branches, users, roles and refresh tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from schemas.base import Base, UtcDateTime, id_type, utcnow

ROLES = ("owner", "admin", "instructor", "student", "guardian")


class Tenant(Base):
    """One driving school. Every other row belongs to exactly one of these."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    locale: Mapped[str] = mapped_column(String(16), default="en-GB")
    brand_color: Mapped[str | None] = mapped_column(String(16))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    # Mock-test pass mark as "pass_mark out of pass_total" (GB: 43 of 50), scaled up for
    # tests of another length.
    pass_mark: Mapped[int] = mapped_column(Integer, default=43)
    pass_total: Mapped[int] = mapped_column(Integer, default=50)
    # Platform fee taken from each paid lesson, in basis points (1500 = 15 %).
    platform_fee_bps: Mapped[int] = mapped_column(Integer, default=1500)
    # Cancellation policy: a student's cancellation of a confirmed lesson made less than
    # `cancel_cutoff_hours` before its start owes `late_fee_cents` (school currency). Their
    # ranges are the admin API's (no CHECK: adding one to tenants would copy the table on
    # SQLite, migration 0008).
    cancel_cutoff_hours: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    late_fee_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("length(currency) = 3", name="currency_iso"),
        CheckConstraint("pass_mark > 0 AND pass_mark <= pass_total", name="pass_mark_range"),
        CheckConstraint("platform_fee_bps >= 0 AND platform_fee_bps <= 10000", name="fee_range"),
    )


class Branch(Base):
    """A school's office or pick-up base."""

    __tablename__ = "branches"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class User(Base):
    """Someone who can sign in to one school. Emails are unique within a school."""

    __tablename__ = "users"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("email", "tenant_id"),)


class Membership(Base):
    """A user's role in their school (one role per user and school)."""

    __tablename__ = "memberships"

    tenant_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    user_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
        CheckConstraint(
            "role IN ('owner', 'admin', 'instructor', 'student', 'guardian')", name="role"
        ),
    )


class RefreshToken(Base):
    """A refresh token, stored only as its SHA-256. Rotated on every use: the old one is
    revoked and points at its replacement; a revoked token presented again revokes the
    whole family (it was stolen or replayed)."""

    __tablename__ = "refresh_tokens"

    tenant_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    user_id: Mapped[str] = mapped_column(id_type())
    family_id: Mapped[str] = mapped_column(id_type())
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    replaced_by: Mapped[str | None] = mapped_column(id_type())

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
        Index("ix_refresh_tokens_family", "family_id", "tenant_id"),
    )


class LoginAttempt(Base):
    """Failed sign-ins, for rate limiting. `key` is a hash of (tenant slug, email), so the
    table holds no personal data."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)


TOKEN_PURPOSES = ("invite", "reset")


class AccountToken(Base):
    """A one-time link to set a password: `invite` (a new account) or `reset` (forgot
    password). Only the SHA-256 of the token is stored; the token itself exists in the
    email alone. Spent (`used_at`), replaced by a newer one (`revoked_at`) or past
    `expires_at`, it is refused with one code, so a caller cannot tell which."""

    __tablename__ = "account_tokens"

    tenant_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    user_id: Mapped[str] = mapped_column(id_type())
    purpose: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
        CheckConstraint("purpose IN ('invite', 'reset')", name="purpose"),
        Index("ix_account_tokens_user", "user_id", "tenant_id"),
    )


class CalendarFeed(Base):
    """A user's private iCalendar feed: a secret URL their phone's calendar subscribes to
    (calendar apps cannot send a bearer token). Only the SHA-256 of the secret is stored;
    turning the feed on again replaces the secret (`revoked_at` on the old row), turning it
    off revokes it. A user has at most one live feed."""

    __tablename__ = "calendar_feeds"

    tenant_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    user_id: Mapped[str] = mapped_column(id_type())
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # When a calendar app last fetched it (shown to the user: "last read by your calendar").
    fetched_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
        Index("ix_calendar_feeds_user", "user_id", "tenant_id"),
    )
