"""The mapped class of each synced entity, found from the table name its registry entry
declares (kept apart from sync.core.entities so the pure core never imports SQLAlchemy)."""

from __future__ import annotations

from functools import cache

import schemas
from schemas.base import Base
from schemas.synced import SyncedMixin
from sync.core.entities import ENTITIES


class SyncedTable(SyncedMixin, Base):
    """Type of every synced entity's mapped class (never mapped itself): the columns
    the engine touches on any entity are those of SyncedMixin."""

    __abstract__ = True


@cache
def table_of(entity: str) -> type[SyncedTable]:
    """The mapped class of a synced entity (KeyError for an unknown one)."""
    name = ENTITIES[entity].table
    schemas.load_tables()  # every mapped class registered before the look-up
    for mapper in Base.registry.mappers:
        if mapper.local_table.name == name:  # type: ignore[attr-defined]
            cls: type[SyncedTable] = mapper.class_
            return cls
    raise KeyError(f"no mapped table {name!r} for entity {entity!r}")
