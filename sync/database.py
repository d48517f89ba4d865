"""Engine and session factory for both databases, with the settings each needs.

SQLite: WAL (readers don't block the writer), foreign keys on, a busy timeout, and
`BEGIN IMMEDIATE` for every transaction so a writer takes the write lock up front — the
SQLite half of "commit order is rev order" (PostgreSQL gets it from the counter row lock).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

# The embedded default, and the variable that overrides it (server.config reads the same).
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/drivesync.sqlite3"
DATABASE_URL_VARIABLE = "DRIVESYNC_DATABASE_URL"


def database_url_from_env() -> str:
    """The database URL as the server's settings resolve it, for tools that run without
    them (Alembic's env.py must not import the web layer)."""
    return os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL


# Execution option marking a read-only transaction (see `read_options`).
READ_ONLY = "drivesync_read_only"


def read_options(engine_or_dialect_name: str) -> dict[str, Any]:
    """Execution options for a transaction that only reads but needs one consistent
    snapshot across several statements (a pull page and its records)."""
    if engine_or_dialect_name == "sqlite":
        return {READ_ONLY: True}
    return {READ_ONLY: True, "isolation_level": "REPEATABLE READ"}


def insert_for(session: AsyncSession) -> Any:
    """The dialect's `insert` construct (both have `on_conflict_do_nothing` / `_do_update`):
    the one place an upsert looks at which database it runs on."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        # Integers past 64 bits or nesting past orjson's 254 levels: the standard encoder
        # takes both (what a database refuses is cleaned before it gets here).
        return json.dumps(value, allow_nan=False)


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An async engine for `url` (sqlite+aiosqlite or postgresql+asyncpg)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": 60},
            json_serializer=_dumps,
            json_deserializer=orjson.loads,
            # One connection per checkout: SQLite connections are cheap, and a pool of
            # them would hold file locks across tests.
            poolclass=NullPool,
        )
        _sqlite_hooks(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        # asyncpg waits 60 s by default for a server that drops packets (a host gone
        # mid-failover): a request would hang that long instead of answering 503.
        connect_args={"timeout": CONNECT_TIMEOUT_S},
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
        # No ping on every checkout (a round trip per request): `_pg_pool_hooks` checks
        # only what can be stale.
        pool_pre_ping=False,
    )
    _pg_pool_hooks(engine)
    return engine


CONNECT_TIMEOUT_S = 5.0
# A pooled PostgreSQL connection idle for longer than this is pinged before use.
IDLE_PING_S = 10.0
PING_TIMEOUT_S = 2.0
_CHECKED_IN_AT = "drivesync_checked_in_at"


def _pg_pool_hooks(engine: AsyncEngine) -> None:
    """Hand out no pooled connection PostgreSQL has dropped, without a round trip on the
    hot path.

    When PostgreSQL restarts (or a backend is terminated) it closes the socket, and asyncpg
    marks the connection closed as soon as the event loop reads the EOF: checking that flag
    is free and catches every such connection. A link that died silently (a NAT or firewall
    forgetting it, a failover) shows nothing, so a connection idle for more than
    IDLE_PING_S is also pinged: one round trip, paid only by a request that finds the
    connection it gets has sat idle that long, never by a busy process. A connection found
    dead is replaced before the request uses it: raising DisconnectionError makes the pool
    open a fresh one (or fail the checkout, and so the request, with the connection error
    while the database is down).

    The other option, retrying a transaction whose first statement met a disconnect, would
    need every transaction to be safely repeatable from the start; this keeps the
    transactions unaware of the pool."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if dbapi_conn.driver_connection.is_closed():
            raise DisconnectionError("connection closed by the server")
        idle_since = record.info.get(_CHECKED_IN_AT)
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_S:
            return  # fresh, or used moments ago
        try:
            _ping(dbapi_conn)
        except Exception as exc:  # timed out, reset, closed: replace it
            # Closed at once: the pool would otherwise try a polite close, waiting up to
            # 2 s more on a link that no longer answers.
            dbapi_conn.driver_connection.terminate()
            raise DisconnectionError(f"ping after idleness failed: {exc!r}") from exc


def _ping(dbapi_conn: Any) -> None:
    """One round trip on a pooled connection (from a pool event, inside SQLAlchemy's
    greenlet), failing after PING_TIMEOUT_S."""
    dbapi_conn.run_async(lambda raw: raw.execute("SELECT 1", timeout=PING_TIMEOUT_S))


def _sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Readers (pulls) begin deferred: under WAL they then read one snapshot without
        # blocking the writer.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep objects usable after commit (handlers read them afterwards)."""
    return async_sessionmaker(engine, expire_on_commit=False)
