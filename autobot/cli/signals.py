"""``autobot signals``: per closed bar, every indicator and every rule of a strategy."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Optional

import typer

from autobot.cli.output import check_output_path, fail_usage, fail_user, print_diagnostics, writing


def signals(
    strategy: Path = typer.Argument(..., help="Strategy document (YAML)."),
    data: Path = typer.Option(..., "--data", help="Bars: contract CSV (timestamp,open,high,low,close,volume) "
                              "or a Binance kline CSV."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the CSV here instead of standard output."),
    capital: float = typer.Option(100_000.0, "--capital", help="Value of 'equity' while evaluating (as backtest's "
                                  "starting capital)."),
    start: Optional[str] = typer.Option(None, "--start", help="First bar shown (ISO date or date-time, UTC); "
                                        "indicators warm up on the bars before it."),
    end: Optional[str] = typer.Option(None, "--end", help="Show bars opening before this (ISO date or date-time, "
                                      "UTC); no bar from it on is read."),
    text: Optional[Path] = typer.Option(None, "--text", help="Timestamped texts for a strategy that reads "
                                        "'sentiment' (as backtest --text)."),
) -> None:
    """Print timestamp, each indicator and entry/exit rule values per bar as CSV."""
    from autobot.data.bars import load_bars
    from autobot.diagnostics import UserError
    from autobot.evaluate.signals import write_signals
    from autobot.workspace import load_strategy
    from autobot.cli.inputs import check_ranges

    check_ranges({"--capital": capital})
    check_output_path("--out", out, example="signals.csv")
    if not strategy.is_file():
        raise fail_usage(f"no such strategy file: {strategy}")
    if not data.exists():
        raise fail_usage(f"no such data file: {data}")
    from autobot.backtest.data import parse_when, slice_bars, strategy_bars
    try:
        lo = parse_when(start, "--start") if start else None
        hi = parse_when(end, "--end") if end else None
    except UserError as err:
        d = err.diagnostics[0]
        raise fail_usage(f"{d.message}; {d.hint}") from None
    try:
        compiled = load_strategy(strategy)
        bars, seconds, notes = strategy_bars(compiled, slice_bars(load_bars(data), None, hi))  # the backtest's bars
        import numpy as np
        first = int(np.searchsorted(bars.ts, lo, side="left")) if lo is not None else 0
        if first >= len(bars):
            from autobot.cli.output import no_bars_in_window
            raise no_bars_in_window(load_bars(data), start, end)
        extra = None
        from autobot.backtest.data import TEXT_NAMES, text_externals
        if text is not None or set(TEXT_NAMES) & compiled.plan.externals:
            from autobot.data.text import load_texts
            extra = text_externals(compiled, bars, seconds, load_texts(text) if text is not None else None,
                                   compiled.document.market.instrument)
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    # a rule that never gets a value would stop a backtest; here its column is shown (empty), with a warning
    short = [dataclasses.replace(d, severity="warning") for d in compiled.short_data(len(bars))] if len(bars) else []
    print_diagnostics(short, {compiled.source.path: compiled.source.text}, stream=sys.stderr)
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    if out is None:
        write_signals(compiled, bars, sys.stdout, capital, extra, first)
        return
    from autobot.safeio import open_output
    with writing("--out", out), open_output(out, newline="") as fh:
        rows = write_signals(compiled, bars, fh, capital, extra, first)
    typer.echo(f"wrote {rows} bars x {len(compiled.plan.named) + len(compiled.plan.rules)} columns to {out}",
               err=True)

