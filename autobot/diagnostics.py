"""One type for every user-facing error, from YAML syntax to policy checks.

A :class:`Diagnostic` names a file and a 1-based line/column span. It renders the
way a compiler does (``file:line:col: error: message``, the source line, a caret
under the span, and a hint) or as a JSON object for editors and CI.
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
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


#: the most diagnostics kept for one file; the rest are counted (``autobot validate`` says how many
#: more there are) but not built or shown: past this, fixing the first ones comes first
MAX_SHOWN = 100


@dataclass
class DiagnosticSink:
    """Collects diagnostics so a run can report every error, not only the first.

    At most ``limit`` diagnostics are kept per file (:data:`MAX_SHOWN`); later ones are only
    counted (:meth:`hidden`), and :meth:`full` tells a compiler it may skip the costly part of an
    error it would report there (a did-you-mean over thousands of names)."""

    items: list[Diagnostic] = field(default_factory=list)
    limit: int | None = MAX_SHOWN
    errors: int = 0                      # every error added, kept or not
    warnings: int = 0
    _kept: dict[str, int] = field(default_factory=dict, repr=False)
    _hidden: dict[str, list[int]] = field(default_factory=dict, repr=False)   # file -> [errors, warnings]

    def add(self, diagnostic: Diagnostic) -> None:
        error = diagnostic.severity == "error"
        if error:
            self.errors += 1
        elif diagnostic.severity == "warning":
            self.warnings += 1
        kept = self._kept.get(diagnostic.file, 0)
        if self.limit is not None and kept >= self.limit:
            counts = self._hidden.setdefault(diagnostic.file, [0, 0])
            counts[0 if error else 1] += 1
            return
        self._kept[diagnostic.file] = kept + 1
        self.items.append(diagnostic)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        for d in diagnostics:
            self.add(d)

    def full(self, file: str) -> bool:
        """Whether diagnostics about ``file`` are no longer kept."""
        return self.limit is not None and self._kept.get(file, 0) >= self.limit

    def hidden(self) -> dict[str, tuple[int, int]]:
        """Errors and warnings counted but not kept, by file."""
        return {f: (e, w) for f, (e, w) in self._hidden.items()}

    def notes(self) -> list[Diagnostic]:
        """One note per file whose diagnostics were cut: how many more there are."""
        out = []
        for file, (errors, warnings) in self._hidden.items():
            parts = [f"{n:,} more {word}{'s' if n != 1 else ''}" for n, word in ((errors, "error"),
                                                                               (warnings, "warning")) if n]
            out.append(Diagnostic(file, 1, 1, 1, 2, "too-many-errors",
                                  f"... and {' and '.join(parts)} not shown (at most {self.limit} a file); "
                                  "fix these first", severity="note"))
        return out

    @property
    def has_errors(self) -> bool:
        return self.errors > 0 or any(d.severity == "error" for d in self.items)


#: above this many names, did-you-mean compares the word with the :data:`_SHORTLIST` names closest
#: to it by their letters (an upper bound of difflib's ratio), not with every name: exact below it
_EXACT_NAMES = 1000
_SHORTLIST = 200


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``did you mean 'x'?`` suffix, or an empty string when nothing is close."""
    names = candidates if isinstance(candidates, list) else list(candidates)
    if len(names) > _EXACT_NAMES:
        names = _shortlist(word, names, _SHORTLIST)
    match = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _shortlist(word: str, names: list[str], k: int) -> list[str]:
    """The ``k`` names with the highest bound on difflib's ratio with ``word`` (twice the letters in
    common over the total length, as ``SequenceMatcher.quick_ratio``; ties: the earlier name), in
    their order: one numpy pass."""
    import numpy as np
    table, lengths = _letters(tuple(names))
    mine = np.bincount(np.frombuffer(word.encode("utf-32-le"), dtype=np.uint32) % _WIDTH, minlength=_WIDTH)
    common = np.minimum(table, np.minimum(mine, 255).astype(np.uint8)).sum(axis=1, dtype=np.int64)
    bound = 2.0 * common / np.maximum(lengths + len(word), 1)
    threshold = np.partition(bound, len(bound) - k)[len(bound) - k]
    above = np.flatnonzero(bound > threshold)
    tied = np.flatnonzero(bound == threshold)[:k - len(above)]
    return [names[i] for i in np.sort(np.concatenate([above, tied])).tolist()]


_WIDTH = 64
_LETTERS: dict[tuple[str, ...], tuple] = {}


def _letters(names: tuple[str, ...]) -> tuple:
    """Each name's letters counted in :data:`_WIDTH` buckets (a code point modulo the width: letters
    sharing a bucket only raise the bound; counts above 255 are 255) and its length, kept for the
    last few lists of names."""
    import numpy as np
    found = _LETTERS.get(names)
    if found is None:
        lengths = np.fromiter((len(n) for n in names), dtype=np.int64, count=len(names))
        codes = np.frombuffer("".join(names).encode("utf-32-le"), dtype=np.uint32) % _WIDTH
        rows = np.repeat(np.arange(len(names)), lengths)
        flat = np.bincount(rows * _WIDTH + codes, minlength=len(names) * _WIDTH)
        found = (np.minimum(flat, 255).astype(np.uint8).reshape(len(names), _WIDTH), lengths)
        if len(_LETTERS) >= 4:
            _LETTERS.pop(next(iter(_LETTERS)))
        _LETTERS[names] = found
    return found


_COLOURS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "note": "\x1b[1;36m"}
_BOLD, _GREEN, _RESET = "\x1b[1m", "\x1b[1;32m", "\x1b[0m"


#: source lines longer than this are shown as a window around the diagnostic's span
_LONG_LINE = 240
_CONTEXT = 60


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
        src_lines = _lines(source)
        if 1 <= d.line <= len(src_lines):
            text = src_lines[d.line - 1].replace("\t", " ")
            end_col = d.end_column if d.end_line == d.line else len(text) + 1
            column = d.column
            if len(text) > _LONG_LINE:        # a window of the line around the span, marked with ...
                lo = max(0, column - 1 - _CONTEXT)
                hi = min(len(text), max(min(end_col, len(text) + 1) - 1, column) + _CONTEXT, lo + _LONG_LINE)
                head_, tail_ = ("..." if lo > 0 else ""), ("..." if hi < len(text) else "")
                text = head_ + text[lo:hi] + tail_
                column = column - lo + len(head_)
                end_col = min(end_col, hi + 1) - lo + len(head_)
            lines.append("    " + text)
            width = max(1, min(end_col, len(text) + 1) - column)
            marker = " " * (column - 1) + "^" * width
            lines.append("    " + (f"{_GREEN}{marker}{_RESET}" if colour else marker))
    if d.hint:
        lines.append(f"    hint: {d.hint}")
    return "\n".join(lines)


@lru_cache(maxsize=4)
def _lines(source: str) -> list[str]:
    """A source's lines, split once for all its diagnostics."""
    return source.splitlines()


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    """The contract's JSON list of diagnostics."""
    return json.dumps([d.to_json() for d in diagnostics], indent=2)


class RunError(Exception):
    """A run (backtest or replay) that cannot report honest numbers: the engine halted, the
    account went negative, or an order was refused. The message names the bar and the cause."""
