"""Sign-in throttling, kept in memory per process (pure logic; the clock is passed in).

Three limits, none of which lets a stranger lock an account:

- per client address: `free` failures, then each further attempt must wait a delay that
  doubles with every failure (capped); a success from the address stops further growth.
- per (account, address) pair: the same, with the account's own free failures, so guessing
  one password from one place is slowed hard while the owner elsewhere is not affected.
- per school: a token bucket on attempts, so a flood at one school costs a bounded amount of
  hashing; addresses that signed in successfully lately skip it (they have a good history).

Every table is an LRU of bounded size whose entries also expire, so a flood of new addresses
costs bounded memory (it evicts the oldest, which only forgets penalties early).
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from server.auth.settings import AuthSettings
from sync.errors import RateLimited

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A dict of at most `size` entries; the least recently used goes first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[K]:
        return list(self._items)


@dataclass
class _Failures:
    count: int
    last: float
    until: float  # no attempt before this time


class Backoff:
    """Failures per key: after the `free`-th, each attempt must wait `base * 2**(n - free)`
    seconds after the n-th failure (at most `cap`). Forgotten `forget`
    seconds after the last failure."""

    def __init__(self, size: int, free: int, base: float, cap: float, forget: float) -> None:
        self._table: Lru[object, _Failures] = Lru(size)
        self.free, self.base, self.cap, self.forget = free, base, cap, forget

    def wait(self, key: object, now: float) -> float:
        """Seconds before `key` may try again (0: now)."""
        entry = self._table.get(key)
        if entry is None:
            return 0.0
        if now - entry.last > self.forget:
            self._table.pop(key)
            return 0.0
        return max(0.0, entry.until - now)

    def fail(self, key: object, now: float) -> None:
        entry = self._table.get(key)
        if entry is None or now - entry.last > self.forget:
            entry = _Failures(0, now, now)
        entry.count += 1
        entry.last = now
        over = entry.count - self.free  # 0 once the free failures are spent
        entry.until = now + (min(self.cap, self.base * 2.0 ** min(over, 60)) if over >= 0 else 0.0)
        self._table.put(key, entry)

    def clear(self, key: object) -> None:
        self._table.pop(key)


@dataclass
class _Bucket:
    tokens: float
    at: float


class Buckets:
    """Token buckets per key: `burst` at once, refilled at `rate` per second."""

    def __init__(self, size: int, rate: float, burst: int) -> None:
        self._table: Lru[object, _Bucket] = Lru(size)
        self.rate, self.burst = rate, burst

    def take(self, key: object, now: float) -> float:
        """Take one token: 0 when there was one, else the seconds until there is."""
        bucket = self._table.get(key) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._table.put(key, bucket)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class LoginThrottle:
    """The three sign-in limits; `check` before hashing, `record` after."""

    def __init__(self, settings: AuthSettings, account_free: int, window_s: float) -> None:
        size = settings.login_table_size
        base = settings.login_delay_base_s
        self.addresses = Backoff(
            size, settings.login_address_free, base, settings.login_address_delay_max_s, window_s
        )
        # Only this pair is slowed, so its delay may grow as long as the window.
        self.pairs = Backoff(size, account_free, base, window_s, window_s)
        self.schools = Buckets(size, settings.login_school_rate, settings.login_school_burst)
        self.good: Lru[str, float] = Lru(size)  # address → time of its last success
        self.window_s = window_s

    def check(self, address: str, school: str, account: str, now: float) -> None:
        """Raise `RateLimited` (with Retry-After) when this attempt must wait."""
        wait = max(self.addresses.wait(address, now), self.pairs.wait((account, address), now))
        if wait <= 0 and not self._trusted(address, now):
            wait = self.schools.take(school, now)
            if wait > 0:
                raise RateLimited(
                    "too many sign-ins at this school right now; try again shortly",
                    {"limit": "school"},
                    retry_after=max(1, math.ceil(wait)),
                )
        if wait > 0:
            raise RateLimited(
                "too many failed sign-ins from here; try again later",
                {"limit": "address"},
                retry_after=max(1, math.ceil(wait)),
            )

    def record(self, address: str, account: str, ok: bool, now: float) -> None:
        if ok:
            self.pairs.clear((account, address))
            self.good.put(address, now)
        else:
            self.addresses.fail(address, now)
            self.pairs.fail((account, address), now)

    def _trusted(self, address: str, now: float) -> bool:
        last = self.good.get(address)
        return last is not None and now - last <= self.window_s


def client_address(peer: str | None, forwarded_for: str | None, hops: int) -> str:
    """The address limits are counted on: the peer, or with `hops` trusted proxies the
    address the outermost of them saw in X-Forwarded-For. IPv6 clients count per /64 (one
    subscriber usually holds a whole /64)."""
    candidate = peer or "unknown"
    if hops and forwarded_for:
        chain = [part.strip() for part in forwarded_for.split(",") if part.strip()]
        if chain:
            candidate = chain[max(0, len(chain) - hops)]
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return peer or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
