"""JSON Schema files for the PWA and other clients, generated from the wire models.

`python -m schemas.jsonschema` rewrites schemas/json/; a test fails when the files drift
from the models, so the committed files are always what the server validates against.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from schemas.wire import ENVELOPE_MODELS, RECORD_MODELS, WRITE_MODELS

OUT = Path(__file__).resolve().parent / "json"


def documents() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema document, for every record, write and envelope model."""
    docs: dict[str, dict[str, Any]] = {}
    for name, record in RECORD_MODELS.items():
        docs[f"{name}.record.json"] = record.model_json_schema(mode="serialization")
    for name, write in WRITE_MODELS.items():
        docs[f"{name}.write.json"] = write.model_json_schema(mode="validation")
    for name, envelope in ENVELOPE_MODELS.items():
        docs[f"{name}.json"] = envelope.model_json_schema(mode="validation")
    for name, doc in docs.items():
        doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        doc["$id"] = f"drivesync/v1/{name}"
    return docs


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    wanted = documents()
    for stale in OUT.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for name, doc in wanted.items():
        (OUT / name).write_text(render(doc))
    print(f"wrote {len(wanted)} schema files to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
