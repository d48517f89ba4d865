"""Rows by id: the statement a push's preload and a pull page use to fetch records by their
primary key, bound to a list of ids as `ids`.

On PostgreSQL the ids are probed one at a time (`unnest` + a `LATERAL … LIMIT 1` subquery),
so each probe is an equality on the whole key `(tenant_id, id)`. Written as `tenant_id = …
AND id IN (…)`, the planner weighs one scan of the school's rows against a probe per id and
counts the school's rows from its statistics: for a school that grew since the last ANALYZE
(a new one, or one syncing its first term) it chose the scan, and filtered every row the
school had, on every push and every page (docs/benchmarks.md). A probe per id does not
depend on the statistics (migration 0003 also keeps none on `tenant_id` and leaves the
primary key the only index that starts with it).

The school's condition: for ORM objects, the one the session adds to every statement
(sync.tenancy) — a second, equal condition would make the planner count the school's share
twice, and an estimate of one row makes every index look alike. For plain columns the
session adds none inside the LATERAL subquery, so the statement carries its own, bound as
`tenant` (never leave it out: ids are made by clients, and without the school in the
condition the key could not be used either). SQLite plans `IN` by the key already."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, bindparam, func, literal_column, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased

_CACHE: dict[tuple[Any, ...], Any] = {}


def by_ids(dialect: str, table: Any, columns: tuple[Any, ...] | None = None) -> Any:
    """Rows of the mapped class `table` whose ids are bound as `ids`: ORM objects, or with
    `columns` (attributes of `table`) plain rows of those columns, named as they are, of
    the school bound as `tenant`."""
    key = (dialect, table, columns)
    stmt = _CACHE.get(key)
    if stmt is not None:
        return stmt
    school = (table.tenant_id == bindparam("tenant"),) if columns else ()
    if dialect != "postgresql":
        wanted: Any = bindparam("ids", expanding=True)
        stmt = (select(*columns) if columns else select(table)).where(*school, table.id.in_(wanted))
    else:
        ids = (
            func.unnest(bindparam("ids", type_=ARRAY(Text)))
            .table_valued("id")
            .render_derived(name="k")
        )
        inner = (
            (select(*columns) if columns else select(table))
            .where(*school, table.id == ids.c.id)
            .limit(literal_column("1"))  # not a parameter: a generic plan must know it
            .lateral("r")
        )
        if columns:
            outer = select(*(inner.c[col.key] for col in columns))
        else:
            outer = select(aliased(table, inner))
        stmt = outer.select_from(ids).join(inner, true())
    _CACHE[key] = stmt
    return stmt
