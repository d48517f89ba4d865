"""Alembic environment: async engine, the same URL resolution as the server
(`DRIVESYNC_DATABASE_URL`, read by sync.database without importing the server)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import schemas
from sync.database import database_url_from_env, make_engine

config = context.config
target_metadata = schemas.Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or database_url_from_env()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        _no_tenant_statistics(connection)


def _no_tenant_statistics(connection: Connection) -> None:
    """PostgreSQL: `tenant_id` keeps no planner statistics in any table, including tables
    later migrations add (why: migrations/versions/0003_tenant_last.py). Idempotent; a
    table's existing statistics are dropped by 0003 for the tables it knew."""
    if connection.dialect.name != "postgresql":
        return
    rows = connection.exec_driver_sql(
        "SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE a.attname = 'tenant_id' AND c.relkind = 'r' AND n.nspname = current_schema() "
        "AND a.attstattarget <> 0 AND NOT a.attisdropped"
    ).all()
    for (table,) in rows:
        connection.exec_driver_sql(f'ALTER TABLE "{table}" ALTER COLUMN tenant_id SET STATISTICS 0')


async def _run_async() -> None:
    engine = make_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())
