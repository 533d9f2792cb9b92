"""Shared terminal output for the commands: diagnostics and exit codes."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence, TextIO

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


_EXAMPLES = {"--json": "results.json", "--report": "report.html", "--journal": "study.optuna.journal"}


def check_output_path(option: str, path: Path | str | None, folder: bool = False, stream_ok: bool = True,
                      example: str | None = None) -> None:
    """An output option (``--json``, ``--report``, ``--out``...) checked before the command loads
    anything: a folder, a path in a missing folder, an empty name, a named pipe or a read-only file
    is a usage error naming the option and the path, so no run's result is lost at the end. See
    :func:`autobot.safeio.output_problem` for ``folder`` and ``stream_ok``."""
    if path is None:
        return
    from autobot.safeio import output_problem
    problem = output_problem(path, folder=folder, stream_ok=stream_ok,
                             example=example or _EXAMPLES.get(option, "out.txt"))
    if problem is not None:
        reason, hint = problem
        raise fail_usage(f"{option} {str(path)!r} {reason}; {hint}")


@contextmanager
def writing(option: str, path: Path | str) -> Iterator[None]:
    """Around writing an output file: an ``OSError`` (a full disk, ``/dev/full``, a pipe whose reader
    went away) becomes one ``error:`` line and exit code 1."""
    try:
        yield
    except OSError as err:
        import errno
        fix = {errno.ENOSPC: "free some space or choose another path",
               errno.ENXIO: "it is a pipe no program reads from: start the reader first or choose a regular file",
               errno.EPIPE: "the program reading the pipe went away: choose a regular file"}.get(
                   err.errno or 0, "choose another path")
        where = f" ({err.filename})" if err.filename and str(err.filename) != str(path) else ""
        typer.echo(f"error: {option} {str(path)!r}: could not write it{where}: {err.strerror or err}; {fix}, and run "
                   "the command again", err=True)
        raise typer.Exit(EXIT_USER_ERROR) from None


def write_output(option: str, path: Path, text: str) -> None:
    """Write an output file (a pipe without a reader fails at once) and say so on stderr."""
    from autobot.safeio import write_text_out
    with writing(option, path):
        write_text_out(path, text)
    typer.echo(f"wrote {path}", err=True)


def write_json(path: Path, doc: Any, option: str = "--json", **options: Any) -> None:
    """A command's ``--json OUT``: indented, NaN refused unless ``options`` say otherwise, and said on
    stderr; a write that fails is one ``error:`` line (exit 1)."""
    options.setdefault("allow_nan", False)
    write_output(option, path, json.dumps(doc, indent=2, **options) + "\n")


def with_iso_times(doc: Any) -> Any:
    """A JSON document with an ISO 8601 UTC time beside every epoch-nanosecond field: ``ts`` gets
    ``time``, ``entry_ts`` gets ``entry_time`` and so on (a null ``*_ts`` gets a null time). The
    numeric fields stay, for programs that read them."""
    from autobot.backtest.data import iso
    if isinstance(doc, list):
        return [with_iso_times(v) for v in doc]
    if not isinstance(doc, dict):
        return doc
    out: dict[str, Any] = {}
    for k, v in doc.items():
        out[k] = with_iso_times(v)
        if isinstance(k, str) and (k == "ts" or k.endswith("_ts")) and (v is None or isinstance(v, int)) \
                and not isinstance(v, bool):
            name = "time" if k == "ts" else k[:-3] + "_time"
            if name not in doc:
                out[name] = None if v is None else iso(v)
    return out


def fail_usage(message: str) -> typer.Exit:
    """Report a usage error (exit code 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def fail_data(message: str) -> typer.Exit:
    """Report a problem with the data a command was given (exit code 1, as an error in a user file)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USER_ERROR)


def no_bars_in_window(bars: Any, start: str | None, end: str | None) -> typer.Exit:
    """The error for a --start/--end window holding no bar of ``bars`` (the whole file), with its span."""
    from autobot.backtest.data import iso
    window = " and ".join(f"{name} {value}" for name, value in (("--start", start), ("--end", end)) if value)
    span = f"the data runs from {iso(int(bars.ts[0]))} to {iso(int(bars.ts[-1]))}" if len(bars) else "the data is empty"
    return fail_data(f"no bars {'between' if start and end else 'with'} {window}: {span}")


def fail_user(diagnostics: Sequence[Diagnostic], sources: dict[str, str] | None = None) -> typer.Exit:
    """Report errors in user files on stderr (exit code 1)."""
    if sources is None:
        sources = {}
        from autobot.data.bars import MAX_DATA_BYTES
        from autobot.safeio import read_text_or_none
        for d in diagnostics:
            if d.file not in sources:
                text = read_text_or_none(d.file, MAX_DATA_BYTES)   # bounded, never a FIFO; bad bytes replaced
                if text is not None:
                    sources[d.file] = text
    print_diagnostics(diagnostics, sources, stream=sys.stderr)
    return typer.Exit(EXIT_USER_ERROR)


def pct(v: Any) -> str:
    """A fraction as a percent, with thousands separators (``12.34%``, ``1,234.50%``)."""
    return "-" if v is None else f"{v * 100:,.2f}%"


def num(v: Any) -> str:
    """A number with two decimals and thousands separators (``87,654,450.64``)."""
    return "-" if v is None else f"{v:,.2f}"


def count(v: Any) -> str:
    """A whole number with thousands separators (``2,301``)."""
    return "-" if v is None else f"{int(v):,}"


def metrics_table(title: str, m: dict[str, Any], bh: dict[str, Any], currency: str, first: str = "strategy",
                  paper: dict[str, Any] | None = None) -> Any:
    """The metrics against buy-and-hold and the success bar, as a rich table. Annualised figures of
    a series shorter than ``MIN_ANNUAL_DAYS`` are shown as not meaningful. ``paper``: a demoted
    portfolio's paper track, in its own labelled column beside the capital's (the headline)."""
    from rich.table import Table

    from autobot.backtest.metrics import MIN_ANNUAL_DAYS, SUCCESS_BAR, success_marks

    marks = success_marks(m)
    short = (m.get("span_days") or 0.0) < MIN_ANNUAL_DAYS
    table = Table(title=title)
    cols = [("metric", "left"), (first, "right")] + ([("paper track (no capital)", "right")] if paper else []) + \
        [("equal-weight b&h" if str(bh.get("method", "")).startswith("equal weight") else "buy & hold", "right"),
         ("success bar", "right")]
    for col, just in cols:
        table.add_column(col, justify=just)  # type: ignore[arg-type]

    def side(*cells: str) -> tuple[str, ...]:
        return cells if paper else cells[:1] + cells[2:]
    p = paper or {}
    rows = [("total return", "total_return", pct), ("annual return", "annual_return", pct),
            ("sharpe", "sharpe", num), ("sortino", "sortino", num), ("max drawdown", "max_drawdown", pct),
            ("win rate", "win_rate", pct), ("profit factor", "profit_factor", num), ("exposure", "exposure", pct)]
    for label, key, fmt in rows:
        if short and key in ("annual_return", "sharpe", "sortino"):
            table.add_row(label, *side("not meaningful", "not meaningful", "not meaningful"), "-")
            continue
        target = ""
        if key in SUCCESS_BAR:
            op, value = SUCCESS_BAR[key]
            ok = marks[key]
            shown = pct(value) if key != "sharpe" else f"{value:g}"
            target = f"{op} {shown} " + ("[green]PASS[/]" if ok else "[red]FAIL[/]" if ok is not None else "-")
        table.add_row(label, *side(fmt(m.get(key)), fmt(p.get(key)), fmt(bh.get(key))), target)
    table.add_row("trades (closed)", *side(count(m["trades"]), count(p.get("trades")), count(bh["trades"])), "")
    table.add_row("fees", *side(f"{m['fees']:,.2f} {currency}", f"{p.get('fees') or 0:,.2f} {currency}",
                                f"{bh['fees']:,.2f} {currency}"), "")
    table.add_row("final equity", *side(f"{m['final_equity']:,.2f} {currency}",
                                        f"{p.get('final_equity') or 0:,.2f} {currency}",
                                        f"{bh['final_equity']:,.2f} {currency}"), "")
    return table


def short_series_note(m: dict[str, Any]) -> str | None:
    """The note printed under a table whose series is too short to annualise."""
    from autobot.backtest.metrics import MIN_ANNUAL_DAYS
    days = m.get("span_days") or 0.0
    if days >= MIN_ANNUAL_DAYS:
        return None
    return (f"note: the bars cover {days:.1f} days; annual return, Sharpe and Sortino are not meaningful "
            f"under {MIN_ANNUAL_DAYS:g} days")
