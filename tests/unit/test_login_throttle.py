"""The sign-in limits as pure logic (clock passed in), the client address behind proxies,
and the hashing pool's bound."""

from __future__ import annotations

import asyncio

import pytest

from server.auth.hashing import HashPool
from server.auth.passwords import hash_password
from server.auth.settings import AuthSettings
from server.auth.throttle import Backoff, Buckets, LoginThrottle, Lru, client_address
from sync.errors import Overloaded, RateLimited


def test_backoff_is_free_then_doubles_up_to_the_cap_and_forgets() -> None:
    b = Backoff(size=10, free=3, base=1.0, cap=5.0, forget=100.0)
    for _ in range(2):
        b.fail("k", 0.0)
        assert b.wait("k", 0.0) == 0
    waits = []
    for _ in range(4):
        b.fail("k", 0.0)
        waits.append(b.wait("k", 0.0))
    assert waits == [1.0, 2.0, 4.0, 5.0]
    assert b.wait("k", 4.5) == pytest.approx(0.5)
    assert b.wait("k", 101.0) == 0  # forgotten
    b.fail("k", 101.0)
    assert b.wait("k", 101.0) == 0  # counting starts again


def test_buckets_allow_a_burst_then_the_rate() -> None:
    buckets = Buckets(size=10, rate=2.0, burst=3)
    assert [buckets.take("s", 0.0) for _ in range(3)] == [0, 0, 0]
    assert buckets.take("s", 0.0) == pytest.approx(0.5)
    assert buckets.take("s", 0.5) == 0
    assert buckets.take("other", 0.5) == 0


def test_tables_are_bounded() -> None:
    table: Lru[int, int] = Lru(3)
    for n in range(10):
        table.put(n, n)
    assert len(table) == 3 and table.get(0) is None and table.get(9) == 9


def _throttle(**kw: object) -> LoginThrottle:
    return LoginThrottle(AuthSettings(**kw), account_free=5, window_s=900.0)  # type: ignore[arg-type]


def test_a_stranger_cannot_lock_the_owner_out() -> None:
    t = _throttle(login_address_free=10)
    for n in range(50):
        t.record("6.6.6.6", "acct", False, float(n))
    with pytest.raises(RateLimited) as err:
        t.check("6.6.6.6", "demo", "acct", 50.0)
    assert err.value.details == {"limit": "address"} and (err.value.retry_after or 0) >= 1
    t.check("1.2.3.4", "demo", "acct", 50.0)  # the owner, elsewhere: no wait


def test_one_address_guessing_one_account_waits_before_its_address_does() -> None:
    t = _throttle(login_address_free=10)
    for n in range(5):
        t.check("6.6.6.6", "demo", "acct", float(n))
        t.record("6.6.6.6", "acct", False, float(n))
    with pytest.raises(RateLimited) as err:
        t.check("6.6.6.6", "demo", "acct", 4.5)  # 1 s after the fifth failure
    assert err.value.retry_after == 1
    t.check("6.6.6.6", "demo", "other-acct", 4.5)


def test_school_cap_spares_addresses_with_a_good_history() -> None:
    t = _throttle(login_school_burst=2, login_school_rate=0.1)
    t.record("1.2.3.4", "owner", True, 0.0)
    t.check("9.9.9.1", "demo", "a", 0.0)
    t.check("9.9.9.2", "demo", "b", 0.0)
    with pytest.raises(RateLimited) as err:
        t.check("9.9.9.3", "demo", "c", 0.0)
    assert err.value.details == {"limit": "school"}
    t.check("1.2.3.4", "demo", "owner", 0.0)  # known good address
    t.check("9.9.9.3", "rival", "c", 0.0)  # another school


def test_client_address() -> None:
    assert client_address("10.0.0.1", "1.2.3.4", hops=0) == "10.0.0.1"  # XFF not trusted
    assert client_address("10.0.0.1", "6.6.6.6, 1.2.3.4", hops=1) == "1.2.3.4"
    assert client_address("10.0.0.1", "6.6.6.6, 1.2.3.4", hops=2) == "6.6.6.6"
    assert client_address("10.0.0.1", "garbage", hops=1) == "10.0.0.1"
    assert client_address("2001:db8::1", None, hops=0) == "2001:db8::/64"
    assert client_address("::ffff:1.2.3.4", None, hops=0) == "1.2.3.4"


async def test_hash_pool_refuses_past_its_queue() -> None:
    pool = HashPool(threads=1, queue=1)
    stored = hash_password("right")
    try:
        running = asyncio.ensure_future(pool.verify(stored, "right"))
        waiting = asyncio.ensure_future(pool.verify(stored, "wrong"))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as err:
            await pool.verify(stored, "right")
        assert err.value.details == {"reason": "login_busy"} and err.value.retry_after == 1
        assert await running is True and await waiting is False
        assert await pool.verify(None, "x") is False  # unknown user: a dummy check
    finally:
        pool.close()


def test_every_auth_setting_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    missing = [
        f"DRIVESYNC_{name.upper()}"
        for name in AuthSettings.model_fields
        if f"DRIVESYNC_{name.upper()}" not in text
    ]
    assert missing == [], f"document these in docs/operations.md: {missing}"
