"""Tests for sync.core.textmerge: token-level three-way merge of lesson notes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.core.textmerge import MergeResult, _merge_tokens, merge3, tokenize

SETTINGS = settings(max_examples=200, deadline=None)

# Small vocabulary so random texts share tokens and the diffs are non-trivial.
token = st.sampled_from(["mirror", "speed", "ok", "good", "a", " ", "  ", "\n", ".", ",", "!"])
texts = st.lists(token, max_size=30).map("".join)
token_lists = st.lists(token, max_size=30)


def ok(text: str) -> MergeResult:
    return MergeResult(text, False)


CONFLICT = MergeResult(None, True)


@SETTINGS
@given(st.text(max_size=200))
def test_tokenize_roundtrip(s: str) -> None:
    assert "".join(tokenize(s)) == s


def test_tokenize_splits_words_space_punctuation() -> None:
    assert tokenize("Speed ok,  good!") == ["Speed", " ", "ok", ",", "  ", "good", "!"]


@SETTINGS
@given(texts, texts)
def test_identities(b: str, x: str) -> None:
    assert merge3(b, b, x) == ok(x)
    assert merge3(b, x, b) == ok(x)
    assert merge3(b, x, x) == ok(x)


# The public function short-circuits the identities, so also check the
# token-level algorithm itself satisfies them.
@SETTINGS
@given(token_lists, token_lists)
def test_token_merge_identities(b: list[str], x: list[str]) -> None:
    assert _merge_tokens(b, b, x) == x
    assert _merge_tokens(b, x, b) == x
    assert _merge_tokens(b, x, x) == x


@SETTINGS
@given(token_lists, token_lists, token_lists, token_lists)
def test_edits_either_side_of_unique_anchor_merge(
    a: list[str], a2: list[str], z: list[str], z2: list[str]
) -> None:
    # An unchanged, unique anchor between the two edited regions keeps them
    # apart, so the merge must always succeed and contain both edits.
    anchor = [" ", "ANCHOR", " "]
    base = "".join(a + anchor + z)
    ours = "".join(a2 + anchor + z)
    theirs = "".join(a + anchor + z2)
    assert merge3(base, ours, theirs) == ok("".join(a2 + anchor + z2))


@SETTINGS
@given(texts, texts, texts)
def test_merge_is_symmetric(b: str, o: str, t: str) -> None:
    assert merge3(b, o, t).conflict == merge3(b, t, o).conflict
    if not merge3(b, o, t).conflict:
        assert merge3(b, o, t) == merge3(b, t, o)


def test_different_words_merge() -> None:
    base = "Mirror checks good. Speed ok."
    ours = "Mirror checks improving. Speed ok."
    theirs = "Mirror checks good. Speed too fast."
    assert merge3(base, ours, theirs) == ok("Mirror checks improving. Speed too fast.")


def test_same_word_changed_differently_conflicts() -> None:
    base = "Mirror checks good. Speed ok."
    assert merge3(base, "Mirror checks poor. Speed ok.", "Mirror checks great. Speed ok.") == (
        CONFLICT
    )


def test_same_change_both_sides_taken_once() -> None:
    base = "Mirror checks good. Speed ok."
    both = "Mirror checks great. Speed ok."
    theirs = "Mirror checks great. Speed too fast."
    assert merge3(base, both, theirs) == ok("Mirror checks great. Speed too fast.")


def test_delete_sentence_vs_edit_other_sentence() -> None:
    base = "Parked well. Roundabouts need work. Speed ok on the ring road."
    ours = "Parked well. Speed ok on the ring road."
    theirs = "Parked well. Roundabouts need work. Speed fine on the ring road."
    assert merge3(base, ours, theirs) == ok("Parked well. Speed fine on the ring road.")
    assert merge3(base, theirs, ours) == ok("Parked well. Speed fine on the ring road.")


def test_append_at_end_vs_edit_start() -> None:
    base = "Mirror checks good. Speed ok."
    ours = "Mirror checks good. Speed ok. Book motorway lesson next."
    theirs = "Signals and mirror checks good. Speed ok."
    expected = "Signals and mirror checks good. Speed ok. Book motorway lesson next."
    assert merge3(base, ours, theirs) == ok(expected)


def test_different_insertions_at_same_position_conflict() -> None:
    base = "Speed ok."
    assert merge3(base, "Speed ok. Good.", "Speed ok. Bad.") == CONFLICT
    assert merge3("", "one", "two") == CONFLICT


def test_adjacent_different_changes_conflict() -> None:
    # Ours replaces the space, theirs the word right after it: the changes
    # touch with no unchanged token between them, so there is no safe order.
    base = "checks good"
    assert merge3(base, "checks-good", "checks great") == CONFLICT


def test_delete_vs_edit_same_region_conflicts() -> None:
    base = "Parked well. Roundabouts need work."
    assert merge3(base, "Parked well.", "Parked well. Roundabouts need more work.") == CONFLICT


def test_multiline_paragraphs() -> None:
    base = "Lesson 4\nMirror good.\nSpeed ok.\n"
    ours = "Lesson 4\nMirror good.\nSpeed ok.\nNext: parking\n"
    theirs = "Lesson 4 (rain)\nMirror good.\nSpeed ok.\n"
    assert merge3(base, ours, theirs) == ok(
        "Lesson 4 (rain)\nMirror good.\nSpeed ok.\nNext: parking\n"
    )


@pytest.mark.timing  # latency: run alone, after the parallel part (Makefile)
def test_long_note_is_fast_enough() -> None:
    base = " ".join(f"word{i}." for i in range(2000))
    ours = base.replace("word10.", "changed10.")
    theirs = base.replace("word1990.", "changed1990.")
    result = merge3(base, ours, theirs)
    assert result.text is not None
    assert "changed10." in result.text and "changed1990." in result.text
