"""``autobot schema``: regenerate ``schema/*.json`` from the document models."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def schema(
    folder: Optional[Path] = typer.Option(None, "--out", help="Folder to write to (default: the project's schema/)."),
) -> None:
    """Write schema/strategy.json, schema/regimes.json and schema/policy.json."""
    from autobot.documents.schema import write_schemas
    from autobot.workspace import find_project_root

    target = folder or find_project_root() / "schema"
    for path in write_schemas(target):
        typer.echo(f"wrote {path}")
