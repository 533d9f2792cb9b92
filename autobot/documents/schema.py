"""JSON Schemas for editors, generated from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autobot.documents.models import DOCUMENT_MODELS

SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"


def document_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one document kind (``strategy``, ``regimes`` or ``policy``)."""
    schema = DOCUMENT_MODELS[kind].model_json_schema()
    return {"$schema": SCHEMA_URL, "$id": f"autobot/{kind}.json", **schema}


def schema_texts() -> dict[str, str]:
    """File name -> JSON text for every document kind."""
    return {f"{kind}.json": json.dumps(document_schema(kind), indent=2, sort_keys=True) + "\n"
            for kind in DOCUMENT_MODELS}


def write_schemas(folder: Path) -> list[Path]:
    """Write ``schema/*.json``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_texts().items():
        path = folder / name
        from autobot.safeio import write_text_out
        write_text_out(path, text)          # never waits on a named pipe; OSError when it cannot
        written.append(path)
    return written
