"""Where a push or a pull spends its time, measured inside one process (no HTTP, no other
process competing for the event loop): the engine's services called directly, with

- the number of SQL statements (database round trips) per mutation / per page, counted by a
  SQLAlchemy `before_cursor_execute` hook, split by statement kind;
- the wall time, and the share of it spent waiting on the database (time between sending a
  statement and getting its result, measured around the driver calls);
- a cProfile of the same call, grouped into layers (ORM, driver, pydantic, JSON, ours).

    .venv/bin/python -m bench.roundtrips [--quick]
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import time
from collections import Counter
from typing import Any

from sqlalchemy import event, select

from bench.common import (
    BenchDb,
    base_args,
    engine_store,
    make_school,
    print_machine,
    save_json,
    say,
)


def _kind(sql: str) -> str:
    words = sql.strip().split()
    head = words[0].upper() if words else "?"
    if head in ("SELECT", "UPDATE", "INSERT", "DELETE"):
        for i, w in enumerate(words):
            if w.upper() in ("FROM", "INTO") or (head == "UPDATE" and i == 1):
                target = words[i + 1] if w.upper() in ("FROM", "INTO") else w
                return f"{head} {target.strip('(').split('.')[-1]}"
    return head


def layer_of(filename: str) -> str:
    f = filename.replace("\\", "/")
    for key, name in (
        ("/sqlalchemy/orm/", "SQLAlchemy ORM"),
        ("/sqlalchemy/dialects/", "SQLAlchemy asyncpg adapter"),
        ("/sqlalchemy/", "SQLAlchemy core/engine"),
        ("/asyncpg/", "asyncpg"),
        ("/pydantic", "pydantic"),
        ("/json/", "std json"),
        ("/greenlet", "greenlet"),
        ("/asyncio/", "asyncio"),
        ("/sync/", "DriveSync sync/"),
        ("/schemas/", "DriveSync schemas/"),
        ("/server/", "DriveSync server/"),
    ):
        if key in f:
            return name
    if f.startswith("~") or "<built-in" in f or "{" in f:
        return "builtins / C"
    return "other"


def profile_layers(prof: cProfile.Profile, top: int = 20) -> dict[str, Any]:
    """Own time per layer and the top functions by own and cumulative time."""
    stats = pstats.Stats(prof)
    layers: Counter[str] = Counter()
    own: list[tuple[float, str]] = []
    cum: list[tuple[float, str]] = []
    total = 0.0
    for (filename, line, func), (_cc, _nc, tt, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        name = f"{func} ({filename.split('site-packages/')[-1].split('/work/main/')[-1]}:{line})"
        if filename == "~":
            # builtins: charge them to the layer of their callers
            best = None
            for (cfile, _cl, _cf), (_a, _b, ctt, _cct) in callers.items():
                if best is None or ctt > best[0]:
                    best = (ctt, cfile)
            lay = f"{layer_of(best[1])} (C calls)" if best else "builtins / C"
        else:
            lay = layer_of(filename)
        layers[lay] += tt
        total += tt
        own.append((tt, name))
        cum.append((ct, name))
    own.sort(reverse=True)
    cum.sort(reverse=True)
    return {
        "total_s": total,
        "layers": [(k, v / total) for k, v in layers.most_common()],
        "own": [(n, t) for t, n in own[:top]],
        "cumulative": [(n, t) for t, n in cum[:top]],
    }


def print_layers(title: str, prof: dict[str, Any]) -> None:
    say(f"\n-- cProfile: {title} (own time {prof['total_s']:.2f}s) --")
    for name, share in prof["layers"]:
        if share >= 0.005:
            say(f"  {share * 100:5.1f}%  {name}")
    say("  top own time:")
    for name, t in prof["own"][:12]:
        say(f"    {t:7.3f}s  {name}")


async def run(args: Any) -> dict[str, Any]:
    from schemas import SyncRecord
    from sync.access import principal_for
    from sync.service import Limits, SyncService
    from sync.tenancy import bind_tenant

    n = 200 if args.quick else 500
    say(f"\n### round trips and in-process profile (push of {n} note patches, pull of 5000)")
    db = await BenchDb("rt").create(seed=False)
    out: dict[str, Any] = {}
    try:
        async with engine_store(db) as (sessions, store):
            school = await make_school(
                sessions,
                store,
                "rt",
                instructors=1,
                students_per_instructor=10,
                lessons_per_student=10,
                notes_per_lesson=60,
            )
            inst = school.instructors[0]
            async with sessions() as s:
                bind_tenant(s, school.tenant_id)
                who = await principal_for(s, school.tenant_id, inst.user_id)
                admin = await principal_for(s, school.tenant_id, school.admin_user_id)
                revs = dict(
                    (
                        await s.execute(
                            select(SyncRecord.id, SyncRecord.rev).where(
                                SyncRecord.entity == "lesson_note"
                            )
                        )
                    ).all()
                )
            service = SyncService(store, "secret", Limits())
            await service.notifier.start_pg(db.dsn)  # as the server does: LISTEN
            engine = store.sessions.kw["bind"]
            kinds: Counter[str] = Counter()
            db_wait = [0.0]
            counting = [False]

            @event.listens_for(engine.sync_engine, "before_cursor_execute")
            def _count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
                if counting[0]:
                    kinds[_kind(statement)] += 1

            # time spent awaiting the driver: wrap the adapter's await points
            from sqlalchemy.dialects.postgresql import asyncpg as sa_asyncpg

            cursor_cls = sa_asyncpg.AsyncAdapt_asyncpg_cursor
            original = cursor_cls._prepare_and_execute

            async def timed(self: Any, *a: Any, **kw: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return await original(self, *a, **kw)
                finally:
                    db_wait[0] += time.perf_counter() - t0

            cursor_cls._prepare_and_execute = timed  # type: ignore[method-assign]

            seq = [0]

            def batch(ids: list[str], tag: str) -> list[dict[str, Any]]:
                ms = int(time.time() * 1000)
                muts = []
                for k, nid in enumerate(ids):
                    seq[0] += 1
                    muts.append(
                        {
                            "seq": seq[0],
                            "entity": "lesson_note",
                            "id": nid,
                            "op": "patch",
                            "hlc": f"{ms:013d}-{k:04d}-11111111-1111-4111-8111-111111111111",
                            "base_rev": revs[nid],
                            "data": {
                                "body": f"{tag}: mirrors and signals checked before every "
                                "manoeuvre; clutch control smoother."
                            },
                        }
                    )
                return muts

            client_id = "11111111-1111-4111-8111-111111111111"
            ids = inst.note_ids[:n]
            body = await service.push.push(who, client_id, 1, batch(ids, "warm"))
            for nid, r in zip(ids, body["results"], strict=True):
                revs[nid] = r["rev"]

            # 1. push: statements and db wait
            kinds.clear()
            db_wait[0] = 0.0
            counting[0] = True
            t0 = time.perf_counter()
            body = await service.push.push(who, client_id, 1, batch(ids, "measured"))
            wall = time.perf_counter() - t0
            counting[0] = False
            for nid, r in zip(ids, body["results"], strict=True):
                revs[nid] = r["rev"]
            statements = sum(kinds.values())
            say(
                f"push of {n}: {wall * 1000:.0f} ms ({n / wall:,.0f} mut/s in-process, no HTTP), "
                f"{statements} statements = {statements / n:.1f} per mutation; "
                f"awaiting the driver {db_wait[0] * 1000:.0f} ms ({db_wait[0] / wall:.0%})"
            )
            for k, v in kinds.most_common():
                say(f"    {v:6d}  {k}")
            out["push"] = {
                "n": n,
                "wall_s": wall,
                "statements": dict(kinds),
                "per_mutation": statements / n,
                "db_wait_s": db_wait[0],
            }

            # 2. push under cProfile
            prof = cProfile.Profile()
            batch_ids = batch(ids, "profiled")
            prof.enable()
            body = await service.push.push(who, client_id, 1, batch_ids)
            prof.disable()
            for nid, r in zip(ids, body["results"], strict=True):
                revs[nid] = r["rev"]
            out["push_profile"] = profile_layers(prof)
            print_layers(f"push of {n} patches, in-process", out["push_profile"])

            # 3. pull: initial page of 5000 as admin, statements and db wait
            kinds.clear()
            db_wait[0] = 0.0
            counting[0] = True
            t0 = time.perf_counter()
            page = await service.pull.pull(admin, None, 5000, None, 1)
            wall = time.perf_counter() - t0
            counting[0] = False
            statements = sum(kinds.values())
            say(
                f"\npull page of {len(page.changes)}: {wall * 1000:.0f} ms "
                f"({len(page.changes) / wall:,.0f} records/s in-process, no JSON/HTTP), "
                f"{statements} statements; awaiting the driver {db_wait[0] * 1000:.0f} ms "
                f"({db_wait[0] / wall:.0%})"
            )
            for k, v in kinds.most_common():
                say(f"    {v:6d}  {k}")
            out["pull"] = {
                "records": len(page.changes),
                "wall_s": wall,
                "statements": dict(kinds),
                "db_wait_s": db_wait[0],
            }
            prof = cProfile.Profile()
            prof.enable()
            page = await service.pull.pull(admin, None, 5000, None, 1)
            from server.http import dumps

            text = dumps({"changes": page.changes})
            prof.disable()
            out["pull_profile"] = profile_layers(prof)
            out["pull_json_bytes"] = len(text)
            print_layers("pull page of 5000 + JSON encoding, in-process", out["pull_profile"])

            # 4. empty incremental pull
            while page.has_more:
                page = await service.pull.pull(
                    admin, page.cursor.to_string("secret"), 5000, None, 1
                )
            cursor_text = page.cursor.to_string("secret")
            kinds.clear()
            counting[0] = True
            await service.pull.pull(admin, cursor_text, 1000, None, 1)
            counting[0] = False
            say(f"\nempty incremental pull: {sum(kinds.values())} statements")
            for k, v in kinds.most_common():
                say(f"    {v:6d}  {k}")
            out["incremental"] = {"statements": dict(kinds)}
            # The same without LISTEN (SQLite, or while it reconnects): the database answers.
            await service.notifier.close()
            kinds.clear()
            counting[0] = True
            await service.pull.pull(admin, cursor_text, 1000, None, 1)
            counting[0] = False
            say(f"empty incremental pull, LISTEN down: {sum(kinds.values())} statements")
            for k, v in kinds.most_common():
                say(f"    {v:6d}  {k}")
            out["incremental_no_listen"] = {"statements": dict(kinds)}

            # 5. statements per batch, by size and mix of what devices create
            out["mixes"] = await _mixes(service, store, school, who, kinds, counting)
            cursor_cls._prepare_and_execute = original  # type: ignore[method-assign]
    finally:
        if not args.keep_db:
            await db.drop()
    return out


async def _mixes(
    service: Any, store: Any, school: Any, who: Any, kinds: Counter[str], counting: list[bool]
) -> dict[str, Any]:
    """SQL statements per push batch for the records devices create, at 1, 25 and 500
    mutations a batch: statements must not grow with the batch size."""
    import uuid

    from schemas import Skill, Trip

    inst = school.instructors[0]
    skill_id = str(uuid.uuid4())
    trip_ids = [str(uuid.uuid4()) for _ in range(3)]
    async with store.write(school.tenant_id) as txn:
        txn.stamp(
            "skill",
            Skill(
                tenant_id=school.tenant_id,
                id=skill_id,
                code="mirrors",
                name="Mirrors",
                stage=1,
                position=1,
            ),
        )
        for trip_id in trip_ids:
            txn.stamp(
                "trip",
                Trip(
                    tenant_id=school.tenant_id,
                    id=trip_id,
                    lesson_id=inst.lesson_ids[0],
                    student_id=inst.student_ids[0],
                    instructor_id=inst.instructor_id,
                ),
            )
    client_id = str(uuid.uuid4())
    seq = [0]
    segment_index = dict.fromkeys(trip_ids, 0)
    patchable = list(inst.note_ids[600:])

    def mutation(kind: str, k: int, ms: int) -> dict[str, Any]:
        seq[0] += 1
        base = {
            "seq": seq[0],
            "hlc": f"{ms:013d}-{k % 10000:04d}-{client_id}",
            "op": "put",
            "id": str(uuid.uuid4()),
        }
        lesson_id = inst.lesson_ids[k % len(inst.lesson_ids)]
        if kind == "note" or (kind == "mixed" and k % 2 == 0):
            return {
                **base,
                "entity": "lesson_note",
                "data": {
                    "lesson_id": lesson_id,
                    "body": "Roundabouts: good lane discipline. " * 8,
                    "private": False,
                    "tags": ["roundabouts"],
                },
            }
        if kind == "mixed":
            return {
                **base,
                "entity": "lesson_note",
                "op": "patch",
                "id": patchable.pop(),
                "data": {"body": "Patched: smoother clutch control."},
            }
        if kind == "assessment":
            return {
                **base,
                "entity": "skill_assessment",
                "data": {"lesson_id": lesson_id, "skill_id": skill_id, "level": 1 + k % 5},
            }
        trip_id = trip_ids[k % len(trip_ids)]
        index = segment_index[trip_id]
        segment_index[trip_id] += 1
        t0 = 1_767_600_000_000 + index * 100_000
        points = [
            [t0 + i * 1000, 51.5 + (index * 100 + i) * 1e-5, -0.12, 30.0, 5.0] for i in range(100)
        ]
        return {
            **base,
            "entity": "trip_segment",
            "data": {"trip_id": trip_id, "index": index, "points": points},
        }

    out: dict[str, Any] = {}
    say("\nstatements per push batch (in-process), by mix and batch size:")
    for kind in ("note", "mixed", "assessment", "segment"):
        row: dict[str, Any] = {}
        for size in (1, 25, 500):
            # One batch of this size first, so statement caches and prepared statements are
            # warm (as on a running server), then the measured one.
            ms = int(time.time() * 1000)
            warm = await service.push.push(
                who, client_id, 1, [mutation(kind, k, ms) for k in range(size)]
            )
            assert all(r["status"] != "rejected" for r in warm["results"])
            ms = int(time.time() * 1000)
            batch_ = [mutation(kind, k, ms) for k in range(size)]
            kinds.clear()
            counting[0] = True
            t0 = time.perf_counter()
            body = await service.push.push(who, client_id, 1, batch_)
            wall = time.perf_counter() - t0
            counting[0] = False
            bad = [r for r in body["results"] if r["status"] == "rejected"]
            assert not bad, bad[:1]
            row[str(size)] = {
                "statements": sum(kinds.values()),
                "ms": wall * 1000,
                "kinds": dict(kinds),
            }
        out[kind] = row
        say(
            f"    {kind:10s} "
            + "  ".join(
                f"{size:>3}: {v['statements']:3d} statements {v['ms']:7.1f} ms"
                for size, v in row.items()
            )
        )
    for kind, row in out.items():
        say(
            f"  {kind}, one mutation: "
            + ", ".join(f"{n} {k}" for k, n in row["1"]["kinds"].items())
        )
    return out


def main() -> None:
    args = base_args(__doc__.split("\n")[0]).parse_args()
    info = print_machine()
    out = asyncio.run(run(args))
    save_json(args.json, "roundtrips", {"machine": info, **out})


if __name__ == "__main__":
    main()
