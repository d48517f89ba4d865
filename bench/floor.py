"""The floor: the same rows written and read by a bare asyncpg script on the same machine,
the same database and the same tables (same indexes), with no HTTP, ORM or validation.

Each benchmark calls the matching function here after its server runs and reports its own
figures as a ratio of these. Writes keep the engine's bookkeeping (rev lock, rev stamps,
`sync_records` upsert, exactly-once results, device row, note history), so they are a fair
lower bound for what the engine has to do, not a different workload:

- `push_set_based`: one batch = one transaction of set-based statements (the best case);
- `push_row_by_row`: the engine's own statement pattern (a savepoint, a select, an update and
  an insert per mutation) without ORM, pydantic or HTTP: the cost of round trips alone;
- `read_pages`: 100k records read in pages of 5000 by keyset on rev, joined to their table;
- `incremental`: the empty incremental check (head rev, then the index after the cursor);
- `gps_batches`: trip segments inserted with their trip totals and index rows;
- the live floor (a bare aiohttp WebSocket fan-out of NOTIFY) lives in bench.live.

`python -m bench.floor` runs a small self-check on a fresh database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

UPSERT_INDEX = """
INSERT INTO sync_records (tenant_id, entity, id, rev, deleted, student_id, instructor_id,
                          private, updated_at)
SELECT $1, $2, u.id, u.rev, false, u.student_id, u.instructor_id, u.private, $3
FROM unnest($4::varchar[], $5::bigint[], $6::varchar[], $7::varchar[], $8::bool[])
     AS u(id, rev, student_id, instructor_id, private)
ON CONFLICT (tenant_id, entity, id) DO UPDATE SET
  rev = excluded.rev, deleted = excluded.deleted, student_id = excluded.student_id,
  instructor_id = excluded.instructor_id, private = excluded.private,
  updated_at = excluded.updated_at
"""

UPSERT_INDEX_ROW = """
INSERT INTO sync_records (tenant_id, entity, id, rev, deleted, student_id, instructor_id,
                          private, updated_at)
VALUES ($1, $2, $3, $4, false, $5, $6, $7, $8)
ON CONFLICT (tenant_id, entity, id) DO UPDATE SET
  rev = excluded.rev, deleted = excluded.deleted, student_id = excluded.student_id,
  instructor_id = excluded.instructor_id, private = excluded.private,
  updated_at = excluded.updated_at
"""


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )
    return conn


async def pool(dsn: str, size: int) -> asyncpg.Pool:
    async def init(conn: asyncpg.Connection) -> None:
        for name in ("json", "jsonb"):
            await conn.set_type_codec(
                name,
                encoder=lambda v: orjson.dumps(v).decode(),
                decoder=orjson.loads,
                schema="pg_catalog",
            )

    return await asyncpg.create_pool(dsn, min_size=size, max_size=size, init=init)


@dataclass
class FloorDevice:
    """A floor 'client': its tenant, user, device row and seq."""

    tenant_id: str
    user_id: str
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    device_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    seq: int = 0
    created: bool = False


def _hlc(client_id: str, n: int) -> str:
    return f"{int(time.time() * 1000):013d}-{n % 10000:04d}-{client_id}"


async def _device(conn: asyncpg.Connection, dev: FloorDevice, now: dt.datetime) -> int:
    row = await conn.fetchrow(
        "SELECT id, acked_seq FROM devices WHERE tenant_id=$1 AND user_id=$2 AND client_id=$3",
        dev.tenant_id,
        dev.user_id,
        dev.client_id,
    )
    if row is None:
        await conn.execute(
            "INSERT INTO devices (tenant_id, id, user_id, client_id, acked_seq, last_seen_at,"
            " created_at) VALUES ($1, $2, $3, $4, 0, $5, $5)",
            dev.tenant_id,
            dev.device_id,
            dev.user_id,
            dev.client_id,
            now,
        )
        return 0
    dev.device_id = row["id"]
    return int(row["acked_seq"])


async def push_set_based(
    conn: asyncpg.Connection, dev: FloorDevice, note_ids: Sequence[str], tag: str
) -> int:
    """One batch of note body patches as one transaction of set-based statements."""
    now = dt.datetime.now(dt.UTC)
    async with conn.transaction():
        rev = await conn.fetchval(
            "SELECT rev FROM tenant_revs WHERE tenant_id=$1 FOR UPDATE", dev.tenant_id
        )
        acked = await _device(conn, dev, now)
        rows = await conn.fetch(
            "SELECT id, rev, body, field_hlc, student_id, private, deleted FROM lesson_notes"
            " WHERE tenant_id=$1 AND id = ANY($2::varchar[])",
            dev.tenant_id,
            list(note_ids),
        )
        by_id = {r["id"]: r for r in rows}
        ids, bodies, clocks, revs, students, privs, seqs, results = [], [], [], [], [], [], [], []
        for nid in note_ids:
            row = by_id[nid]
            dev.seq += 1
            hlc = _hlc(dev.client_id, dev.seq)
            fh = dict(row["field_hlc"] or {})
            if fh.get("body") is None or hlc > fh["body"]:
                fh["body"] = hlc
            rev += 1
            ids.append(nid)
            bodies.append(f"{row['body'][:150]} [{tag} {dev.seq}]")
            clocks.append(orjson.dumps(fh).decode())
            revs.append(rev)
            students.append(row["student_id"])
            privs.append(row["private"])
            seqs.append(dev.seq)
            results.append(orjson.dumps({"seq": dev.seq, "status": "applied", "rev": rev}).decode())
        await conn.execute(
            "UPDATE lesson_notes n SET body=u.body, field_hlc=u.fh::jsonb, rev=u.rev,"
            " updated_at=$2 FROM unnest($3::varchar[], $4::text[], $5::text[], $6::bigint[])"
            " AS u(id, body, fh, rev) WHERE n.tenant_id=$1 AND n.id=u.id",
            dev.tenant_id,
            now,
            ids,
            bodies,
            clocks,
            revs,
        )
        await conn.execute(
            "INSERT INTO note_revisions (tenant_id, note_id, rev, body)"
            " SELECT $1, u.id, u.rev, u.body"
            " FROM unnest($2::varchar[], $3::bigint[], $4::text[]) AS u(id, rev, body)",
            dev.tenant_id,
            ids,
            revs,
            bodies,
        )
        await conn.execute(
            UPSERT_INDEX,
            dev.tenant_id,
            "lesson_note",
            now,
            ids,
            revs,
            students,
            [None] * len(ids),
            privs,
        )
        await conn.execute(
            "INSERT INTO mutation_results (tenant_id, device_id, seq, result, created_at)"
            " SELECT $1, $2, u.seq, u.result::jsonb, $3"
            " FROM unnest($4::bigint[], $5::text[]) AS u(seq, result)",
            dev.tenant_id,
            dev.device_id,
            now,
            seqs,
            results,
        )
        await conn.execute(
            "UPDATE devices SET acked_seq=$3, last_seen_at=$4, last_push_at=$4"
            " WHERE tenant_id=$1 AND id=$2",
            dev.tenant_id,
            dev.device_id,
            max(acked, dev.seq),
            now,
        )
        await conn.execute("UPDATE tenant_revs SET rev=$2 WHERE tenant_id=$1", dev.tenant_id, rev)
    return len(note_ids)


async def push_row_by_row(
    conn: asyncpg.Connection, dev: FloorDevice, note_ids: Sequence[str], tag: str
) -> int:
    """The engine's statement pattern, minus ORM/pydantic/HTTP: per mutation a savepoint,
    a select of the row, an update, a history insert and the stored result."""
    now = dt.datetime.now(dt.UTC)
    async with conn.transaction():
        rev = await conn.fetchval(
            "SELECT rev FROM tenant_revs WHERE tenant_id=$1 FOR UPDATE", dev.tenant_id
        )
        acked = await _device(conn, dev, now)
        index: list[tuple[Any, ...]] = []
        for nid in note_ids:
            dev.seq += 1
            hlc = _hlc(dev.client_id, dev.seq)
            async with conn.transaction():  # SAVEPOINT … RELEASE
                row = await conn.fetchrow(
                    "SELECT * FROM lesson_notes WHERE tenant_id=$1 AND id=$2",
                    dev.tenant_id,
                    nid,
                )
                fh = dict(row["field_hlc"] or {})
                fh["body"] = hlc
                rev += 1
                body = f"{row['body'][:150]} [{tag} {dev.seq}]"
                await conn.execute(
                    "UPDATE lesson_notes SET body=$3, field_hlc=$4, rev=$5, updated_at=$6"
                    " WHERE tenant_id=$1 AND id=$2",
                    dev.tenant_id,
                    nid,
                    body,
                    fh,
                    rev,
                    now,
                )
                await conn.execute(
                    "INSERT INTO note_revisions (tenant_id, note_id, rev, body)"
                    " VALUES ($1, $2, $3, $4)",
                    dev.tenant_id,
                    nid,
                    rev,
                    body,
                )
            await conn.execute(
                "INSERT INTO mutation_results (tenant_id, device_id, seq, result, created_at)"
                " VALUES ($1, $2, $3, $4, $5)",
                dev.tenant_id,
                dev.device_id,
                dev.seq,
                {"seq": dev.seq, "status": "applied", "rev": rev},
                now,
            )
            index.append(
                (
                    dev.tenant_id,
                    "lesson_note",
                    nid,
                    rev,
                    row["student_id"],
                    None,
                    row["private"],
                    now,
                )
            )
        await conn.executemany(UPSERT_INDEX_ROW, index)
        await conn.execute(
            "UPDATE devices SET acked_seq=$3, last_seen_at=$4, last_push_at=$4"
            " WHERE tenant_id=$1 AND id=$2",
            dev.tenant_id,
            dev.device_id,
            max(acked, dev.seq),
            now,
        )
        await conn.execute("UPDATE tenant_revs SET rev=$2 WHERE tenant_id=$1", dev.tenant_id, rev)
    return len(note_ids)


READ_PAGE = """
SELECT s.rev AS srev, n.id, n.rev, n.updated_at, n.lesson_id, n.student_id, n.body,
       n.private, n.tags
FROM sync_records s
JOIN lesson_notes n ON n.tenant_id = s.tenant_id AND n.id = s.id
WHERE s.tenant_id = $1 AND s.rev > $2 AND s.entity = 'lesson_note' AND NOT s.deleted
ORDER BY s.rev
LIMIT $3
"""


async def read_pages(
    conn: asyncpg.Connection, tenant_id: str, page: int = 5000, encode: bool = False
) -> tuple[int, int]:
    """Every lesson note of the tenant in keyset pages of `page`; optionally encoded as the
    wire's JSON. Returns (rows, bytes encoded)."""
    after = 0
    count = 0
    size = 0
    while True:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            rows = await conn.fetch(READ_PAGE, tenant_id, after, page)
        if not rows:
            return count, size
        count += len(rows)
        after = rows[-1]["srev"]
        if encode:
            changes = [
                {
                    "entity": "lesson_note",
                    "id": r["id"],
                    "rev": r["rev"],
                    "op": "put",
                    "record": {
                        "id": r["id"],
                        "rev": r["rev"],
                        "updated_at": r["updated_at"],
                        "lesson_id": r["lesson_id"],
                        "student_id": r["student_id"],
                        "body": r["body"],
                        "private": r["private"],
                        "tags": r["tags"],
                    },
                }
                for r in rows
            ]
            size += len(orjson.dumps({"changes": changes}, option=orjson.OPT_UTC_Z))
        if len(rows) < page:
            return count, size


async def incremental(conn: asyncpg.Connection, tenant_id: str, rev: int) -> int:
    """The empty incremental pull: head rev and the index after the cursor, one snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        head = await conn.fetchval("SELECT rev FROM tenant_revs WHERE tenant_id=$1", tenant_id)
        rows = await conn.fetch(
            "SELECT entity, id, rev, deleted, student_id, instructor_id, private"
            " FROM sync_records WHERE tenant_id=$1 AND rev > $2 ORDER BY rev LIMIT 1001",
            tenant_id,
            rev,
        )
    return int(head) + len(rows)


async def gps_batch(
    conn: asyncpg.Connection,
    dev: FloorDevice,
    segments: Sequence[tuple[str, str, str, int, list[list[Any]]]],
    trips: dict[str, dict[str, Any]],
) -> int:
    """Insert trip segments (id, trip_id, student_id, index, points) with their index rows,
    stored results and the trips' totals updated incrementally. Returns points written."""
    from sync.core.geo import track_distance_m

    now = dt.datetime.now(dt.UTC)
    points_written = 0
    async with conn.transaction():
        rev = await conn.fetchval(
            "SELECT rev FROM tenant_revs WHERE tenant_id=$1 FOR UPDATE", dev.tenant_id
        )
        acked = await _device(conn, dev, now)
        seg_rows, idx_ids, idx_revs, idx_students, results, seqs = [], [], [], [], [], []
        touched: dict[str, int] = {}
        for sid, trip_id, student_id, index, points in segments:
            rev += 1
            dev.seq += 1
            seg_rows.append(
                (
                    dev.tenant_id,
                    sid,
                    trip_id,
                    student_id,
                    index,
                    orjson.dumps(points).decode(),
                    rev,
                    now,
                )
            )
            idx_ids.append(sid)
            idx_revs.append(rev)
            idx_students.append(student_id)
            seqs.append(dev.seq)
            results.append(orjson.dumps({"seq": dev.seq, "status": "applied", "rev": rev}).decode())
            trip = trips[trip_id]
            hop = [trip["last"], *points] if trip.get("last") else points
            trip["distance"] += track_distance_m(hop)
            trip["count"] += len(points)
            trip["last"] = points[-1]
            trip["first_t"] = trip.get("first_t") or points[0][0]
            touched[trip_id] = 0
            points_written += len(points)
        await conn.executemany(
            "INSERT INTO trip_segments (tenant_id, id, trip_id, student_id, index, points, rev,"
            " deleted, field_hlc, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, false, '{}'::jsonb, $8, $8)",
            seg_rows,
        )
        trip_ids, trip_revs, dists, durs, counts, trip_students = [], [], [], [], [], []
        for trip_id in touched:
            rev += 1
            trip = trips[trip_id]
            trip_ids.append(trip_id)
            trip_revs.append(rev)
            dists.append(round(trip["distance"], 1))
            durs.append(round((trip["last"][0] - trip["first_t"]) / 1000))
            counts.append(trip["count"])
            trip_students.append(trip["student_id"])
        await conn.execute(
            "UPDATE trips t SET distance_m=u.d, duration_s=u.s, point_count=u.c, rev=u.rev,"
            " updated_at=$2 FROM unnest($3::varchar[], $4::float8[], $5::int[], $6::int[],"
            " $7::bigint[]) AS u(id, d, s, c, rev) WHERE t.tenant_id=$1 AND t.id=u.id",
            dev.tenant_id,
            now,
            trip_ids,
            dists,
            durs,
            counts,
            trip_revs,
        )
        await conn.execute(
            UPSERT_INDEX,
            dev.tenant_id,
            "trip_segment",
            now,
            idx_ids,
            idx_revs,
            idx_students,
            [None] * len(idx_ids),
            [False] * len(idx_ids),
        )
        await conn.execute(
            UPSERT_INDEX,
            dev.tenant_id,
            "trip",
            now,
            trip_ids,
            trip_revs,
            trip_students,
            [None] * len(trip_ids),
            [False] * len(trip_ids),
        )
        await conn.execute(
            "INSERT INTO mutation_results (tenant_id, device_id, seq, result, created_at)"
            " SELECT $1, $2, u.seq, u.result::jsonb, $3"
            " FROM unnest($4::bigint[], $5::text[]) AS u(seq, result)",
            dev.tenant_id,
            dev.device_id,
            now,
            seqs,
            results,
        )
        await conn.execute(
            "UPDATE devices SET acked_seq=$3, last_seen_at=$4, last_push_at=$4"
            " WHERE tenant_id=$1 AND id=$2",
            dev.tenant_id,
            dev.device_id,
            max(acked, dev.seq),
            now,
        )
        await conn.execute("UPDATE tenant_revs SET rev=$2 WHERE tenant_id=$1", dev.tenant_id, rev)
    return points_written


async def _selfcheck() -> None:
    from bench.common import BenchDb, engine_store, make_school, say

    db = await BenchDb("floorcheck").create(seed=False)
    try:
        async with engine_store(db) as (sessions, store):
            school = await make_school(
                sessions,
                store,
                "fc",
                instructors=1,
                students_per_instructor=2,
                lessons_per_student=5,
                notes_per_lesson=50,
            )
        conn = await connect(db.dsn)
        try:
            dev = FloorDevice(school.tenant_id, school.instructors[0].user_id)
            notes = school.note_ids
            t0 = time.perf_counter()
            await push_set_based(conn, dev, notes, "set")
            t1 = time.perf_counter()
            await push_row_by_row(conn, dev, notes, "row")
            t2 = time.perf_counter()
            rows, size = await read_pages(conn, school.tenant_id, encode=True)
            head = await conn.fetchval("SELECT rev FROM tenant_revs")
            say(
                f"set-based {len(notes) / (t1 - t0):,.0f}/s, row-by-row "
                f"{len(notes) / (t2 - t1):,.0f}/s, read {rows} rows ({size} bytes), head {head}"
            )
        finally:
            await conn.close()
    finally:
        await db.drop()


if __name__ == "__main__":
    asyncio.run(_selfcheck())
