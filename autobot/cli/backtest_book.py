"""``autobot backtest MM.yaml --data BOOKFILE ...``: a ``quote:`` strategy on order-book data,
under both queue models (docs/market_making.md)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from autobot.cli.output import fail_usage, fail_user, writing, write_json


def book_paths(data: list[str]) -> list[Path]:
    out = []
    for item in data:
        head, sep, tail = item.partition("=")
        path = Path(tail if sep and "/" not in head and "." in head else item)
        if not path.exists():
            raise fail_usage(f"no such data file: {path}")
        out.append(path)
    return out


def backtest_book(compiled: Any, data: list[str], overrides: dict[str, float], instrument: str | None,
                  settings: dict[str, Any]) -> None:
    """A ``quote:`` strategy (``compiled``, with ``overrides`` applied) on order-book data, under both
    queue models."""
    from autobot.backtest.book import QUEUE_MODELS, run_book_backtest
    from autobot.cli.inputs import run_with_progress
    from autobot.data.book_binance import BookFileError
    from autobot.data.book_files import load_book
    from autobot.diagnostics import Diagnostic, UserError
    from autobot.venue.instruments import InstrumentSettings
    from autobot.venue.settings import VenueSettings

    strategy = compiled.source.path
    if not data:
        raise fail_usage("a quote: strategy backtests on order-book data: pass --data FILE (a Binance capture, a "
                         "Binance depth CSV or a Databento MBO file; several files of one capture are joined)")
    try:
        book = load_book(book_paths(data))
    except BookFileError as err:
        raise fail_user([Diagnostic(err.path, err.line, 1, err.line, 2, "book-file", err.message, err.hint)]) \
            from None
    if len(book.ts) == 0:
        for note in book.notes:
            typer.echo(f"note: {note}", err=True)
        typer.echo(f"error: {', '.join(data)}: no usable book data", err=True)
        raise typer.Exit(1)
    venue = VenueSettings(capital=settings["capital"], leverage=settings["leverage"])
    inst = InstrumentSettings(price_precision=settings["price_precision"], size_precision=settings["size_precision"],
                              maker_fee=settings["maker_fee"], taker_fee=settings["taker_fee"],
                              currency=settings["currency"])
    iid = instrument or compiled.document.market.instrument
    results = {}
    try:
        for queue in QUEUE_MODELS:
            results[queue] = run_with_progress(lambda progress, q=queue: run_book_backtest(
                compiled, book, venue, inst, q, iid, overrides or None, progress))
    except ValueError as err:
        typer.echo(f"error: {strategy}: {err}", err=True)
        raise typer.Exit(1) from None
    for note in results["conservative"].notes:
        typer.echo(f"note: {note}", err=True)
    _print(results)
    doc = band_json(results)
    if settings.get("json_out") is not None:
        write_json(settings["json_out"], doc, allow_nan=False)
    if settings.get("report") is not None:
        from autobot.report.book import write_book_report
        with writing("--report", settings["report"]):
            write_book_report(results, compiled, book, settings["report"])
        typer.echo(f"wrote {settings['report']}", err=True)


def clean_json(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: clean_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [clean_json(x) for x in v]
    return v


def band_json(results: dict[str, Any]) -> dict:
    """The conservative run's numbers at the top (the headline), both runs in ``queue_models`` and
    the band of the main figures."""
    head = results["conservative"].to_json()
    doc = dict(head)
    doc["queue_models"] = {q: r.to_json() for q, r in results.items()}
    for r in doc["queue_models"].values():
        r.pop("fill_list", None)
    doc["band"] = {k: [results["conservative"].metrics[k], results["optimistic"].metrics[k]]
                   for k in ("pnl", "fills", "fill_ratio", "quote_uptime")}
    return clean_json(doc)


def _print(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    cons, opt = results["conservative"], results["optimistic"]
    console = Console(highlight=False)
    title = (f"{cons.strategy} on {cons.instrument}: {cons.book_events:,} book updates, {cons.trades:,} trades, "
             f"{cons.seconds / 60:.1f} min")
    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column("conservative queue", justify="right")
    table.add_column("optimistic (on touch)", justify="right")

    def money(v: float) -> str:
        return f"{v + 0.0:,.4f}"

    def row(name: str, fn: Any) -> None:
        table.add_row(name, fn(cons.metrics), fn(opt.metrics))
    row("PnL", lambda m: money(m["pnl"]))
    for part in ("spread_capture", "adverse_selection", "inventory", "fees"):
        row(f"  {part.replace('_', ' ')}", lambda m, p=part: money(m["pnl_breakdown"][p]))
    for h in ("1s", "5s", "30s", "60s"):
        row(f"markout {h} (bp/fill)", lambda m, h=h: "-" if m["markouts_bp"][h] is None else f"{m['markouts_bp'][h]:.2f}")
    row("fills", lambda m: f"{m['fills']:,}")
    row("orders", lambda m: f"{m['orders']:,}")
    row("fill ratio", lambda m: f"{m['fill_ratio']:.1%}")
    row("order-to-trade", lambda m: "-" if not math.isfinite(m["order_to_trade"]) else f"{m['order_to_trade']:.1f}")
    row("quote uptime (both sides)", lambda m: f"{m['quote_uptime']:.1%}")
    row("inventory max", lambda m: f"{m['inventory_max']:g}")
    row("inventory time-weighted", lambda m: f"{m['inventory_time_weighted']:.4g}")
    row("time at inventory limit", lambda m: f"{m['time_at_limit']:.1%}")
    console.print(table)
    console.print("The band: conservative (a quote fills after the volume ahead of it at placement has traded) to "
                  "optimistic (it fills on any trade at its price). PnL is marked at the last mid.")


def print_one(result: Any, label: str) -> None:
    """One run's table (a paper node's)."""
    from rich.console import Console
    from rich.table import Table
    m = result.metrics
    table = Table(title=f"{result.strategy} on {result.instrument} ({label}, {result.queue} queue): "
                        f"{result.book_events:,} book updates, {result.trades:,} trades", title_justify="left")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("PnL", f"{m['pnl'] + 0.0:,.4f}")
    for part, v in m["pnl_breakdown"].items():
        table.add_row(f"  {part.replace('_', ' ')}", f"{v + 0.0:,.4f}")
    table.add_row("fills", f"{m['fills']:,}")
    table.add_row("fill ratio", f"{m['fill_ratio']:.1%}")
    table.add_row("quote uptime (both sides)", f"{m['quote_uptime']:.1%}")
    table.add_row("inventory max", f"{m['inventory_max']:g}")
    Console(highlight=False).print(table)
