"""Tests for sync.core.cursor: the signed pull cursor round-trips, and any edit, foreign secret or
unreadable body is `CursorError` (which the pull answers `410 reset_required`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sync.core.cursor
from sync.core.cursor import Cursor, CursorError, ScopeDiff, legacy_string
from sync.core.entities import ENTITIES

SECRET = "unit-test-secret-0123456789abcdef"
TENANT = "7d1c9b6a-0000-4000-8000-000000000001"
USER = "5b0c7f3e-9a1d-4c55-8a0e-2f7d1c9b6a10"
SCOPE = "0123456789abcdef0123456789abcdef"  # a scope fingerprint: 32 hex digits
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SETTINGS = settings(max_examples=100, deadline=None)


def _cursor(**kw: object) -> Cursor:
    fields: dict[str, object] = {
        "tenant_id": TENANT,
        "user_id": USER,
        "rev": 1207,
        "scope": SCOPE,
        "schema_version": 1,
    }
    fields.update(kw)
    return Cursor(**fields)  # type: ignore[arg-type]


def _sign(payload: bytes, secret: str = SECRET) -> str:
    """A cursor string signed the way the server signs, around any payload."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    tag = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
    return f"{b64(payload)}.{b64(tag)}"


ids = st.uuids().map(str)
diffs = st.builds(
    ScopeDiff,
    target=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    after_rev=st.integers(0, 2**53),
    after_id=st.one_of(st.just(""), ids),
    members=st.lists(ids, max_size=20, unique=True).map(lambda m: tuple(sorted(m))),
)
cursors = st.builds(
    Cursor,
    tenant_id=ids,
    user_id=ids,
    rev=st.integers(0, 2**53),
    scope=st.text(max_size=40),
    schema_version=st.integers(1, 9),
    entities=st.one_of(
        st.none(),
        st.lists(st.sampled_from(["lesson", "lesson_note", "booking"]), unique=True).map(tuple),
    ),
    init_rev=st.integers(0, 2**53),
    diff=st.one_of(st.none(), diffs),
)


@SETTINGS
@given(cursors)
def test_round_trip(cursor: Cursor) -> None:
    text = cursor.to_string(SECRET)
    assert Cursor.from_string(text, SECRET, cursor.tenant_id, cursor.user_id) == cursor


def test_round_trip_keeps_types() -> None:
    cursor = _cursor(entities=("lesson", "lesson_note"), init_rev=1000)
    back = Cursor.from_string(cursor.to_string(SECRET), SECRET, TENANT, USER)
    assert back == cursor
    assert isinstance(back.entities, tuple)  # a list would not equal nor hash like a tuple
    hash(back)


def test_scope_diff_round_trip() -> None:
    members = (str(uuid.UUID(int=1)), str(uuid.UUID(int=2)))
    diff = ScopeDiff("f" * 32, after_rev=88, after_id=str(uuid.UUID(int=9)), members=members)
    back = Cursor.from_string(_cursor(diff=diff).to_string(SECRET), SECRET, TENANT, USER)
    assert back.diff == diff
    assert isinstance(back.diff.members, tuple)


def test_scope_diff_defaults_round_trip() -> None:
    back = Cursor.from_string(
        _cursor(diff=ScopeDiff("a" * 32)).to_string(SECRET), SECRET, TENANT, USER
    )
    assert back.diff == ScopeDiff("a" * 32, 0, "", ())


def test_same_cursor_same_string() -> None:
    # Clients store cursors and compare them; the encoding must be deterministic.
    assert _cursor().to_string(SECRET) == _cursor().to_string(SECRET)
    assert _cursor().to_string(SECRET) != _cursor(rev=1208).to_string(SECRET)


def test_advanced_moves_only_the_rev() -> None:
    diff = ScopeDiff("b" * 32, 5, "x", ("m",))
    cursor = _cursor(entities=("lesson",), init_rev=3, diff=diff)
    moved = cursor.advanced(1500)
    assert moved.rev == 1500
    assert cursor.rev == 1207  # a value object: the original is unchanged
    assert moved == _cursor(rev=1500, entities=("lesson",), init_rev=3, diff=diff)


def test_docstring_example_shape() -> None:
    """The module docstring shows a compact base64url string; real cursors look so, and the
    usual cursor (no scope diff) stays short enough for a poll on a slow link."""
    doc = sync.core.cursor.__doc__ or ""
    example = next(line.strip() for line in doc.splitlines() if line.strip().startswith("Ag"))
    assert re.fullmatch(r"[A-Za-z0-9_-]+", example)
    text = _cursor(
        entities=tuple(sorted(set(ENTITIES) - {"trip_segment"})), init_rev=900
    ).to_string(SECRET)
    assert re.fullmatch(r"Ag[A-Za-z0-9_-]+", text)
    assert len(text) <= 64, text
    # The example is made up, so it is not a cursor anyone may send back.
    with pytest.raises(CursorError):
        Cursor.from_string(example, SECRET, TENANT, USER)


def test_another_user_or_school_is_refused() -> None:
    """Tenant and user are not written in the cursor but signed with it."""
    text = _cursor().to_string(SECRET)
    with pytest.raises(CursorError):
        Cursor.from_string(text, SECRET, TENANT, "5b0c7f3e-9a1d-4c55-8a0e-2f7d1c9b6a11")
    with pytest.raises(CursorError):
        Cursor.from_string(text, SECRET, "7d1c9b6a-0000-4000-8000-000000000002", USER)


@SETTINGS
@given(cursors)
def test_cursors_of_the_earlier_format_still_read(cursor: Cursor) -> None:
    """Devices keep the cursor they had before the compact form: it must still work."""
    text = legacy_string(cursor, SECRET)
    assert Cursor.from_string(text, SECRET, cursor.tenant_id, cursor.user_id) == cursor


def test_entity_filter_of_unknown_names_round_trips() -> None:
    """A filter the registry's bitmask cannot say (unknown names, any order) is spelled out."""
    cursor = _cursor(entities=("zzz", "lesson"))
    assert Cursor.from_string(cursor.to_string(SECRET), SECRET, TENANT, USER) == cursor


def test_wrong_secret_is_rejected() -> None:
    text = _cursor().to_string(SECRET)
    with pytest.raises(CursorError):
        Cursor.from_string(text, "another-deployment-secret", TENANT, USER)


def test_every_flipped_character_is_detected() -> None:
    text = _cursor(diff=ScopeDiff("c" * 32, 1, "z", ("m1", "m2"))).to_string(SECRET)
    for i, ch in enumerate(text):
        flipped = B64URL[(B64URL.index(ch) + 1) % 64]
        with pytest.raises(CursorError):
            Cursor.from_string(text[:i] + flipped + text[i + 1 :], SECRET, TENANT, USER)


@SETTINGS
@given(cursors, st.data())
def test_no_edit_changes_what_a_cursor_says(cursor: Cursor, data: st.DataObject) -> None:
    """Whatever character is replaced with whatever, the edit is refused or (for unused
    padding bits) reads back as the very same cursor: never another rev, scope or user."""
    text = cursor.to_string(SECRET)
    who = (cursor.tenant_id, cursor.user_id)
    i = data.draw(st.integers(0, len(text) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != text[i]))
    edited = text[:i] + replacement + text[i + 1 :]
    try:
        back = Cursor.from_string(edited, SECRET, *who)
    except CursorError:
        return
    assert back == cursor


def test_edit_of_unused_bits_is_detected() -> None:
    """The last base64 character may carry bits that are not data: other spellings of it
    are refused too, not read as the same cursor."""
    text = next(t for n in range(3) if len(t := _cursor(scope="s" * n).to_string(SECRET)) % 4 != 0)
    last = text[-1]
    sibling = B64URL[B64URL.index(last) ^ 1]
    with pytest.raises(CursorError):
        Cursor.from_string(text[:-1] + sibling, SECRET, TENANT, USER)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no-dot-at-all",
        "a.b.c",
        ".",
        "eyJ9.",
        "!!!.???",
        "x" * 5000 + ".y",
        "é.é",
    ],
)
def test_malformed_strings_are_cursor_errors(text: str) -> None:
    with pytest.raises(CursorError):
        Cursor.from_string(text, SECRET, TENANT, USER)


@pytest.mark.parametrize("value", [None, 42, b"abc.def"])
def test_non_strings_are_cursor_errors(value: object) -> None:
    with pytest.raises(CursorError):
        Cursor.from_string(value, SECRET, TENANT, USER)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"{}",  # signed but missing every field
        b'{"tenant_id":"t","user_id":"u","rev":1,"scope":"s","schema_version":1}',  # no diff
        b'{"diff":null,"entities":null,"tenant_id":"t","user_id":"u","rev":1,"scope":"s",'
        b'"schema_version":1,"extra":1}',
        b'{"diff":{"nope":1},"entities":null,"tenant_id":"t","user_id":"u","rev":1,'
        b'"scope":"s","schema_version":1}',
        b"[1, 2]",
    ],
)
def test_signed_but_unreadable_bodies_are_cursor_errors(payload: bytes) -> None:
    with pytest.raises(CursorError):
        Cursor.from_string(_sign(payload), SECRET, TENANT, USER)


def test_signed_body_is_read_with_the_right_secret_only() -> None:
    body = json.dumps(
        {
            "diff": None,
            "entities": ["lesson"],
            "init_rev": 0,
            "rev": 9,
            "schema_version": 1,
            "scope": "s",
            "tenant_id": "t",
            "user_id": "u",
        }
    ).encode()
    assert Cursor.from_string(_sign(body), SECRET, "t", "u") == Cursor(
        "t", "u", 9, "s", 1, ("lesson",)
    )
    with pytest.raises(CursorError):
        Cursor.from_string(_sign(body, "other"), SECRET, "t", "u")
    with pytest.raises(CursorError):  # a legacy cursor names its user: anyone else is refused
        Cursor.from_string(_sign(body), SECRET, "t", "someone-else")


def test_cursor_for_a_large_scope_diff_reads_back() -> None:
    members = tuple(sorted(str(uuid.UUID(int=n)) for n in range(80)))
    cursor = _cursor(diff=ScopeDiff("d" * 32, members=members))
    assert Cursor.from_string(cursor.to_string(SECRET), SECRET, TENANT, USER) == cursor
