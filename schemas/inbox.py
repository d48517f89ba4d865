"""The notification centre: every notification a user is sent, kept as a synced record of
theirs (`inbox_item`) so the app lists them offline and marks them read on every device."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from schemas.base import Base, UtcDateTime, id_type
from schemas.synced import SyncedMixin


class InboxItem(SyncedMixin, Base):
    """One notification of one user, written by the dispatcher when it first handles the
    event (the id is derived from the event and the user, so a retried event writes none
    again). Only its owner reads it (admins included: it is not the school's); `read_at` is
    the one field a client writes, and only its owner."""

    __tablename__ = "inbox_items"

    user_id: Mapped[str] = mapped_column(id_type())
    kind: Mapped[str] = mapped_column(String(64))  # the event type (booking_confirmed, …)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(200))  # an in-app route, "#/…"
    read_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_inbox_items_user", "user_id", "tenant_id"),)
