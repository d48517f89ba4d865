"""Demo content shipped with DriveSync: a car theory-test bank and a driving-skills syllabus.

The data lives in JSON files inside this package (``theory_bank.json`` and ``skills.json``) and is
read with :mod:`importlib.resources`, so it works from a source checkout, a wheel or a zip import.
All questions were written for this project; they are not taken from any official question bank.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["load_skills", "load_theory_bank"]


def _load_json_list(filename: str) -> list[dict[str, Any]]:
    """Read ``filename`` from this package and return it as a list of objects."""
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError(f"{filename} must contain a JSON list, got {type(data).__name__}")
    return data


def load_theory_bank() -> list[dict[str, Any]]:
    """Return the theory-test questions.

    Each item has ``key``, ``topic``, ``question``, ``options`` (4 strings),
    ``correct_option`` (index 0-3) and ``explanation``. A fresh list is returned on every call.
    """
    return _load_json_list("theory_bank.json")


def load_skills() -> list[dict[str, Any]]:
    """Return the driving-skills syllabus, ordered by teaching ``position``.

    Each item has ``code``, ``name``, ``stage`` (1 = first controls ... 5 = test ready) and
    ``position``. A fresh list is returned on every call.
    """
    return sorted(_load_json_list("skills.json"), key=lambda skill: int(skill["position"]))
