"""The engine's pure core imports without SQLAlchemy or aiohttp (import-linter checks the
import graph; this checks what actually loads, package __init__ files included)."""

from __future__ import annotations

import subprocess
import sys

PURE = (
    "sync.core.hlc",
    "sync.core.cursor",
    "sync.core.scope",
    "sync.core.policy",
    "sync.core.textmerge",
    "sync.core.geo",
    "sync.core.derive",
    "sync.core.entities",
    "sync.core.command",
    "schemas.wire",
)


def test_pure_core_loads_nothing_heavy() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {PURE!r}: importlib.import_module(name)\n"
        "heavy = sorted(m for m in ('sqlalchemy', 'aiohttp', 'asyncpg', 'aiosqlite') "
        "if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_table_names_still_load_every_table() -> None:
    code = "import schemas\nschemas.Lesson\nprint(len(schemas.Base.metadata.tables))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) >= 30
