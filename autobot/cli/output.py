"""Shared terminal output for the commands: diagnostics and exit codes."""

from __future__ import annotations

import sys
from typing import Sequence, TextIO

import typer

from autobot.diagnostics import Diagnostic, render_json, render_text

EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE = 0, 1, 2


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal (and never when NO_COLOR is set)."""
    import os
    return stream.isatty() and "NO_COLOR" not in os.environ


def print_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, str], fmt: str = "text",
                      stream: TextIO | None = None) -> None:
    """Print diagnostics as compiler-style text or as the contract's JSON list."""
    out = stream or sys.stdout
    if fmt == "json":
        out.write(render_json(diagnostics) + "\n")
        return
    colour = use_colour(out)
    for d in diagnostics:
        out.write(render_text(d, sources.get(d.file), colour) + "\n")


def fail_usage(message: str) -> typer.Exit:
    """Report a usage error (exit code 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def fail_user(diagnostics: Sequence[Diagnostic], sources: dict[str, str] | None = None) -> typer.Exit:
    """Report errors in user files on stderr (exit code 1)."""
    if sources is None:
        sources = {}
        for d in diagnostics:
            try:
                with open(d.file, encoding="utf-8") as fh:
                    sources[d.file] = fh.read()
            except OSError:
                pass
    print_diagnostics(diagnostics, sources, stream=sys.stderr)
    return typer.Exit(EXIT_USER_ERROR)
