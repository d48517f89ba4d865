"""Migrations: upgrade → downgrade → upgrade on both databases, and the migrated schema
matches the models (autogenerate finds nothing to do)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import schemas
from server.migrate import downgrade, upgrade
from tests.conftest import Db


def _diff(sync_conn: Any) -> list[Any]:
    ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return compare_metadata(ctx, schemas.Base.metadata)


def _tables(sync_conn: Any) -> set[str]:
    return set(inspect(sync_conn).get_table_names())


async def test_upgrade_downgrade_upgrade_and_no_drift(empty_db: Db) -> None:
    db = empty_db
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == [], "migrated schema differs from the models"
        assert set(schemas.Base.metadata.tables) <= await conn.run_sync(_tables)
    await db.engine.dispose()
    await asyncio.to_thread(downgrade, db.url, "base")
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_tables) <= {"alembic_version"}
    await db.engine.dispose()
    await asyncio.to_thread(upgrade, db.url)
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
        assert set(schemas.Base.metadata.tables) <= await conn.run_sync(_tables)
