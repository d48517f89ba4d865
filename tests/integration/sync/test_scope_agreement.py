"""The scope rules agree wherever they are applied (both databases):

- `Scope.sees` (Python, decides put vs delete) and `Scope.reaches` (what a pull must hear
  of: seen, or hidden only by `private`);
- `sync.pull.reach` (the same rule as SQL), run against real `sync_records` rows — every
  combination of entity, student key, instructor key, private flag and party user key;
- the live poke filter: a commit that changed a record the scope reaches must poke the
  connection (`Scope.touched_by`, with the CommitInfo the store builds), and the filter
  `server/routes/live.py` runs today says the same as `sync.core.scope`.

Scopes, principals, entity filters and commits are drawn by hypothesis (derandomized, see
tests/conftest.py).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from schemas import SyncRecord, Tenant, utcnow
from server.routes.live import _Watch
from sync.core.entities import ENTITIES, Visibility
from sync.core.principal import Principal
from sync.core.scope import Scope, rescopes
from sync.pull import reach
from sync.store import CommitInfo, Store, WriteTxn
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db

NS = uuid.UUID("0c2b8a4e-7a51-4a0b-9d8e-3b9f1a2c5d70")
TENANT = str(uuid.uuid5(NS, "tenant"))
STUDENTS = [str(uuid.uuid5(NS, f"s{n}")) for n in range(3)]
INSTRUCTORS = [str(uuid.uuid5(NS, f"i{n}")) for n in range(2)]
USERS = [str(uuid.uuid5(NS, f"u{n}")) for n in range(2)]
ROLES = ["owner", "admin", "instructor", "student", "guardian"]


def _rows() -> list[dict[str, Any]]:
    rows = []
    combos = itertools.product(
        sorted(ENTITIES), [None, *STUDENTS], [None, *INSTRUCTORS], [False, True], [None, USERS[0]]
    )
    for rev, (entity, sid, iid, private, uid) in enumerate(combos, start=1):
        rows.append(
            {
                "tenant_id": TENANT,
                "entity": entity,
                "id": str(uuid.uuid5(NS, f"{entity}/{sid}/{iid}/{private}/{uid}")),
                "rev": rev,
                "deleted": rev % 5 == 0,
                "student_id": sid,
                "instructor_id": iid,
                "private": private,
                "user_id": uid,
                "updated_at": utcnow(),
            }
        )
    return rows


ROWS = _rows()


@pytest.fixture
async def indexed(empty_db: Db) -> AsyncIterator[Db]:
    """An empty database whose change index holds every combination of scope keys."""
    async with empty_db.sessions() as session, session.begin():
        bind_tenant(session, ALL_TENANTS)
        session.add(Tenant(id=TENANT, slug="agree", name="Agreement"))
        await session.flush()
        await session.execute(insert(SyncRecord), ROWS)
    yield empty_db


@st.composite
def principals_and_scopes(draw: st.DrawFn) -> tuple[Principal, Scope]:
    role = draw(st.sampled_from(ROLES))
    maybe_student = st.none() | st.sampled_from(STUDENTS)
    who = Principal(
        TENANT,
        draw(st.sampled_from(USERS)),
        role,
        student_id=draw(maybe_student) if role == "student" else None,
        instructor_id=draw(st.none() | st.sampled_from(INSTRUCTORS))
        if role == "instructor"
        else None,
        ward_ids=tuple(draw(st.lists(st.sampled_from(STUDENTS), unique=True, max_size=2)))
        if role == "guardian"
        else (),
    )
    if who.is_admin:
        return who, Scope(role, everything=True, user_id=who.user_id)
    students = draw(st.frozensets(st.sampled_from(STUDENTS)))
    instructors = draw(st.frozensets(st.sampled_from(INSTRUCTORS)))
    return who, Scope(role, False, students, instructors, who.user_id)


ONLY = st.none() | st.frozensets(st.sampled_from(sorted(ENTITIES)), min_size=1)
ANY_IDS = st.sets(st.sampled_from(STUDENTS + INSTRUCTORS))
ANY_USERS = st.sets(st.sampled_from(USERS))


def _commit_of(row: dict[str, Any]) -> CommitInfo:
    """The CommitInfo the store builds for a commit that changed just this record."""
    txn = WriteTxn(None, TENANT, row["rev"] - 1)  # type: ignore[arg-type]
    txn.index(
        row["entity"],
        row["id"],
        txn.next_rev(),
        row["deleted"],
        row["student_id"],
        row["instructor_id"],
        row["private"],
        row["user_id"],
    )
    return txn.commit_info(Store(None, "sqlite").catalogue_entities)  # type: ignore[arg-type]


def test_the_store_marks_exactly_the_catalogue_entities() -> None:
    catalogue = {n for n, spec in ENTITIES.items() if spec.visibility is Visibility.CATALOGUE}
    assert Store(None, "sqlite").catalogue_entities == catalogue  # type: ignore[arg-type]


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=principals_and_scopes(), only=ONLY)
async def test_python_sql_and_live_filters_agree(
    indexed: Db, drawn: tuple[Principal, Scope], only: frozenset[str] | None
) -> None:
    who, scope = drawn
    async with indexed.sessions() as session:
        bind_tenant(session, TENANT)
        in_sql = set(await session.scalars(select(SyncRecord.id).where(reach(scope, only))))
    in_python = set()
    for row in ROWS:
        keys = (row["entity"], row["student_id"], row["instructor_id"])
        reaches = scope.reaches(*keys, row["user_id"])
        if scope.sees(*keys, row["private"], row["user_id"]):
            assert reaches, row  # everything seen is heard of
        if reaches and (only is None or row["entity"] in only):
            in_python.add(row["id"])
        if reaches:
            info = _commit_of(row)
            assert scope.touched_by(
                who, info.student_ids, info.instructor_ids, info.catalogue, info.user_ids
            ), (
                "a change in scope would not poke",
                row,
            )
            assert _Watch(who, scope).wants(info), ("live.py would not poke", row)
    assert in_sql == in_python


@settings(max_examples=300, deadline=None, database=None)
@given(
    drawn=principals_and_scopes(),
    students=ANY_IDS,
    instructors=ANY_IDS,
    rescoped=ANY_IDS,
    catalogue=st.booleans(),
    users=ANY_USERS,
)
def test_live_filter_is_the_one_in_sync_scope(
    drawn: tuple[Principal, Scope],
    students: set[str],
    instructors: set[str],
    rescoped: set[str],
    catalogue: bool,
    users: set[str],
) -> None:
    who, scope = drawn
    info = CommitInfo(TENANT, 2, students, instructors, catalogue, rescoped, user_ids=users)
    watch = _Watch(who, scope)
    expected = rescopes(who, rescoped) or scope.touched_by(
        who, students, instructors, catalogue, users
    )
    assert watch.wants(info) == expected
    # A commit that changed this user's scope marks it for reloading, even when the same
    # commit also touched the catalogue (that once skipped the reload).
    assert watch.stale == rescopes(who, rescoped)


def test_the_rows_hold_each_party_entity_addressed_to_a_user_and_an_instructor() -> None:
    """The draw covers every party record (issue 13's threads, messages and read marks, and
    inbox items): addressed to a user, to an instructor alone, to both, to nobody but
    admins."""
    party = {n for n, spec in ENTITIES.items() if spec.visibility is Visibility.PARTY}
    assert {"thread", "thread_member", "message"} <= party
    for entity in party:
        keys = {(r["user_id"], r["instructor_id"]) for r in ROWS if r["entity"] == entity}
        assert (USERS[0], None) in keys and (None, INSTRUCTORS[0]) in keys
        assert (USERS[0], INSTRUCTORS[0]) in keys and (None, None) in keys
