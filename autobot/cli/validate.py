"""``autobot validate``: check documents and report every error in every file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from autobot.cli.output import EXIT_OK, EXIT_USER_ERROR, fail_usage, print_diagnostics


def validate(
    paths: Optional[List[Path]] = typer.Argument(None, help="Documents or folders (default: strategies/, "
                                                 "regimes/ and policy files of the current project)."),
    fmt: str = typer.Option("text", "--format", help="Output format: text or json."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print each indicator's and rule's warm-up."),
) -> None:
    """Check strategy, regimes and policy documents; exit 0 when valid, 1 on errors, 2 on usage errors.

    Every error of every file is counted; the first 100 diagnostics of a file are shown, then one
    note says how many more there are (docs/language.md, Limits)."""
    from autobot.workspace import Workspace, default_paths, find_project_root

    if fmt not in ("text", "json"):
        raise fail_usage(f"unknown format '{fmt}' (use text or json)")
    if not paths:
        root = find_project_root()
        paths = default_paths(root)
        if not paths:
            raise fail_usage(f"no documents found under {root} (expected strategies/, regimes/ or policy.yaml)")
    missing = [p for p in paths if not p.exists()]
    if missing:
        import os
        if os.path.lexists(missing[0]):
            raise fail_usage(f"{missing[0]} is a symbolic link to nothing (a missing target or a loop of links); "
                             "remove the link or point it at a document")
        raise fail_usage(f"no such file or folder: {missing[0]}")
    ws = Workspace()
    ws.check(list(paths))
    # at most MAX_SHOWN diagnostics a file are kept (the rest counted): one note says how many more
    notes = ws.sink.notes()
    if fmt == "json":
        print_diagnostics(ws.diagnostics + notes, ws.sources, fmt)
    else:
        print_diagnostics(ws.diagnostics, ws.sources, fmt)
        print_diagnostics(notes, {}, fmt)          # no source line under a note about the whole file
    errors = ws.sink.errors
    warnings = ws.sink.warnings
    if fmt == "text":
        if verbose:
            _print_warmups(ws)
        files = len(ws.docs)
        status = "ok" if not errors else "failed"
        sys.stdout.write(f"{files} document{'s' if files != 1 else ''} checked: {errors} error"
                         f"{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''} ({status})\n")
    raise typer.Exit(EXIT_USER_ERROR if errors else EXIT_OK)


def _print_warmups(ws) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for strategy in ws.strategies.values():
        table = Table(title=f"{strategy.id} ({strategy.source.path}): warm-up in bars", title_justify="left")
        table.add_column("name")
        table.add_column("kind")
        table.add_column("warm-up", justify="right")
        for name, node in strategy.plan.named.items():
            table.add_row(name, "indicator", str(strategy.plan.warmup[node]))
        for name, node in strategy.plan.rules.items():
            table.add_row(name, "rule", str(strategy.plan.warmup[node]))
        console.print(table)
    for regimes in ws.regimes.values():
        table = Table(title=f"regimes ({regimes.source.path}): warm-up in bars", title_justify="left")
        table.add_column("regime")
        table.add_column("warm-up", justify="right")
        for name, node in regimes.plan.rules.items():
            table.add_row(name.removeprefix("regime."), str(regimes.plan.warmup[node]))
        console.print(table)
