"""Devices and push subscriptions, notification preferences, the delivery log and the
outbox the workers drain."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from schemas.base import Base, JsonDoc, RevInt, UtcDateTime, id_type, utcnow


class Device(Base):
    """One installation (client_id) of one user: its exactly-once push bookkeeping
    (`acked_seq`) and its sync health as last reported."""

    __tablename__ = "devices"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    user_id: Mapped[str] = mapped_column(id_type())
    client_id: Mapped[str] = mapped_column(id_type())
    acked_seq: Mapped[int] = mapped_column(RevInt, default=0)
    platform: Mapped[str | None] = mapped_column(String(64))
    app_version: Mapped[str | None] = mapped_column(String(64))
    pending: Mapped[int | None] = mapped_column(Integer)
    last_pull_rev: Mapped[int | None] = mapped_column(RevInt)
    last_push_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    skew_ms: Mapped[int | None] = mapped_column(RevInt)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "client_id", "tenant_id"),)


class PushSubscription(Base):
    """A Web Push subscription of one device (endpoint + its ECDH and auth keys)."""

    __tablename__ = "push_subscriptions"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    user_id: Mapped[str] = mapped_column(id_type())
    client_id: Mapped[str | None] = mapped_column(id_type())
    endpoint: Mapped[str] = mapped_column(Text)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_push_subscriptions_user", "user_id", "tenant_id"),)


class NotificationPreference(Base):
    """A user's choice of channels for one event type, quiet hours and opt-out."""

    __tablename__ = "notification_preferences"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    channels: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)


class NotificationTemplate(Base):
    """A school's own wording for an event on a channel (defaults ship with the code)."""

    __tablename__ = "notification_templates"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # Who last wrote it in the admin editor, and when (migration 0014).
    updated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    updated_by: Mapped[str | None] = mapped_column(id_type())


class Notification(Base):
    """One delivery attempt log line: channel, status, provider id, error, timings."""

    __tablename__ = "notifications"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    outbox_id: Mapped[str | None] = mapped_column(id_type())
    user_id: Mapped[str | None] = mapped_column(id_type())
    event_type: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    duration_ms: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint(
            "status IN ('sent', 'failed', 'deferred', 'skipped', 'dead')", name="status"
        ),
        Index("ix_notifications_key", "idempotency_key", "tenant_id"),
    )


class OutboxEvent(Base):
    """A side effect committed with the change that caused it, delivered later by a worker
    at least once. Workers claim rows by setting a lease (`locked_until`); a lease that
    expires (dead worker) makes the row claimable again."""

    __tablename__ = "outbox"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'done', 'dead')", name="status"),
        UniqueConstraint("dedupe_key", "tenant_id"),
        Index("ix_outbox_due", "status", "available_at"),
    )
