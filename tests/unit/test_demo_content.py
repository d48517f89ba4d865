"""Sanity checks for the demo theory bank and skills syllabus shipped in `server.demo`."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from server.demo import load_skills, load_theory_bank

TOPICS = (
    "alertness",
    "attitude",
    "safety-and-your-vehicle",
    "safety-margins",
    "hazard-awareness",
    "vulnerable-road-users",
    "other-types-of-vehicle",
    "road-conditions",
    "motorway-rules",
    "rules-of-the-road",
    "road-and-traffic-signs",
    "documents",
    "incidents",
    "vehicle-loading",
    "vehicle-handling",
)
MIN_PER_TOPIC = 13
KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@pytest.fixture(scope="module")
def bank() -> list[dict[str, Any]]:
    return load_theory_bank()


@pytest.fixture(scope="module")
def skills() -> list[dict[str, Any]]:
    return load_skills()


def test_bank_has_at_least_200_questions(bank: list[dict[str, Any]]) -> None:
    assert len(bank) >= 200


def test_items_have_exactly_the_expected_fields(bank: list[dict[str, Any]]) -> None:
    expected = {"key", "topic", "question", "options", "correct_option", "explanation"}
    for item in bank:
        assert set(item) == expected, item.get("key")


def test_every_topic_is_known_and_well_covered(bank: list[dict[str, Any]]) -> None:
    counts = Counter(item["topic"] for item in bank)
    assert set(counts) == set(TOPICS)
    thin = {topic: counts[topic] for topic in TOPICS if counts[topic] < MIN_PER_TOPIC}
    assert not thin, f"topics with fewer than {MIN_PER_TOPIC} questions: {thin}"


def test_keys_are_unique_and_follow_topic_slug_pattern(bank: list[dict[str, Any]]) -> None:
    keys = [item["key"] for item in bank]
    assert len(keys) == len(set(keys))
    for item in bank:
        assert re.fullmatch(rf"{re.escape(item['topic'])}-\d{{3}}", item["key"]), item["key"]
        assert len(item["key"]) <= 64


def test_question_texts_are_unique(bank: list[dict[str, Any]]) -> None:
    texts = [" ".join(item["question"].lower().split()) for item in bank]
    dupes = [text for text, n in Counter(texts).items() if n > 1]
    assert not dupes


def test_each_question_has_four_distinct_non_empty_options(bank: list[dict[str, Any]]) -> None:
    for item in bank:
        assert isinstance(item["question"], str) and item["question"].strip(), item["key"]
        options = item["options"]
        assert isinstance(options, list) and len(options) == 4, item["key"]
        assert all(isinstance(o, str) and o.strip() for o in options), item["key"]
        assert len({o.strip().lower() for o in options}) == 4, item["key"]


def test_correct_option_is_a_valid_index(bank: list[dict[str, Any]]) -> None:
    for item in bank:
        correct = item["correct_option"]
        assert isinstance(correct, int) and not isinstance(correct, bool), item["key"]
        assert 0 <= correct <= 3, item["key"]


def test_every_question_has_an_explanation(bank: list[dict[str, Any]]) -> None:
    for item in bank:
        assert isinstance(item["explanation"], str) and item["explanation"].strip(), item["key"]


def test_correct_answers_are_spread_over_all_positions(bank: list[dict[str, Any]]) -> None:
    counts = Counter(item["correct_option"] for item in bank)
    for index in range(4):
        assert counts[index] >= 0.15 * len(bank), dict(counts)


def test_loader_returns_a_fresh_copy() -> None:
    first = load_theory_bank()
    first[0]["question"] = "mutated"
    assert load_theory_bank()[0]["question"] != "mutated"


def test_skill_codes_are_unique_kebab_case(skills: list[dict[str, Any]]) -> None:
    assert len(skills) >= 20
    codes = [skill["code"] for skill in skills]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert KEBAB.fullmatch(code) and len(code) <= 64, code
    for skill in skills:
        assert isinstance(skill["name"], str) and skill["name"].strip(), skill["code"]


def test_skill_positions_are_contiguous_from_one(skills: list[dict[str, Any]]) -> None:
    positions = sorted(skill["position"] for skill in skills)
    assert positions == list(range(1, len(skills) + 1))


def test_skill_stages_are_between_one_and_five_and_follow_teaching_order(
    skills: list[dict[str, Any]],
) -> None:
    ordered = sorted(skills, key=lambda skill: skill["position"])
    stages = [skill["stage"] for skill in ordered]
    assert all(isinstance(stage, int) and 1 <= stage <= 5 for stage in stages)
    assert stages == sorted(stages), "stages should not go backwards as teaching progresses"
    assert set(stages) == {1, 2, 3, 4, 5}
