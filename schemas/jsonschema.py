"""JSON Schema files for the PWA and other clients, generated from the wire models.

`python -m schemas.jsonschema` rewrites schemas/json/; a test fails when the files drift
from the models, so the committed files are always what the server validates against.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from schemas.response import RESPONSE_MODELS
from schemas.wire import RECORD_MODELS, REQUEST_MODELS, WRITE_MODELS

OUT = Path(__file__).resolve().parent / "json"


def documents() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema document, for every record, write, request and response
    model: what the server sends in serialization mode, what it accepts in validation mode."""
    docs: dict[str, dict[str, Any]] = {}
    for name, record in RECORD_MODELS.items():
        docs[f"{name}.record.json"] = record.model_json_schema(mode="serialization")
    for name, write in WRITE_MODELS.items():
        docs[f"{name}.write.json"] = write.model_json_schema(mode="validation")
    for name, request in REQUEST_MODELS.items():
        docs[f"{name}.json"] = request.model_json_schema(mode="validation")
    for name, response in RESPONSE_MODELS.items():
        docs[f"{name}.json"] = response.model_json_schema(mode="serialization")
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
