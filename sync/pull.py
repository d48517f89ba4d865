"""Pull: the changes in a user's scope since their cursor, in pages.

One read transaction (one snapshot) per page. A page has two parts:
1. while the user's scope differs from the one their cursor was made under, every record of
   the students/instructors that entered or left it (entered → put, left → delete), walked
   in (rev, id) order — older than the cursor or not, since the new scope's filter would
   never reach a record that left it;
2. then the change index after the cursor's rev, filtered by scope in SQL: puts for visible
   records, deletes for tombstones and for records still in reach but no longer visible (a
   note turned private, for a student).
Each record appears at most once (the index holds one row per record, at its latest rev).

A pull with nothing new — its cursor at the tenant's head, the user's scope the one it was
made under — is answered from memory, without the database: the head from `TenantHeads`
(kept current by the notifier, trusted only while LISTEN is up) and the scope from
`ScopeCache`. Whenever either is unsure, the pull reads the database as above.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import SyncRecord, TenantRev
from schemas.wire import SCHEMA_VERSION as DEFAULT_SCHEMA_VERSION
from sync.access import ScopeCache, load_scope, load_snapshot, save_snapshot
from sync.core.cursor import Cursor, CursorError, ScopeDiff
from sync.core.entities import ENTITIES, PERSONAL_ENTITIES, Visibility
from sync.core.principal import Principal
from sync.core.scope import Scope, changed_members
from sync.errors import Invalid, ResetRequired, UpgradeRequired
from sync.lookup import by_ids
from sync.notifier import TenantHeads
from sync.records import RecordContext, record_columns, student_ids_of, to_record
from sync.store import Store
from sync.tables import table_of
from sync.tenancy import bind_tenant


@dataclass
class PullPage:
    """One page of changes, the cursor to continue from, and the snapshot's rev."""

    changes: list[dict[str, Any]]
    cursor: Cursor
    has_more: bool
    rev: int


def reach(scope: Scope, only: frozenset[str] | None) -> ColumnElement[bool]:
    """SQL for the index rows a user may hear about: the records they can see, plus those
    they could see but for the `private` flag (sent to them as deletes)."""
    if scope.everything:
        # Everything but other people's personal records (their inboxes).
        mine = or_(
            SyncRecord.entity.not_in(sorted(PERSONAL_ENTITIES)),
            SyncRecord.user_id == scope.user_id,
        )
        if only is None:
            return mine
        return and_(SyncRecord.entity.in_(sorted(only)), mine)
    parts: list[ColumnElement[bool]] = []
    catalogue = scope.entities_by_visibility(Visibility.CATALOGUE, only)
    if catalogue:
        parts.append(SyncRecord.entity.in_(catalogue))
    by_instructor = scope.entities_by_visibility(Visibility.INSTRUCTOR, only)
    if by_instructor and scope.instructor_ids:
        parts.append(
            and_(
                SyncRecord.entity.in_(by_instructor),
                SyncRecord.instructor_id.in_(sorted(scope.instructor_ids)),
            )
        )
    by_student = scope.entities_by_visibility(Visibility.STUDENT, only)
    if by_student and scope.student_ids:
        parts.append(
            and_(
                SyncRecord.entity.in_(by_student),
                SyncRecord.student_id.in_(sorted(scope.student_ids)),
            )
        )
    by_party = scope.entities_by_visibility(Visibility.PARTY, only)
    if by_party and scope.user_id:  # addressed to this user (personal records: only so)
        parts.append(and_(SyncRecord.entity.in_(by_party), SyncRecord.user_id == scope.user_id))
    staff_party = [e for e in by_party if e not in PERSONAL_ENTITIES]
    if staff_party and scope.role == "instructor" and scope.instructor_ids:
        parts.append(
            and_(
                SyncRecord.entity.in_(staff_party),
                SyncRecord.instructor_id.in_(sorted(scope.instructor_ids)),
            )
        )
    return or_(*parts) if parts else false()


def _moved(
    members: frozenset[str], scope: Scope, only: frozenset[str] | None
) -> ColumnElement[bool]:
    """SQL for the index rows of members (students or instructors) whose visibility a
    scope change may have flipped."""
    if not members:
        return false()
    ids = sorted(members)
    parts: list[ColumnElement[bool]] = []
    by_student = scope.entities_by_visibility(Visibility.STUDENT, only)
    if by_student:
        parts.append(and_(SyncRecord.entity.in_(by_student), SyncRecord.student_id.in_(ids)))
    by_instructor = scope.entities_by_visibility(Visibility.INSTRUCTOR, only)
    if by_instructor:
        parts.append(and_(SyncRecord.entity.in_(by_instructor), SyncRecord.instructor_id.in_(ids)))
    return or_(*parts) if parts else false()


class PullService:
    """Builds pull pages and checksums for principals."""

    def __init__(
        self,
        store: Store,
        secret: str,
        schema_versions: frozenset[int],
        heads: TenantHeads | None = None,
    ) -> None:
        self.store = store
        self.secret = secret
        self.schema_versions = schema_versions
        # Without a notifier's heads (never listening) every pull reads the database.
        self.heads = heads if heads is not None else TenantHeads()
        self.scopes = ScopeCache(self.heads)
        self._snapshots: set[tuple[str, str]] = set()

    def decode(self, who: Principal, text: str) -> Cursor:
        """A cursor of this user and tenant, or 410 reset_required."""
        try:
            return Cursor.from_string(text, self.secret, who.tenant_id, who.user_id)
        except CursorError as exc:
            raise ResetRequired(f"cursor rejected ({exc}): re-sync from scratch") from exc

    async def _remember(self, tenant_id: str, scope: Scope) -> None:
        key = (tenant_id, scope.fingerprint())
        if key in self._snapshots:
            return
        async with self.store.sessions() as session, session.begin():
            bind_tenant(session, tenant_id)
            await save_snapshot(session, tenant_id, scope)
        self._snapshots.add(key)

    async def pull(
        self,
        who: Principal,
        cursor_text: str | None,
        limit: int,
        entities: frozenset[str] | None,
        schema_version: int | None,
        skip_own: str | None = None,
    ) -> PullPage:
        """One page of changes after `cursor_text` (from scratch without one).

        With a cursor, an omitted `schema_version` or `entities` means the cursor's own (a
        poll need not repeat them); given, they must match it or the answer is 410. With
        `skip_own` (a client id) and a cursor, records whose latest version that client
        wrote itself, and was answered with, are left out: it holds them already. From
        scratch nothing is left out, so a device rebuilding its replica gets everything."""
        if entities is not None:
            unknown = sorted(entities - ENTITIES.keys())
            if unknown:
                raise Invalid(f"unknown entity {unknown[0]!r}", {"field": "entities"})
        wanted = tuple(sorted(entities)) if entities is not None else None
        if schema_version is not None:
            self._check_version(schema_version)  # before the cursor is read, as a push does
        cursor: Cursor | None = None
        if cursor_text:
            cursor = self.decode(who, cursor_text)
            if schema_version is None:
                schema_version = cursor.schema_version
            if entities is None:
                wanted = cursor.entities
                entities = frozenset(wanted) if wanted is not None else None
        if schema_version is None:
            schema_version = DEFAULT_SCHEMA_VERSION
        self._check_version(schema_version)
        if cursor is not None:
            if cursor.schema_version != schema_version:
                raise ResetRequired("cursor was made for another schema version")
            if cursor.entities != wanted:
                raise ResetRequired("cursor was made for another entity filter")
            unchanged = self._unchanged(who, cursor)
            if unchanged is not None:
                return unchanged
        token = self.heads.token()
        async with self.store.read(who.tenant_id) as session:
            state = await session.scalar(select(TenantRev))
            head = state.rev if state else 0
            horizon = state.horizon_rev if state else 0
            self.heads.observe(who.tenant_id, head, horizon, token)
            scope = self.scopes.get(who, head)
            if scope is None:
                scope = await load_scope(session, who)
                self.scopes.put(who, scope, head)
            fp = scope.fingerprint()
            if cursor is not None:
                if cursor.rev < horizon or cursor.rev > head:
                    raise ResetRequired(
                        "cursor is older than the tombstone horizon: re-sync from scratch",
                        {"horizon_rev": horizon},
                    )
            else:
                cursor = Cursor(who.tenant_id, who.user_id, 0, fp, schema_version, wanted, head)
            own = skip_own if cursor_text else None  # from scratch: everything
            page = await self._page(session, who, scope, cursor, head, limit, entities, own)
        await self._remember(who.tenant_id, scope)
        return page

    def _check_version(self, schema_version: int) -> None:
        if schema_version not in self.schema_versions:
            # As a push does: a client this server no longer (or not yet) speaks to must
            # not take records of another version for its own.
            raise UpgradeRequired(
                f"schema version {schema_version} is not supported; upgrade the app",
                {"supported": sorted(self.schema_versions)},
            )

    def _unchanged(self, who: Principal, cursor: Cursor) -> PullPage | None:
        """The answer to a pull with nothing new, from memory — the page the database would
        give: no changes, the same cursor, `rev` the head — or None to ask the database.

        Only when the head is known for sure (TenantHeads.current: LISTEN up, anchored), the
        cursor is exactly at it with no scope diff under way, and the cached scope is the
        cursor's. The horizon check of the full path cannot fail here (compaction never
        moves the horizon past the head), and the scope snapshot is already saved (it was
        when the cursor's page was made)."""
        if cursor.diff is not None:
            return None
        known = self.heads.current(who.tenant_id)
        if known is None:
            return None
        head, horizon = known
        if cursor.rev != head or cursor.rev < horizon:
            return None
        scope = self.scopes.get(who, head)
        if scope is None or scope.fingerprint() != cursor.scope:
            return None
        return PullPage([], cursor, False, head)

    async def _page(
        self,
        session: AsyncSession,
        who: Principal,
        scope: Scope,
        cursor: Cursor,
        head: int,
        limit: int,
        only: frozenset[str] | None,
        skip_own: str | None = None,
    ) -> PullPage:
        out: list[tuple[str, str, int, str]] = []  # (entity, id, rev, op)
        fp = scope.fingerprint()
        # A diff in progress must finish even if the scope came back to the cursor's own:
        # the replica already holds part of the walk.
        if cursor.scope != fp or cursor.diff is not None:
            if cursor.diff is not None and cursor.diff.target == fp:
                diff = cursor.diff
            else:
                # A new target: diff against the scope the replica was heading to (or was
                # at). Members of an unfinished earlier diff stay in the walk: the replica
                # may hold any mix of their records, so they are all sent again.
                previous = cursor.diff.target if cursor.diff is not None else cursor.scope
                old = await load_snapshot(session, who.role, previous)
                if old is None:
                    raise ResetRequired("cursor's scope is unknown: re-sync from scratch")
                students, instructors = changed_members(old, scope)
                members = set(cursor.diff.members) if cursor.diff is not None else set()
                members |= students | instructors
                diff = ScopeDiff(fp, members=tuple(sorted(members)))
            rows = (
                await session.execute(
                    select(
                        SyncRecord.entity,
                        SyncRecord.id,
                        SyncRecord.rev,
                        SyncRecord.student_id,
                        SyncRecord.instructor_id,
                        SyncRecord.private,
                        SyncRecord.user_id,
                        SyncRecord.deleted,
                    )
                    .where(
                        # Every record of a moved member, whatever its rev: those changed
                        # after the cursor may be out of reach of the new scope's filter.
                        or_(SyncRecord.deleted.is_(False), SyncRecord.rev > cursor.rev),
                        _moved(frozenset(diff.members), scope, only),
                        tuple_(SyncRecord.rev, SyncRecord.id)
                        > tuple_(diff.after_rev, diff.after_id),
                    )
                    .order_by(SyncRecord.rev, SyncRecord.id)
                    .limit(limit + 1)
                )
            ).all()
            for entity, rid, rev, student_id, instructor_id, private, user, deleted in rows[:limit]:
                visible = not deleted and scope.sees(
                    entity, student_id, instructor_id, private, user
                )
                out.append((entity, rid, rev, "put" if visible else "delete"))
            if len(rows) > limit:
                last = rows[limit - 1]
                cursor = replace(cursor, diff=replace(diff, after_rev=last.rev, after_id=last.id))
                return await self._finish(session, who, out, cursor, True, head)
            cursor = replace(cursor, scope=fp, diff=None)
        room = limit - len(out)
        if room <= 0:
            return await self._finish(session, who, out, cursor, True, head)
        if cursor.rev >= head:  # the index holds no rev above the snapshot's head
            return await self._finish(session, who, out, cursor.advanced(head), False, head)
        stream = (
            await session.execute(
                select(
                    SyncRecord.entity,
                    SyncRecord.id,
                    SyncRecord.rev,
                    SyncRecord.deleted,
                    SyncRecord.student_id,
                    SyncRecord.instructor_id,
                    SyncRecord.private,
                    SyncRecord.user_id,
                )
                .where(
                    SyncRecord.rev > cursor.rev,
                    reach(scope, only),
                    # What this device wrote itself and was answered with, it holds — but
                    # not while an initial sync walks up to `init_rev`: the replica was
                    # empty when it began, whatever the device had written before.
                    or_(
                        SyncRecord.origin.is_distinct_from(skip_own),
                        SyncRecord.rev <= cursor.init_rev,
                    )
                    if skip_own
                    else true(),
                )
                .order_by(SyncRecord.rev)
                .limit(room + 1)
            )
        ).all()
        has_more = len(stream) > room
        already = {(entity, rid) for entity, rid, _rev, _op in out}
        for entity, rid, rev, deleted, student_id, instructor_id, private, user in stream[:room]:
            if (entity, rid) in already:
                continue
            if deleted:
                if rev > cursor.init_rev:
                    out.append((entity, rid, rev, "delete"))
            elif scope.sees(entity, student_id, instructor_id, private, user):
                out.append((entity, rid, rev, "put"))
            else:
                out.append((entity, rid, rev, "delete"))
        new_rev = stream[room - 1].rev if has_more else head
        return await self._finish(session, who, out, cursor.advanced(new_rev), has_more, head)

    async def _finish(
        self,
        session: AsyncSession,
        who: Principal,
        out: list[tuple[str, str, int, str]],
        cursor: Cursor,
        has_more: bool,
        head: int,
    ) -> PullPage:
        wanted: dict[str, list[str]] = defaultdict(list)
        for entity, rid, _rev, op in out:
            if op == "put":
                wanted[entity].append(rid)
        records: dict[tuple[str, str], dict[str, Any]] = {}
        student_rows: list[Any] = []
        fetched: dict[str, list[Any]] = {}
        dialect = session.get_bind().dialect.name
        for entity, ids in wanted.items():
            table = table_of(entity)
            query = by_ids(dialect, table, tuple(record_columns(entity, table)))
            rows: list[Any] = []
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                rows.extend(await session.execute(query, {"ids": chunk, "tenant": who.tenant_id}))
            fetched[entity] = rows
            student_rows.extend(student_ids_of(entity, rows))
        # The context costs a query; a page of deletes only (or nothing new) needs none.
        ctx = (
            await RecordContext.load(
                session, who.tenant_id, student_rows, cursor.schema_version, staff=who.is_staff
            )
            if fetched
            else RecordContext("UTC", {}, cursor.schema_version, staff=who.is_staff)
        )
        for entity, rows in fetched.items():
            for row in rows:
                records[(entity, row.id)] = to_record(entity, row, ctx)
        changes: list[dict[str, Any]] = []
        for entity, rid, rev, op in out:
            if op == "put":
                record = records.get((entity, rid))
                if record is None:  # pragma: no cover - index and table disagree
                    continue
                changes.append(
                    {
                        "entity": entity,
                        "id": rid,
                        "rev": record["rev"],
                        "op": "put",
                        "record": record,
                    }
                )
            else:
                changes.append({"entity": entity, "id": rid, "rev": rev, "op": "delete"})
        return PullPage(changes, cursor, has_more, head)
