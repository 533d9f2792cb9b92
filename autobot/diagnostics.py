"""One type for every user-facing error, from YAML syntax to policy checks.

A :class:`Diagnostic` names a file and a 1-based line/column span. It renders the
way a compiler does (``file:line:col: error: message``, the source line, a caret
under the span, and a hint) or as a JSON object for editors and CI.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in a source file."""

    line: int
    column: int


@dataclass(frozen=True)
class Diagnostic:
    """An error or warning about a user file, at a source span."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    message: str
    hint: str = ""
    severity: str = "error"

    @staticmethod
    def at(file: str, start: Position, end: Position | None, code: str, message: str,
           hint: str = "", severity: str = "error") -> "Diagnostic":
        """Build a diagnostic from two positions (``end`` is exclusive)."""
        end = end or Position(start.line, start.column + 1)
        return Diagnostic(file, start.line, start.column, end.line, end.column, code, message, hint,
                          severity)

    def to_json(self) -> dict[str, object]:
        """The contract's JSON shape."""
        data = asdict(self)
        return {k: data[k] for k in ("file", "line", "column", "end_line", "end_column", "severity",
                                     "code", "message", "hint")}


class UserError(Exception):
    """Raised when user input cannot be used; carries its diagnostics."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.message for d in self.diagnostics))


@dataclass
class DiagnosticSink:
    """Collects diagnostics so a run can report every error, not only the first."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``did you mean 'x'?`` suffix, or an empty string when nothing is close."""
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


_COLOURS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "note": "\x1b[1;36m"}
_BOLD, _GREEN, _RESET = "\x1b[1m", "\x1b[1;32m", "\x1b[0m"


def render_text(diagnostic: Diagnostic, source: str | None, colour: bool = False) -> str:
    """Render like a compiler: header, the source line, carets under the span, the hint."""
    d = diagnostic
    sev = d.severity
    if colour:
        head = f"{_BOLD}{d.file}:{d.line}:{d.column}:{_RESET} {_COLOURS.get(sev, '')}{sev}:{_RESET} {_BOLD}{d.message}{_RESET}"
    else:
        head = f"{d.file}:{d.line}:{d.column}: {sev}: {d.message}"
    lines = [head]
    if source is not None:
        src_lines = source.splitlines()
        if 1 <= d.line <= len(src_lines):
            text = src_lines[d.line - 1].replace("\t", " ")
            lines.append("    " + text)
            end_col = d.end_column if d.end_line == d.line else len(text) + 1
            width = max(1, min(end_col, len(text) + 1) - d.column)
            marker = " " * (d.column - 1) + "^" * width
            lines.append("    " + (f"{_GREEN}{marker}{_RESET}" if colour else marker))
    if d.hint:
        lines.append(f"    hint: {d.hint}")
    return "\n".join(lines)


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    """The contract's JSON list of diagnostics."""
    return json.dumps([d.to_json() for d in diagnostics], indent=2)


class RunError(Exception):
    """A run (backtest or replay) that cannot report honest numbers: the engine halted, the
    account went negative, or an order was refused. The message names the bar and the cause."""
