"""Many tables' rows in one statement on PostgreSQL.

A push ends with bookkeeping rows for several tables (results, audit, journal, note
history, the change index) and the counter's UPDATE. Sent one statement each they cost a
round trip each, and on a 2-core machine every round trip wakes the PostgreSQL backend,
which preempts the server (docs/benchmarks.md). On PostgreSQL they go out as one statement:
each table's rows travel as one JSON parameter expanded by `jsonb_to_recordset` into an
INSERT inside a data-modifying CTE, and the counter's UPDATE is the statement the CTEs hang
on. One parameter per table also keeps a batch clear of the driver's bind-parameter limit.
SQLite (embedded, no round trips) keeps plain multi-row INSERTs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, Text, bindparam, cast, column, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.dml import Insert


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} through a JSON recordset")


def payload(table: Table, rows: Sequence[dict[str, Any]]) -> tuple[tuple[str, ...], str]:
    """The column names of `rows` (every row has the same keys) and the rows as one JSON
    text for `insert_from`."""
    names = list(rows[0])
    if any(len(row) != len(names) for row in rows):
        raise ValueError(f"rows for {table.name} do not all have the same columns")
    # Python-side column defaults (a created_at's utcnow) are not applied to an INSERT
    # fed by a SELECT: evaluate them here, once for the statement, as a multi-row INSERT
    # would for each row (the same instant for one batch is what the batch means).
    defaults: dict[str, Any] = {}
    for col in table.c:
        if col.name not in rows[0] and col.default is not None and not col.default.is_sequence:
            arg = col.default.arg  # type: ignore[attr-defined]
            defaults[col.name] = arg(None) if col.default.is_callable else arg
    names += list(defaults)
    return tuple(names), json.dumps([{**row, **defaults} for row in rows], default=_encode)


def insert_from(insert: Insert, table: Table, names: Sequence[str], param: str) -> Insert:
    """`insert` (a plain or dialect INSERT of `table`) of the columns `names`, fed from the
    JSON text bound as `param` (see `payload`), expanded with the table's column types.
    The statement depends only on its arguments, so callers build it once per shape and
    reuse it (building and hashing it again for every batch cost a millisecond)."""
    types = [column(name, table.c[name].type) for name in names]
    source = (
        func.jsonb_to_recordset(cast(bindparam(param, type_=Text), JSONB))
        .table_valued(*types)
        .render_derived(name="r", with_types=True)
    )
    return insert.from_select(list(names), select(*(source.c[name] for name in names)))
