"""The pure parts of cheap no-change pulls: TenantHeads (head revs and which scopes commits
changed), ScopeCache, the NOTIFY payload codec and the per-tenant writer locks. No I/O."""

from __future__ import annotations

import asyncio
import json

from sync.access import ScopeCache
from sync.core.principal import Principal
from sync.core.scope import Scope, members, rescopes
from sync.notifier import TenantHeads
from sync.store import MAX_PAYLOAD, CommitInfo, _TenantLocks, decode, encode

T = "tenant-1"
INSTRUCTOR = Principal(T, "u-i", "instructor", instructor_id="i1")
STUDENT = Principal(T, "u-s", "student", student_id="s1")
GUARDIAN = Principal(T, "u-g", "guardian", ward_ids=("s2", "s3"))
ADMIN = Principal(T, "u-a", "admin")


def commit(rev: int, first: int | None = None, **kw: object) -> CommitInfo:
    return CommitInfo(T, rev, first_rev=rev if first is None else first, **kw)  # type: ignore[arg-type]


def listening(rev: int = 10, horizon: int = 2) -> TenantHeads:
    heads = TenantHeads()
    token = heads.listen_started()
    heads.observe(T, rev, horizon, token)
    return heads


# -- heads --------------------------------------------------------------------------------


def test_nothing_is_trusted_without_listen() -> None:
    heads = TenantHeads()
    assert heads.token() is None
    heads.observe(T, 10, 0, heads.token())
    heads.advance(commit(11))
    assert heads.current(T) is None


def test_a_read_anchors_the_head_and_commits_move_it() -> None:
    heads = listening(10, 2)
    assert heads.current(T) == (10, 2)
    heads.advance(commit(11))
    heads.advance(commit(14, first=12))
    assert heads.current(T) == (14, 2)
    # An older read (its snapshot began before those commits) never moves it back.
    heads.observe(T, 12, 3, heads.token())
    assert heads.current(T) == (14, 3)
    assert heads.current("other-tenant") is None


def test_commits_of_an_unanchored_tenant_are_not_trusted() -> None:
    heads = TenantHeads()
    heads.listen_started()
    heads.advance(commit(5))
    assert heads.current(T) is None


def test_a_read_begun_before_listen_or_across_a_loss_does_not_anchor() -> None:
    heads = TenantHeads()
    before = heads.token()
    heads.listen_started()
    heads.observe(T, 10, 0, before)  # began before LISTEN
    assert heads.current(T) is None
    token = heads.token()
    heads.lost()
    heads.listen_started()
    heads.observe(T, 10, 0, token)  # LISTEN was lost (commits unheard) while it ran
    assert heads.current(T) is None


def test_losing_listen_forgets_every_head_and_reports_what_it_knew() -> None:
    heads = listening(10)
    heads.advance(commit(12, first=11))
    assert heads.lost() == {T: 12}
    assert heads.current(T) is None
    assert not heads.listening
    heads.listen_started()
    assert heads.current(T) is None  # until a new read anchors it


def test_scope_loaded_at_the_head_is_unchanged_even_without_listen() -> None:
    heads = TenantHeads()
    assert heads.scope_unchanged(T, {"i1"}, 10, 10)
    assert not heads.scope_unchanged(T, {"i1"}, 10, 11)
    assert not heads.scope_unchanged(T, {"i1"}, 11, 10)


def test_scope_is_carried_over_commits_that_did_not_rescope_it() -> None:
    heads = listening(10)
    heads.advance(commit(11, student_ids={"s9"}))
    heads.advance(commit(12, rescoped={"i2", "s5"}))
    assert heads.scope_unchanged(T, {"i1"}, 10, 12)
    assert not heads.scope_unchanged(T, {"i2"}, 10, 12)
    assert heads.scope_unchanged(T, {"i2"}, 12, 12)
    assert not heads.scope_unchanged(T, {"i1"}, 10, 13)  # 13 not heard yet


def test_rescope_all_changes_every_scope() -> None:
    heads = listening(10)
    heads.advance(commit(11, rescope_all=True))
    assert not heads.scope_unchanged(T, {"i1"}, 10, 11)
    assert heads.scope_unchanged(T, {"i1"}, 11, 11)


def test_a_gap_in_the_commit_stream_stops_carrying_scopes_until_it_fills() -> None:
    heads = listening(10)
    heads.advance(commit(13, first=12))  # this process's commit, heard before 11's NOTIFY
    assert heads.current(T) == (13, 2)
    assert not heads.scope_unchanged(T, {"i1"}, 10, 13)  # 11 may have rescoped i1
    heads.advance(commit(11, rescoped={"i1"}))
    assert not heads.scope_unchanged(T, {"i1"}, 10, 13)
    assert heads.scope_unchanged(T, {"i2"}, 10, 13)
    heads.advance(commit(13, first=12))  # the same commit again, over LISTEN
    assert heads.scope_unchanged(T, {"i2"}, 10, 13)


def test_a_commit_of_unknown_span_vouches_only_for_later_scopes() -> None:
    heads = listening(10)
    info = commit(12)
    info.first_rev = None  # a payload from an older version
    heads.advance(info)
    assert not heads.scope_unchanged(T, {"i1"}, 10, 12)
    assert heads.scope_unchanged(T, {"i1"}, 12, 12)
    heads.advance(commit(13))
    assert heads.scope_unchanged(T, {"i1"}, 12, 13)


def test_a_gap_that_never_fills_is_given_up_boundedly() -> None:
    heads = listening(10)
    for n in range(TenantHeads.MAX_PENDING):
        heads.advance(commit(12 + 2 * n))  # every odd rev missing
    top = heads._tenants[T].rev
    assert not heads.scope_unchanged(T, {"i1"}, 10, top)
    assert len(heads._tenants[T].pending) == TenantHeads.MAX_PENDING
    top += 2
    heads.advance(commit(top))  # one too many: start over from here
    assert not heads._tenants[T].pending
    assert not heads.scope_unchanged(T, {"i1"}, 10, top)
    heads.advance(commit(top + 1))
    assert heads.scope_unchanged(T, {"i1"}, top, top + 1)


def test_a_reanchored_tenant_vouches_only_for_scopes_from_then_on() -> None:
    heads = listening(10)
    heads.lost()
    token = heads.listen_started()
    heads.observe(T, 20, 0, token)
    assert not heads.scope_unchanged(T, {"i1"}, 10, 20)  # commits 11..20 unheard
    heads.advance(commit(21))
    assert heads.scope_unchanged(T, {"i1"}, 20, 21)


# -- scope cache ---------------------------------------------------------------------------


def test_scope_cache_hands_out_a_scope_only_while_it_cannot_have_changed() -> None:
    heads = listening(10)
    cache = ScopeCache(heads)
    scope = Scope("instructor", False, frozenset({"s1"}), frozenset({"i1"}))
    assert cache.get(INSTRUCTOR, 10) is None
    cache.put(INSTRUCTOR, scope, 10)
    assert cache.get(INSTRUCTOR, 10) is scope
    heads.advance(commit(11, student_ids={"s1"}))
    assert cache.get(INSTRUCTOR, 11) is scope
    heads.advance(commit(12, rescoped={"s1", "i1"}))
    assert cache.get(INSTRUCTOR, 12) is None
    # an older load never replaces a newer one
    cache.put(INSTRUCTOR, Scope("instructor", False, frozenset(), frozenset({"i1"})), 12)
    cache.put(INSTRUCTOR, scope, 11)
    assert cache.get(INSTRUCTOR, 12) == Scope("instructor", False, frozenset(), frozenset({"i1"}))


def test_guardians_scope_follows_their_wards() -> None:
    heads = listening(10)
    cache = ScopeCache(heads)
    cache.put(GUARDIAN, Scope("guardian", False, frozenset({"s2", "s3"})), 10)
    heads.advance(commit(11, rescoped={"s3"}))
    assert cache.get(GUARDIAN, 11) is None


def test_admins_need_no_entry_and_the_cache_is_bounded() -> None:
    cache = ScopeCache(TenantHeads(), size=3)
    assert cache.get(ADMIN, 99) == Scope("admin", everything=True, user_id=ADMIN.user_id)
    cache.put(ADMIN, Scope("admin", everything=True), 1)
    assert len(cache) == 0
    for n in range(5):
        who = Principal(T, f"u{n}", "student", student_id=f"s{n}")
        cache.put(who, Scope("student", False, frozenset({f"s{n}"})), 1)
    assert len(cache) == 3
    assert cache.get(Principal(T, "u0", "student", student_id="s0"), 1) is None
    assert cache.get(Principal(T, "u4", "student", student_id="s4"), 1) is not None


def test_members_and_rescopes() -> None:
    assert members(INSTRUCTOR) == {"i1"}
    assert members(GUARDIAN) == {"s2", "s3"}
    assert members(ADMIN) == frozenset()
    assert rescopes(STUDENT, {"s1"}) and not rescopes(STUDENT, {"s2"})
    assert rescopes(ADMIN, set(), rescope_all=True)


# -- NOTIFY payload --------------------------------------------------------------------------


def test_payload_round_trip() -> None:
    info = CommitInfo(
        T,
        42,
        {"s1"},
        {"i1"},
        True,
        {"i1", "s1"},
        first_rev=40,
        rescope_all=True,
        origin="abc",
    )
    assert decode(encode(info)) == info


def test_payload_of_an_older_version_is_read_conservatively() -> None:
    old = json.dumps({"t": T, "r": 7, "c": False, "x": ["s1"], "s": ["s1"], "i": []})
    info = decode(old)
    assert info.first_rev is None and info.origin == "" and info.rescoped == {"s1"}


def test_long_payloads_are_summarised_under_the_notify_limit() -> None:
    many = {f"{n:08d}-0000-4000-8000-000000000000" for n in range(400)}
    info = CommitInfo(T, 9, student_ids=set(many), rescoped={"s1"}, first_rev=1)
    text = encode(info)
    assert len(text) <= MAX_PAYLOAD
    back = decode(text)
    assert back.catalogue and back.rescoped == {"s1"} and not back.rescope_all
    info = CommitInfo(T, 9, rescoped=set(many), first_rev=1)
    back = decode(encode(info))
    assert len(encode(info)) <= MAX_PAYLOAD and back.rescope_all and back.catalogue


# -- per-tenant writer locks -----------------------------------------------------------------


async def test_tenant_locks_queue_writers_of_one_tenant_and_are_dropped_when_idle() -> None:
    locks = _TenantLocks()
    order: list[str] = []
    gate = asyncio.Event()

    async def writer(tenant: str, name: str, wait: bool = False) -> None:
        async with locks.hold(tenant):
            order.append(f"{name}+")
            if wait:
                await gate.wait()
            order.append(f"{name}-")

    first = asyncio.create_task(writer("a", "a1", wait=True))
    await asyncio.sleep(0)
    others = [asyncio.create_task(writer("a", f"a{n}")) for n in (2, 3)]
    await asyncio.sleep(0)
    assert locks.queued("a") == 3
    await writer("b", "b1")  # another tenant is not held up
    assert order == ["a1+", "b1+", "b1-"]
    gate.set()
    await asyncio.gather(first, *others)
    assert order[3:] == ["a1-", "a2+", "a2-", "a3+", "a3-"]
    assert len(locks) == 0 and locks.queued("a") == 0


async def test_a_cancelled_waiter_does_not_leak_its_lock() -> None:
    locks = _TenantLocks()
    gate = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("a"):
            await gate.wait()

    task = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter.cancel()
    gate.set()
    await asyncio.gather(task, waiter, return_exceptions=True)
    assert len(locks) == 0


def test_a_slow_check_suspends_trust_without_forgetting() -> None:
    heads = listening(10)
    epoch = heads.suspend()
    assert heads.current(T) is None and heads.token() is None
    heads.advance(commit(11))  # still heard meanwhile
    heads.resume(epoch)
    assert heads.current(T) == (11, 2)
    epoch = heads.suspend()
    heads.lost()
    heads.resume(epoch)  # too late: the connection was lost meanwhile
    assert not heads.listening


class _FakeListenConn:
    """Stands for the LISTEN connection: answers the check after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.terminated = False

    async def fetchval(self, _sql: str) -> int:
        await asyncio.sleep(self.delay)
        return 1

    def terminate(self) -> None:
        self.terminated = True


async def test_notifier_check_suspends_while_slow_and_gives_up_when_dead() -> None:
    from sync.notifier import Notifier

    notifier = Notifier(heads=listening(10))
    notifier.CHECK_SLOW_S = 0.02  # type: ignore[misc]
    notifier.CHECK_TIMEOUT_S = 0.2  # type: ignore[misc]
    slow = _FakeListenConn(0.08)
    notifier._pg_conn = slow
    check = asyncio.create_task(notifier._check(slow))
    await asyncio.sleep(0.05)
    assert notifier.heads.current(T) is None  # slow: not trusted meanwhile
    await check
    assert notifier.heads.current(T) == (10, 2) and not slow.terminated
    dead = _FakeListenConn(10)
    notifier._pg_conn = dead
    await notifier._check(dead)
    assert dead.terminated and notifier._pg_conn is None
    assert not notifier.listening and notifier.heads.current(T) is None
