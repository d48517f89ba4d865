"""The columns every synced record carries, as a mixin.

`rev` is the tenant revision of the record's latest committed change and `deleted` its
tombstone. `field_hlc` maps each client-writable field to the hybrid-logical-clock stamp of the
write that set it, which is what field-level last-writer-wins compares against;
`deleted_hlc` is the stamp of the delete, so that an older offline edit cannot resurrect it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from schemas.base import JsonDoc, RevInt, UtcDateTime, id_type, utcnow


class SyncedMixin:
    """Tenant-first primary key plus the sync bookkeeping columns."""

    @declared_attr
    def tenant_id(cls) -> Mapped[str]:
        return mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True, sort_order=-10)

    id: Mapped[str] = mapped_column(id_type(), primary_key=True, sort_order=-9)
    rev: Mapped[int] = mapped_column(RevInt, default=0)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_hlc: Mapped[str | None] = mapped_column(String(120))
    field_hlc: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_by: Mapped[str | None] = mapped_column(id_type())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
