"""Tests for sync.core.policy: field last-writer-wins, delete vs edit, the lesson and booking state
machines and the lesson-note body merge. Pure functions: no database, no app."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.core.hlc import MAX_COUNTER, MIN_MS, Hlc
from sync.core.policy import (
    NoteOutcome,
    booking_move_ok,
    delete_beats_edits,
    edit_beats_delete,
    latest_clock,
    lesson_move_ok,
    lww,
    merge_note_body,
)

NODE_A = "aaaaaaaa-0000-4000-8000-000000000001"
NODE_B = "bbbbbbbb-0000-4000-8000-000000000002"
T = 1_763_779_200_000
SETTINGS = settings(max_examples=150, deadline=None)


def stamp(ms: int, counter: int = 0, node: str = NODE_A) -> str:
    return str(Hlc(ms, counter, node))


# --- field last-writer-wins -------------------------------------------------------------------


def test_lww_applies_newer_fields_and_reports_lost_ones() -> None:
    clocks = {"status": stamp(T + 10), "attended": stamp(T - 10)}
    data = {"status": "completed", "attended": True, "ended_at": "2025-11-22T10:00:00Z"}
    out = lww(data, stamp(T), clocks)
    # status was set after this edit: it loses; attended was older, ended_at never set.
    assert out.apply == {"attended": True, "ended_at": "2025-11-22T10:00:00Z"}
    assert out.lost == {"status": "completed"}
    assert out.clocks == {"status": stamp(T + 10), "attended": stamp(T), "ended_at": stamp(T)}


def test_lww_does_not_touch_the_callers_clocks() -> None:
    clocks = {"status": stamp(T - 1)}
    out = lww({"status": "in_progress"}, stamp(T), clocks)
    assert clocks == {"status": stamp(T - 1)}
    assert out.clocks["status"] == stamp(T)


def test_lww_equal_stamp_is_not_newer() -> None:
    out = lww({"status": "cancelled"}, stamp(T), {"status": stamp(T)})
    assert out.apply == {}
    assert out.lost == {"status": "cancelled"}


def test_lww_counter_orders_writes_in_one_millisecond() -> None:
    out = lww({"body": "x"}, stamp(T, 2, NODE_A), {"body": stamp(T, 1, NODE_B)})
    assert out.apply == {"body": "x"}


def test_lww_ms_beats_counter_and_node() -> None:
    out = lww({"body": "x"}, stamp(T, 0, NODE_A), {"body": stamp(T - 1, MAX_COUNTER, NODE_B)})
    assert out.apply == {"body": "x"}


def test_lww_ties_break_on_the_node_tail_the_same_way_on_every_replica() -> None:
    a, b = stamp(T, 5, NODE_A), stamp(T, 5, NODE_B)
    assert NODE_B > NODE_A
    # B's write over A's wins; A's write over B's loses: both replicas end on B's value.
    assert lww({"f": "b"}, b, {"f": a}).apply == {"f": "b"}
    assert lww({"f": "a"}, a, {"f": b}).lost == {"f": "a"}


def _apply(values: dict[str, object], clocks: dict[str, str], data: dict[str, object], hlc: str):
    merge = lww(data, hlc, clocks)
    return {**values, **merge.apply}, merge.clocks


nodes = st.sampled_from([NODE_A, NODE_B, "server", "0", "a.b:c-d"])
hlcs = st.builds(Hlc, ms=st.integers(MIN_MS, MIN_MS + 50), counter=st.integers(0, 3), node=nodes)
field_data = st.dictionaries(st.sampled_from(["status", "attended", "ended_at"]), st.integers())


@SETTINGS
@given(hlcs, hlcs)
def test_lww_follows_hlc_order_not_arrival(new: Hlc, old: Hlc) -> None:
    out = lww({"f": 1}, str(new), {"f": str(old)})
    assert ("f" in out.apply) == (new > old)
    assert ("f" in out.lost) == (not new > old)


@SETTINGS
@given(field_data, hlcs, field_data, hlcs)
def test_lww_converges_whatever_the_arrival_order(
    d1: dict[str, object], h1: Hlc, d2: dict[str, object], h2: Hlc
) -> None:
    if h1 == h2:
        h2 = Hlc(h2.ms + 1, h2.counter, h2.node)
    first = _apply(*_apply({}, {}, d1, str(h1)), d2, str(h2))
    second = _apply(*_apply({}, {}, d2, str(h2)), d1, str(h1))
    assert first == second
    # and each field holds the value of its newest writer
    newer, older = (d1, d2) if h1 > h2 else (d2, d1)
    assert first[0] == {**older, **newer}


def test_latest_clock() -> None:
    assert latest_clock({}) is None
    assert latest_clock({"a": stamp(T), "b": stamp(T + 5), "c": stamp(T, 9)}) == stamp(T + 5)


# --- delete vs edit ---------------------------------------------------------------------------


def test_edit_beats_delete_only_when_made_after_it() -> None:
    assert edit_beats_delete(stamp(T), None)  # never deleted
    assert edit_beats_delete(stamp(T + 1), stamp(T))
    assert not edit_beats_delete(stamp(T - 1), stamp(T))
    assert not edit_beats_delete(stamp(T), stamp(T))


def test_delete_beats_edits_unless_a_field_was_edited_after_it() -> None:
    assert delete_beats_edits(stamp(T), {})
    assert delete_beats_edits(stamp(T), {"a": stamp(T - 5), "b": stamp(T - 1)})
    # one later field edit is enough to keep the record
    assert not delete_beats_edits(stamp(T), {"a": stamp(T - 5), "b": stamp(T + 1)})
    assert not delete_beats_edits(stamp(T), {"a": stamp(T)})


# --- lesson state machine ---------------------------------------------------------------------

LESSON_STATES = ["scheduled", "in_progress", "completed", "no_show", "cancelled"]
# From PROTOCOL.md: scheduled → in_progress → completed / no_show, or → cancelled. A student
# who never turns up is a no-show before the lesson starts, and a lesson broken off midway is
# cancelled, so both of those are allowed from either live state.
LESSON_ALLOWED = {
    ("scheduled", "in_progress"),
    ("scheduled", "no_show"),
    ("scheduled", "cancelled"),
    ("in_progress", "completed"),
    ("in_progress", "no_show"),
    ("in_progress", "cancelled"),
}


@pytest.mark.parametrize(("current", "target"), sorted(LESSON_ALLOWED))
def test_lesson_allowed_moves(current: str, target: str) -> None:
    assert lesson_move_ok(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("scheduled", "completed"),  # must start first
        ("in_progress", "scheduled"),  # no going back
        ("completed", "in_progress"),
        ("cancelled", "scheduled"),
        ("no_show", "completed"),
        ("scheduled", "bogus"),
        ("bogus", "scheduled"),
    ],
)
def test_lesson_forbidden_moves(current: str, target: str) -> None:
    assert not lesson_move_ok(current, target)


@pytest.mark.parametrize("terminal", ["completed", "no_show", "cancelled"])
def test_lesson_terminal_states_go_nowhere(terminal: str) -> None:
    assert [t for t in LESSON_STATES if t != terminal and lesson_move_ok(terminal, t)] == []
    assert lesson_move_ok(terminal, terminal)  # resending the same status is not a move


def test_lesson_moves_full_matrix() -> None:
    for current, target in itertools.product(LESSON_STATES, repeat=2):
        expected = current == target or (current, target) in LESSON_ALLOWED
        assert lesson_move_ok(current, target) == expected, (current, target)


# --- booking moves per role -------------------------------------------------------------------

BOOKING_STATES = ["requested", "confirmed", "declined", "cancelled", "completed"]
# From PROTOCOL.md: a student requests and cancels their own; an instructor confirms, declines
# and cancels (and completes a confirmed booking when its lesson is done); admins do all that
# and may reopen a declined or cancelled booking.
STUDENT_MOVES = {("requested", "cancelled"), ("confirmed", "cancelled")}
INSTRUCTOR_MOVES = {
    ("requested", "confirmed"),
    ("requested", "declined"),
    ("requested", "cancelled"),
    ("confirmed", "cancelled"),
    ("confirmed", "completed"),
}
ADMIN_MOVES = INSTRUCTOR_MOVES | {("declined", "requested"), ("cancelled", "requested")}
BOOKING_ALLOWED = {
    "student": STUDENT_MOVES,
    "instructor": INSTRUCTOR_MOVES,
    "admin": ADMIN_MOVES,
    "owner": ADMIN_MOVES,
    "guardian": set(),
    "stranger": set(),
}


@pytest.mark.parametrize("role", sorted(BOOKING_ALLOWED))
def test_booking_moves_full_matrix_per_role(role: str) -> None:
    for current, target in itertools.product(BOOKING_STATES, repeat=2):
        expected = current == target or (current, target) in BOOKING_ALLOWED[role]
        assert booking_move_ok(role, current, target) == expected, (role, current, target)


def test_booking_student_cannot_confirm_or_decline() -> None:
    assert not booking_move_ok("student", "requested", "confirmed")
    assert not booking_move_ok("student", "requested", "declined")
    assert not booking_move_ok("student", "confirmed", "completed")


@pytest.mark.parametrize("role", ["admin", "owner"])
@pytest.mark.parametrize("closed", ["declined", "cancelled"])
def test_booking_admin_reopens(role: str, closed: str) -> None:
    assert booking_move_ok(role, closed, "requested")
    assert not booking_move_ok("instructor", closed, "requested")
    assert not booking_move_ok("student", closed, "requested")


@pytest.mark.parametrize("role", ["student", "instructor", "admin", "owner"])
def test_booking_completed_is_final(role: str) -> None:
    others = [t for t in BOOKING_STATES if t != "completed"]
    assert not any(booking_move_ok(role, "completed", t) for t in others)


# --- lesson-note body merge -------------------------------------------------------------------

BASE = "Mirror checks good. Speed ok."


def test_note_clean_merge_keeps_both_edits() -> None:
    current = "Mirror checks excellent. Speed ok."  # committed since the base
    incoming = "Mirror checks good. Speed too high."  # offline edit of another sentence
    out = merge_note_body(BASE, current, incoming)
    assert out == NoteOutcome("Mirror checks excellent. Speed too high.", merged=True)


def test_note_overlapping_edits_conflict() -> None:
    out = merge_note_body(BASE, "Mirror checks poor. Speed ok.", "Mirror checks great. Speed ok.")
    assert out.conflict
    assert out.body is None  # the committed text stays
    assert not out.merged


def test_note_without_base_is_not_merged_over_someone_elses_text() -> None:
    # No base revision (unknown or compacted history): the incoming text must not silently
    # replace a different current text; the caller gets the conflict signal and journals it.
    out = merge_note_body(None, "Current text", "Offline text")
    assert out == NoteOutcome(None, conflict=True)


def test_note_without_base_and_same_text_is_unchanged() -> None:
    assert merge_note_body(None, "Same", "Same") == NoteOutcome(None)


def test_note_unchanged_when_incoming_equals_current() -> None:
    assert merge_note_body(BASE, "Already there", "Already there") == NoteOutcome(None)


def test_note_fast_forward_when_nobody_else_changed_it() -> None:
    out = merge_note_body(BASE, BASE, "Mirror checks good. Speed fine.")
    assert out == NoteOutcome("Mirror checks good. Speed fine.")


def test_note_stale_echo_of_the_base_keeps_the_newer_text() -> None:
    # The client sent the base text back unchanged: the text committed since survives.
    current = "Mirror checks excellent. Speed ok."
    out = merge_note_body(BASE, current, BASE)
    assert out.body == current
    assert not out.conflict


words = st.lists(st.sampled_from(["mirror", "speed", "ok", " ", ".", "good"]), max_size=12)


@SETTINGS
@given(st.one_of(st.none(), words.map("".join)), words.map("".join), words.map("".join))
def test_note_outcome_shapes(base: str | None, current: str, incoming: str) -> None:
    out = merge_note_body(base, current, incoming)
    assert not (out.merged and out.conflict)
    if incoming == current:
        assert out == NoteOutcome(None)
    if out.conflict:
        assert out.body is None
    if out.merged:
        assert out.body is not None and out.body != incoming
    if base is not None and current == base and incoming != current:
        assert out == NoteOutcome(incoming)
