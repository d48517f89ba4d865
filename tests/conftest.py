"""Fixtures shared by every test: databases (SQLite and PostgreSQL), the demo school, and the
app under test.

Every data test takes `db` (or something built on it) and so runs twice, once per database.
Migrations and the demo seed run once per session into template databases; each test gets
a fresh copy (a file copy on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL).

PostgreSQL comes from DRIVESYNC_TEST_PG_URL (default postgres@127.0.0.1:5432/test). When it
is unreachable its half is skipped with a loud message — unless DRIVESYNC_REQUIRE_PG=1 (CI),
which makes that a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import hypothesis
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.config import Settings
from sync.database import make_engine, make_sessionmaker
from sync.store import Store

# Property tests draw the same examples on every run (CI must not turn red by chance);
# HYPOTHESIS_PROFILE=explore draws new ones, to look for failures by hand.
hypothesis.settings.register_profile("default", derandomize=True)
hypothesis.settings.register_profile("explore", derandomize=False)
# The first failing example as drawn, without shrinking it (which can take many minutes
# for the convergence simulation): for a quick look at what broke.
hypothesis.settings.register_profile(
    "noshrink",
    derandomize=True,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate],
)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PG_URL = os.environ.get(
    "DRIVESYNC_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("DRIVESYNC_REQUIRE_PG") == "1"
RUN_ID = uuid.uuid4().hex[:8]
TEST_SECRET = "test-secret-key-not-for-production-0123456789"


def _pg_dsn(database: str | None = None) -> str:
    url = make_url(PG_URL)
    if database:
        url = url.set(database=database)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_sa_url(database: str) -> str:
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


async def _pg_admin(*statements: str) -> None:
    conn = await asyncpg.connect(_pg_dsn(), timeout=5)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _pg_available() -> str | None:
    try:
        asyncio.run(_pg_admin("SELECT 1"))
        return None
    except Exception as exc:  # unreachable, auth, anything: report it
        return f"{type(exc).__name__}: {exc}"


@dataclass
class Templates:
    """Migrated (and migrated + seeded) template databases for this test session."""

    sqlite_base: Path
    sqlite_demo: Path
    pg_base: str | None
    pg_demo: str | None
    pg_error: str | None


async def _seed(url: str) -> None:
    from server.seed import seed_demo

    engine = make_engine(url)
    try:
        sessions = make_sessionmaker(engine)
        await seed_demo(sessions, Store(sessions, engine.dialect.name))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    from server.migrate import upgrade

    root = tmp_path_factory.mktemp("db-templates")
    base = root / "base.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{base}")
    demo = root / "demo.sqlite3"
    shutil.copy(base, demo)
    asyncio.run(_seed(f"sqlite+aiosqlite:///{demo}"))

    pg_error = _pg_available()
    pg_base = pg_demo = None
    if pg_error is None:
        pg_base, pg_demo = f"dst_{RUN_ID}_base", f"dst_{RUN_ID}_demo"
        asyncio.run(_pg_admin(f"CREATE DATABASE {pg_base}"))
        upgrade(_pg_sa_url(pg_base))
        asyncio.run(_pg_admin(f"CREATE DATABASE {pg_demo} TEMPLATE {pg_base}"))
        asyncio.run(_seed(_pg_sa_url(pg_demo)))
    else:
        message = f"PostgreSQL unreachable at {PG_URL} ({pg_error}): its tests will be skipped"
        warnings.warn(message, stacklevel=1)
        print(f"\n{'!' * 78}\n!!! {message}\n{'!' * 78}")
    yield Templates(base, demo, pg_base, pg_demo, pg_error)
    if pg_base:
        asyncio.run(
            _pg_admin(f"DROP DATABASE IF EXISTS {pg_demo}", f"DROP DATABASE IF EXISTS {pg_base}")
        )


@dataclass
class Db:
    """One test's database: its URL, engine, sessions and store."""

    kind: str
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: Store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def _need_pg(templates: Templates) -> None:
    if templates.pg_base is None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required (DRIVESYNC_REQUIRE_PG=1) but {templates.pg_error}")
        pytest.skip(f"PostgreSQL unreachable ({templates.pg_error})")


async def _make_db(
    kind: str, templates: Templates, tmp_path: Path, seeded: bool
) -> AsyncIterator[Db]:
    drop: str | None = None
    if kind == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(templates.sqlite_demo if seeded else templates.sqlite_base, path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        _need_pg(templates)
        name = f"dst_{RUN_ID}_{uuid.uuid4().hex[:10]}"
        template = templates.pg_demo if seeded else templates.pg_base
        await _pg_admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        drop = name
        url = _pg_sa_url(name)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        yield Db(kind, url, engine, sessions, Store(sessions, engine.dialect.name))
    finally:
        await engine.dispose()
        if drop:
            await _pg_admin(f"DROP DATABASE IF EXISTS {drop} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "pg"])
async def empty_db(
    request: pytest.FixtureRequest, templates: Templates, tmp_path: Path
) -> AsyncIterator[Db]:
    """A migrated database with no data, on each backend."""
    async for db in _make_db(request.param, templates, tmp_path, seeded=False):
        yield db


@pytest.fixture(params=["sqlite", "pg"])
async def db(
    request: pytest.FixtureRequest, templates: Templates, tmp_path: Path
) -> AsyncIterator[Db]:
    """A migrated database holding the demo and rival schools, on each backend."""
    async for item in _make_db(request.param, templates, tmp_path, seeded=True):
        yield item


def make_settings(db: Db, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for an app on `db` with a fixed secret and a private var dir. Every response
    is checked in full against its published model (a mismatch answers 500)."""
    overrides.setdefault("strict_responses", True)
    return Settings(
        database_url=db.url, secret_key=TEST_SECRET, var_dir=tmp_path / "var", **overrides
    )


@pytest.fixture
async def client(db: Db, tmp_path: Path, aiohttp_client: Any) -> Any:
    """A test client for the app on the demo database."""
    from server.app import create_app

    return await aiohttp_client(create_app(make_settings(db, tmp_path)))


async def login(
    client: Any, email: str, tenant: str = "demo", password: str = "drive-demo-1"
) -> dict[str, Any]:
    """Sign in and return the token response."""
    resp = await client.post(
        "/v1/auth/login", json={"tenant": tenant, "email": email, "password": password}
    )
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
