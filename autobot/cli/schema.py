"""``autobot schema``: regenerate ``schema/*.json`` from the document models."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def schema(
    folder: Optional[str] = typer.Option(None, "--out", help="Folder to write to, created when missing (default: "
                                         "the project's schema/)."),
) -> None:
    """Write schema/strategy.json, schema/regimes.json and schema/policy.json."""
    from autobot.cli.output import check_output_path, writing
    from autobot.documents.schema import write_schemas
    from autobot.workspace import find_project_root

    check_output_path("--out", folder, folder=True)
    target = Path(folder) if folder is not None else find_project_root() / "schema"
    with writing("--out", target):
        written = write_schemas(target)
    for path in written:
        typer.echo(f"wrote {path}")
