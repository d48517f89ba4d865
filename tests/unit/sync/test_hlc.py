"""Tests for sync.core.hlc: wire format, ordering contract, send/receive rules, skew guard."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.core.hlc import MAX_COUNTER, MIN_MS, Hlc, clamp, newer, receive, tick

NODE = "5b0c7f3e-9a1d-4c55-8a0e-2f7d1c9b6a10"
OTHER = "0f0e7a11-0000-4000-8000-000000000001"
NOW = 1_763_779_200_000

nodes = st.one_of(
    st.just("server"),
    st.uuids().map(str),
    st.text(alphabet="abcXYZ019._:-", min_size=1, max_size=64),
)
stamps = st.builds(
    Hlc,
    ms=st.integers(MIN_MS, 9_999_999_999_999),
    counter=st.integers(0, MAX_COUNTER),
    node=nodes,
)
# Keep "now" far from the 13-digit ceiling so tick/receive can always advance.
nows = st.integers(MIN_MS, 4_000_000_000_000)
live_stamps = st.builds(Hlc, ms=nows, counter=st.integers(0, MAX_COUNTER), node=nodes)

SETTINGS = settings(max_examples=200, deadline=None)


def test_wire_format_example() -> None:
    h = Hlc(NOW, 0, NODE)
    assert str(h) == f"1763779200000-0000-{NODE}"
    assert Hlc.parse(str(h)) == h
    assert str(Hlc(MIN_MS, 7, "server")) == "0946684800000-0007-server"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1763779200000-0000-",  # empty node
        "176377920000-0000-server",  # 12-digit ms
        "17637792000000-0000-server",  # 14-digit ms
        "1763779200000-000-server",  # 3-digit counter
        "1763779200000-00000-server",  # 5-digit counter
        "-763779200000-0000-server",  # negative
        "1763779200000--001-server",  # negative counter
        "0946684799999-0000-server",  # before 2000-01-01
        "1763779200000-0000-" + "a" * 65,  # node too long
        "1763779200000-0000-has space",
        "1763779200000_0000_server",
        "١٧٦٣٧٧٩٢٠٠٠٠٠-0000-server",  # non-ASCII digits
        " 1763779200000-0000-server",
    ],
)
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        Hlc.parse(text)


def test_parse_accepts_64_char_node() -> None:
    assert Hlc.parse("1763779200000-9999-" + "a" * 64).counter == 9999


def test_constructor_validates() -> None:
    with pytest.raises(ValueError):
        Hlc(NOW, MAX_COUNTER + 1, NODE)
    with pytest.raises(ValueError):
        Hlc(MIN_MS - 1, 0, NODE)
    with pytest.raises(ValueError):
        Hlc(NOW, -1, NODE)
    with pytest.raises(ValueError):
        Hlc(NOW, 0, "")


@SETTINGS
@given(stamps, stamps)
def test_string_order_matches_dataclass_order(a: Hlc, b: Hlc) -> None:
    assert (str(a) < str(b)) == (a < b)
    assert (str(a) == str(b)) == (a == b)


@SETTINGS
@given(stamps)
def test_parse_roundtrip(h: Hlc) -> None:
    assert Hlc.parse(str(h)) == h


@SETTINGS
@given(st.one_of(st.none(), live_stamps), nows, nodes)
def test_tick_strictly_increases(last: Hlc | None, now: int, node: str) -> None:
    h = tick(last, now, node)
    assert h.node == node
    assert h.ms >= now
    if last is not None:
        assert h > last
        assert str(h) > str(last)


@SETTINGS
@given(live_stamps, st.lists(nows, min_size=1, max_size=30))
def test_tick_sequence_monotonic(start: Hlc, clock: list[int]) -> None:
    last = start
    for now in clock:  # wall clock may jump backwards
        nxt = tick(last, now, NODE)
        assert nxt > last
        last = nxt


def test_tick_rules() -> None:
    assert tick(None, NOW, NODE) == Hlc(NOW, 0, NODE)
    assert tick(Hlc(NOW, 5, OTHER), NOW, NODE) == Hlc(NOW, 6, NODE)
    assert tick(Hlc(NOW, 5, OTHER), NOW + 1, NODE) == Hlc(NOW + 1, 0, NODE)
    # Wall clock went backwards: keep last.ms and count.
    assert tick(Hlc(NOW, 5, OTHER), NOW - 1000, NODE) == Hlc(NOW, 6, NODE)
    # Counter overflow borrows a millisecond.
    assert tick(Hlc(NOW, MAX_COUNTER, NODE), NOW, NODE) == Hlc(NOW + 1, 0, NODE)


@SETTINGS
@given(st.one_of(st.none(), live_stamps), live_stamps, nows, nodes)
def test_receive_exceeds_both(last: Hlc | None, remote: Hlc, now: int, node: str) -> None:
    h = receive(last, remote, now, node)
    assert h > remote
    assert h.ms >= now
    if last is not None:
        assert h > last


def test_receive_rules() -> None:
    last = Hlc(NOW, 3, NODE)
    assert receive(last, Hlc(NOW, 7, OTHER), NOW, NODE) == Hlc(NOW, 8, NODE)
    assert receive(last, Hlc(NOW - 5, 7, OTHER), NOW, NODE) == Hlc(NOW, 4, NODE)
    assert receive(last, Hlc(NOW + 9, 7, OTHER), NOW, NODE) == Hlc(NOW + 9, 8, NODE)
    assert receive(last, Hlc(NOW - 5, 7, OTHER), NOW + 50, NODE) == Hlc(NOW + 50, 0, NODE)
    assert receive(None, Hlc(NOW + 9, 7, OTHER), NOW, NODE) == Hlc(NOW + 9, 8, NODE)
    assert receive(None, Hlc(NOW, MAX_COUNTER, OTHER), NOW, NODE) == Hlc(NOW + 1, 0, NODE)


def test_clamp_pulls_back_far_future_stamp() -> None:
    skew = 5 * 60_000
    years_ahead = Hlc(NOW + 3 * 365 * 86_400_000, 12, NODE)
    clamped, flagged = clamp(years_ahead, NOW, skew)
    assert flagged
    assert clamped == Hlc(NOW, 12, NODE)


def test_clamp_keeps_stamp_within_skew() -> None:
    skew = 5 * 60_000
    for ms in (NOW - 10**9, NOW, NOW + skew):
        stamp = Hlc(ms, 1, NODE)
        assert clamp(stamp, NOW, skew) == (stamp, False)
    assert clamp(Hlc(NOW + skew + 1, 1, NODE), NOW, skew) == (Hlc(NOW, 1, NODE), True)
    with pytest.raises(ValueError):
        clamp(Hlc(NOW, 0, NODE), NOW, -1)


def test_newer() -> None:
    a = Hlc(NOW, 1, NODE)
    b = Hlc(NOW, 0, NODE)
    assert newer(a, b)
    assert not newer(b, a)
    assert not newer(a, a)
    assert newer(str(a), str(b))
    assert newer(str(a), b)
    assert newer(a, None)
    assert newer(str(a), None)
    # Same ms and counter: node breaks the tie deterministically.
    assert newer(Hlc(NOW, 0, "server"), Hlc(NOW, 0, NODE))
    with pytest.raises(ValueError):
        newer("garbage", a)
    with pytest.raises(ValueError):
        newer(a, "garbage")


@SETTINGS
@given(stamps, st.one_of(st.none(), stamps))
def test_newer_matches_string_order(a: Hlc, b: Hlc | None) -> None:
    expected = True if b is None else str(a) > str(b)
    assert newer(str(a), None if b is None else str(b)) == expected
