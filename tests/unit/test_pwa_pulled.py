"""The PWA's entity filter on pulls (clients/pwa/js/transport.js `PULLED_ENTITIES`) is every
entity of the registry but `trip_segment`, whose points are fetched when a route is viewed:
a new entity added to the server is pulled by the PWA, or this test says so."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sync.core.entities import ENTITIES

TRANSPORT = Path(__file__).resolve().parents[2] / "clients" / "pwa" / "js" / "transport.js"


def pwa_pulled() -> list[str]:
    """The `PULLED_ENTITIES` array literal of transport.js, read as JSON."""
    text = TRANSPORT.read_text()
    match = re.search(r"export const PULLED_ENTITIES = (\[.*?\]);", text, re.S)
    assert match, "PULLED_ENTITIES not found in transport.js"
    literal = re.sub(r",\s*\]", "]", match.group(1).replace("'", '"'))
    return list(json.loads(literal))


def test_pwa_pulls_every_entity_but_trip_segments() -> None:
    assert set(pwa_pulled()) == set(ENTITIES) - {"trip_segment"}


def test_pwa_filter_is_sorted_and_without_repeats() -> None:
    # The server keeps the filter sorted in its cursor; a sorted list reads the same.
    pulled = pwa_pulled()
    assert pulled == sorted(set(pulled))
