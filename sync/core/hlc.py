"""Hybrid logical clock (HLC) stamps for DriveSync's last-writer-wins sync.

Wire format (a contract shared with the mobile and desktop clients, do not
change it)::

    <unix_ms, 13 digits>-<counter, 4 digits>-<node>

for example ``"1763779200000-0000-5b0c7f3e-9a1d-4c55-8a0e-2f7d1c9b6a10"``.
``node`` is the writing client's ``client_id`` UUID, or the literal
``server``.

Because ``ms`` and ``counter`` are zero-padded to a fixed width, stamps
compare correctly as plain strings (so the database can order them with an
ordinary text index) and that order is identical to the order of the
:class:`Hlc` dataclass.  The node at the end breaks ties deterministically,
so two devices writing in the same millisecond still produce a total order
that every replica agrees on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MAX_COUNTER", "MIN_MS", "Hlc", "clamp", "newer", "receive", "tick"]

#: 2000-01-01T00:00:00Z.  Anything earlier is a device with a reset clock
#: (or a unit mix-up such as seconds instead of milliseconds), never a real
#: edit, so it is rejected rather than allowed to lose every contest.
MIN_MS = 946_684_800_000
#: Largest value that still fits in the 13 fixed-width digits; beyond it the
#: string order would stop matching the numeric order.
MAX_MS = 9_999_999_999_999
#: Largest value that fits in the 4 fixed-width counter digits.
MAX_COUNTER = 9_999
MAX_NODE_LEN = 64

# ASCII-only on purpose: ``\d`` would also match non-ASCII digits, and a
# restricted node alphabet keeps Python's code-point string order identical
# to a database's byte-wise ("C" collation) order.
_NODE_RE = re.compile(r"[A-Za-z0-9._:-]+")
_WIRE_RE = re.compile(r"([0-9]{13})-([0-9]{4})-(.*)", re.DOTALL)


@dataclass(frozen=True, order=True)
class Hlc:
    """One HLC stamp; field order (ms, counter, node) is the comparison order."""

    ms: int
    counter: int
    node: str

    def __post_init__(self) -> None:
        # Validate on construction so no code path (tick, receive, clamp) can
        # ever build a stamp whose string form breaks the ordering contract.
        if isinstance(self.ms, bool) or not isinstance(self.ms, int):
            raise ValueError(f"HLC ms must be an int, got {self.ms!r}")
        if isinstance(self.counter, bool) or not isinstance(self.counter, int):
            raise ValueError(f"HLC counter must be an int, got {self.counter!r}")
        if not MIN_MS <= self.ms <= MAX_MS:
            raise ValueError(
                f"HLC ms {self.ms} out of range [{MIN_MS}, {MAX_MS}] "
                "(before 2000-01-01 or more than 13 digits)"
            )
        if not 0 <= self.counter <= MAX_COUNTER:
            raise ValueError(f"HLC counter {self.counter} out of range [0, {MAX_COUNTER}]")
        if not isinstance(self.node, str) or not self.node:
            raise ValueError("HLC node must be a non-empty string")
        if len(self.node) > MAX_NODE_LEN:
            raise ValueError(f"HLC node longer than {MAX_NODE_LEN} characters")
        if not _NODE_RE.fullmatch(self.node):
            raise ValueError(
                f"HLC node {self.node!r} may only contain ASCII letters, digits and ._:-"
            )

    def __str__(self) -> str:
        return f"{self.ms:013d}-{self.counter:04d}-{self.node}"

    @classmethod
    def parse(cls, text: str) -> Hlc:
        """Parse the wire form; raise ``ValueError`` describing what is wrong."""
        if not isinstance(text, str):
            raise ValueError(f"HLC stamp must be a string, got {type(text).__name__}")
        m = _WIRE_RE.fullmatch(text)
        if m is None:
            raise ValueError(
                f"malformed HLC stamp {text!r}: expected "
                "'<13-digit unix ms>-<4-digit counter>-<node>'"
            )
        ms_text, counter_text, node = m.groups()
        return cls(int(ms_text), int(counter_text), node)


def _fit(ms: int, counter: int, node: str) -> Hlc:
    # The counter only has four digits.  Rather than fail, borrow one
    # millisecond from the future: the stamp stays strictly greater than its
    # inputs, and physical time catches up within a millisecond.
    if counter > MAX_COUNTER:
        return Hlc(ms + 1, 0, node)
    return Hlc(ms, counter, node)


def tick(last: Hlc | None, now_ms: int, node: str) -> Hlc:
    """Return a new local stamp strictly greater than ``last`` (HLC send rule).

    ``ms`` follows the wall clock but never runs backwards; the counter
    orders events within one millisecond and resets when ``ms`` advances.
    """
    if last is None:
        return Hlc(now_ms, 0, node)
    if now_ms > last.ms:
        return Hlc(now_ms, 0, node)
    return _fit(last.ms, last.counter + 1, node)


def receive(last: Hlc | None, remote: Hlc, now_ms: int, node: str) -> Hlc:
    """Merge a stamp seen from another node (HLC receive rule).

    The result is strictly greater than both ``last`` and ``remote``, so any
    write made after seeing ``remote`` orders after it.  A server should
    :func:`clamp` ``remote`` first, otherwise one fast device clock drags the
    server's clock (and therefore every later stamp) into the future.
    """
    if last is None:
        ms = max(now_ms, remote.ms)
        return _fit(ms, remote.counter + 1 if ms == remote.ms else 0, node)
    ms = max(now_ms, last.ms, remote.ms)
    if ms == last.ms and ms == remote.ms:
        counter = max(last.counter, remote.counter) + 1
    elif ms == last.ms:
        counter = last.counter + 1
    elif ms == remote.ms:
        counter = remote.counter + 1
    else:
        counter = 0
    return _fit(ms, counter, node)


def clamp(stamp: Hlc, now_ms: int, max_skew_ms: int) -> tuple[Hlc, bool]:
    """Guard against clock skew; return ``(stamp, clamped?)``.

    If ``stamp`` is more than ``max_skew_ms`` ahead of the server's clock it
    is pulled back to ``now_ms`` (keeping counter and node) and flagged.
    Why: a device whose clock is set years ahead would otherwise win every
    future last-writer-wins contest for every record it touches, silently
    discarding everyone else's edits until real time caught up.  The flag
    lets the caller log it and tell the device to fix its clock.
    """
    if max_skew_ms < 0:
        raise ValueError(f"max_skew_ms must be >= 0, got {max_skew_ms}")
    if stamp.ms > now_ms + max_skew_ms:
        return Hlc(now_ms, stamp.counter, stamp.node), True
    return stamp, False


def newer(a: str | Hlc, b: str | Hlc | None) -> bool:
    """True when ``a`` is strictly greater than ``b``; ``None`` is oldest.

    Strings are parsed (not compared raw) so a malformed stamp raises
    ``ValueError`` instead of quietly winning or losing a contest.
    """
    stamp_a = Hlc.parse(a) if isinstance(a, str) else a
    if b is None:
        return True
    stamp_b = Hlc.parse(b) if isinstance(b, str) else b
    return stamp_a > stamp_b
