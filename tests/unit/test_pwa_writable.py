"""The PWA's list of the fields it sends (clients/pwa/js/outbox.js `WRITABLE`) agrees with
the entity registry: it names every entity a client writes, sends no field the server
would refuse as read-only, and leaves out only fields the server fills itself."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sync.core.entities import ENTITIES

OUTBOX = Path(__file__).resolve().parents[2] / "clients" / "pwa" / "js" / "outbox.js"


def pwa_writable() -> dict[str, set[str]]:
    """The `WRITABLE` object literal of outbox.js, read as JSON after quoting its keys."""
    text = OUTBOX.read_text()
    match = re.search(r"export const WRITABLE = (\{.*?\n\});", text, re.S)
    assert match, "WRITABLE not found in outbox.js"
    literal = re.sub(r"(\w+):", r'"\1":', match.group(1)).replace("'", '"')
    literal = re.sub(r",\s*([\]}])", r"\1", literal)
    return {entity: set(fields) for entity, fields in json.loads(literal).items()}


def test_pwa_writes_exactly_the_client_written_entities() -> None:
    written = {name for name, spec in ENTITIES.items() if spec.writers}
    assert set(pwa_writable()) == written


def test_pwa_fields_are_writable_and_omit_only_server_filled_ones() -> None:
    for entity, fields in pwa_writable().items():
        spec = ENTITIES[entity]
        assert fields <= spec.writable, (entity, sorted(fields - spec.writable))
        assert spec.writable - fields <= spec.server_fills, (
            entity,
            sorted(spec.writable - fields - spec.server_fills),
        )
