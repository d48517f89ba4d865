"""The committed JSON Schema files are exactly what the wire models generate."""

from __future__ import annotations

from schemas.jsonschema import OUT, documents, render


def test_schema_files_match_models() -> None:
    wanted = documents()
    on_disk = {p.name for p in OUT.glob("*.json")}
    assert on_disk == set(wanted), "run `python -m schemas.jsonschema` to regenerate"
    for name, doc in wanted.items():
        assert (OUT / name).read_text() == render(doc), f"{name} drifted: regenerate the files"


def test_every_synced_entity_has_a_record_schema() -> None:
    from sync.entities import ENTITIES

    names = {n.split(".")[0] for n in documents() if n.endswith(".record.json")}
    assert names == set(ENTITIES)
