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
    from sync.core.entities import ENTITIES

    names = {n.split(".")[0] for n in documents() if n.endswith(".record.json")}
    assert names == set(ENTITIES)


def test_response_schemas_name_every_key() -> None:
    """Every object a response describes field by field forbids other keys, so a key the
    server starts sending without declaring it fails validation (tests/integration/
    test_contract.py). Free-form objects (a record in a push result, a journal entry's
    mutation) have no `properties` and stay open."""
    from schemas.response import RESPONSE_MODELS
    from schemas.wire import RECORD_MODELS

    docs = documents()
    names = [f"{n}.json" for n in RESPONSE_MODELS] + [f"{n}.record.json" for n in RECORD_MODELS]
    for name in names:
        doc = docs[name]
        for title, schema in [(name, doc), *doc.get("$defs", {}).items()]:
            if "properties" in schema:
                assert schema.get("additionalProperties") is False, f"{name}: {title}"
