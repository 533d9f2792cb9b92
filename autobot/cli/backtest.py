"""``autobot backtest``: run a strategy document in NautilusTrader's BacktestEngine."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import typer

from autobot.cli.output import (check_output_path, fail_usage, fail_user, metrics_table, short_series_note,
                               with_iso_times, writing, write_json)
from autobot.cli.inputs import (OPTION_RANGES, example_data, run_with_progress, check_currency,  # noqa: F401
                                 check_ranges, cli_instrument, split_data)



def _bind(data: list[str], instrument: str) -> Path | None:
    """The file for ``instrument`` among ``--data FILE`` / ``--data INSTRUMENT_ID=FILE`` values."""
    if not data:
        return None
    bound, plain = split_data(data)
    if len(plain) > 1 or (plain and bound):
        raise fail_usage("give one --data FILE, or --data INSTRUMENT_ID=FILE for each instrument")
    if plain:
        return plain[0]
    if instrument not in bound:
        raise fail_usage(f"no --data for {instrument} (given for: {', '.join(sorted(bound))})")
    extra = sorted(set(bound) - {instrument})
    if extra:
        raise fail_usage(f"--data for {', '.join(extra)}, which this strategy does not trade ({instrument})")
    return bound[instrument]


def _overrides(params: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in params:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise fail_usage(f"--param {item!r}: write NAME=NUMBER") from None
        if not sep or not name.strip():
            raise fail_usage(f"--param {item!r}: write NAME=NUMBER")
        if not math.isfinite(out[name.strip()]):
            raise fail_usage(f"--param {item!r}: the value must be a finite number")
    return out


#: option -> (lowest, highest, inclusive low): every number a backtest takes is range-checked


def backtest(
    strategy: Optional[Path] = typer.Argument(None, help="Strategy document (YAML); omit it with --policy."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Backtest the whole autonomous portfolio of this "
                                          "policy (regimes, selection, allocation, circuit breakers) instead."),
    data: list[str] = typer.Option([], "--data", help="Bars for the strategy's instrument: FILE (contract CSV or "
                                   "Binance klines), or INSTRUMENT_ID=FILE. Default: the project's example data."),
    universe: list[str] = typer.Option([], "--universe", help="With --policy: trade every strategy on these "
                                       "markets instead of the policy's universe: a folder of bar files, files "
                                       "(aapl_1d.csv is AAPL on the policy's venue) or ID=FILE (repeatable)."),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help="A NautilusTrader ParquetDataCatalog folder."),
    start: Optional[str] = typer.Option(None, "--start", help="First bar (ISO date or date-time, UTC)."),
    end: Optional[str] = typer.Option(None, "--end", help="Stop before this time (ISO date or date-time, UTC)."),
    capital: float = typer.Option(100_000.0, "--capital", help="Starting capital, in the quote currency."),
    account: Optional[str] = typer.Option(None, "--account", help="margin (long and short) or cash (long only); "
                                          "default margin, with --policy the policy's account:."),
    leverage: float = typer.Option(1.0, "--leverage", help="Account leverage (margin accounts)."),
    instrument: Optional[str] = typer.Option(None, "--instrument", help="Trade this instrument id instead of the "
                                             "document's market.instrument (a policy: every strategy of a "
                                             "one-instrument policy, or OLD=NEW)."),
    venue_name: Optional[str] = typer.Option(None, "--venue", help="Trade the instrument's symbol on this venue "
                                             "(its asset class and cost model follow the venue)."),
    currency: str = typer.Option("USD", "--currency", help="Quote currency of equities and other non-FX, "
                                 "non-crypto instruments."),
    price_precision: Optional[int] = typer.Option(None, "--price-precision", help="Decimals of prices "
                                                  "(default: inferred from the data)."),
    size_precision: Optional[int] = typer.Option(None, "--size-precision", help="Decimals of quantities "
                                                 "(default: 6 for crypto, 0 otherwise)."),
    maker_fee: Optional[float] = typer.Option(None, "--maker-fee", help="Maker fee as a fraction (Binance: 0.001)."),
    taker_fee: Optional[float] = typer.Option(None, "--taker-fee", help="Taker fee as a fraction (Binance: 0.001)."),
    slippage: float = typer.Option(0.0, "--slippage", help="Probability that a market or stop fill slips one tick."),
    param: list[str] = typer.Option([], "--param", help="Override a param: NAME=VALUE (repeatable)."),
    regimes: Optional[Path] = typer.Option(None, "--regimes", help="Regimes document for a strategy that reads "
                                           "'regime' (default: the project's regimes/regimes.yaml)."),
    text: Optional[Path] = typer.Option(None, "--text", help="Timestamped texts (CSV or JSON lines: timestamp, "
                                        "symbol, text) for a strategy that reads 'sentiment' (docs/ml.md)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write metrics and the trade list as JSON here."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
    engine: str = typer.Option("nautilus", "--engine", help="nautilus (the reference, event-driven) or fast (the "
                               "compiled screening engine; same fills, refuses what it cannot reproduce)."),
) -> None:
    """Backtest one strategy document (or, with --policy, the whole portfolio) against buy-and-hold and the success bar."""
    if account not in (None, "margin", "cash"):
        raise fail_usage("--account must be 'margin' or 'cash'")
    if engine not in ("nautilus", "fast"):
        raise fail_usage(f"--engine {engine!r}: give 'nautilus' or 'fast'")
    _check_options(start, end, catalog)
    check_ranges({"--capital": capital, "--leverage": leverage, "--slippage": slippage, "--maker-fee": maker_fee,
                  "--taker-fee": taker_fee, "--price-precision": price_precision, "--size-precision": size_precision})
    currency = check_currency(currency)
    check_output_path("--json", json_out)
    check_output_path("--report", report)
    overrides = _overrides(param)
    settings_ = dict(capital=capital, leverage=leverage, slippage=slippage, currency=currency,
                     price_precision=price_precision, size_precision=size_precision, maker_fee=maker_fee,
                     taker_fee=taker_fee, start=start, end=end, json_out=json_out, report=report, text=text,
                     account=account, instrument=instrument, venue=venue_name, universe=universe)
    if universe and policy is None:
        raise fail_usage("--universe goes with --policy (a policy's strategies run on every market of it)")
    if policy is not None:
        if strategy is not None:
            raise fail_usage("give a strategy document or --policy, not both")
        from autobot.cli.backtest_policy import backtest_policy
        backtest_policy(policy, data, catalog, {**settings_, "engine": engine})
        return
    if strategy is None:
        raise fail_usage("give a strategy document (or --policy POLICY.yaml)")
    compiled = compile_for_run(strategy, overrides, regimes)      # the one compilation of the document
    if compiled.document.quote is not None:
        if engine == "fast":
            raise fail_usage("--engine fast runs bar strategies; a quote: strategy runs on the order book in "
                             "NautilusTrader (drop --engine)")
        from autobot.cli.backtest_book import backtest_book
        backtest_book(compiled, data, overrides, instrument, settings_)
        return
    inputs = load_inputs(strategy, overrides, instrument, data, catalog, start, end, regimes,
                         dict(capital=capital, account=account, leverage=leverage, slippage=slippage,
                              price_precision=price_precision, size_precision=size_precision, maker_fee=maker_fee,
                              taker_fee=taker_fee, currency=currency, venue=venue_name), compiled)
    compiled, bars, venue, settings, iid, compiled_regimes = inputs
    from autobot.backtest.engine import run_backtest
    from autobot.diagnostics import RunError, UserError
    texts = None
    if text is not None:
        from autobot.data.text import load_texts
        try:
            texts = load_texts(text)
        except UserError as err:
            raise fail_user(err.diagnostics) from None

    if engine == "fast":
        from autobot.fast.engine import Unsupported, run_fast
        runner: Any = run_fast
    else:
        runner, Unsupported = run_backtest, ()
    try:
        result = run_with_progress(lambda progress: runner(compiled, bars, venue, settings, iid, overrides or None,
                                                            progress=progress, regimes=compiled_regimes,
                                                            texts=texts))
    except Unsupported as err:
        typer.echo(f"error: {strategy}: --engine fast cannot reproduce this run exactly: {err}", err=True)
        raise typer.Exit(1) from None
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    except RunError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    _print_result(result)
    if json_out is not None:
        write_json(json_out, with_iso_times(result.to_json()))
    if report is not None:
        from autobot.report.html import write_report
        with writing("--report", report):
            write_report(result, compiled, report)
        typer.echo(f"wrote {report}", err=True)


def compile_for_run(strategy: Path, overrides: dict[str, float], regimes: Optional[Path]) -> Any:
    """The strategy document compiled once for a run: with the regime names of the regimes it would
    run with (``--regimes``, else its project's), so a rule naming no regime is an error
    (positioned errors raised as ``typer.Exit``)."""
    from autobot.diagnostics import UserError
    from autobot.workspace import load_strategy, regime_names_at, project_regimes_path
    if not strategy.is_file():
        raise fail_usage(f"no such strategy file: {strategy}")
    names = regime_names_at(regimes if regimes is not None else project_regimes_path(strategy))
    try:
        return load_strategy(strategy, overrides or None, regime_names=names or None)
    except UserError as err:
        raise fail_user(err.diagnostics) from None


def load_inputs(strategy: Path, overrides: dict[str, float], instrument: Optional[str], data: list[str],
                catalog: Optional[Path], start: Optional[str], end: Optional[str], regimes: Optional[Path],
                v: dict[str, Any], compiled: Any = None) -> tuple[Any, ...]:
    """The strategy, its bars, venue and instrument settings, instrument id and regimes, as
    ``backtest`` and ``optimize`` take them from the command line (usage and positioned errors
    raised as ``typer.Exit``). ``compiled``: the document already compiled by :func:`compile_for_run`."""
    from autobot.diagnostics import UserError
    capital, account, leverage, slippage = v["capital"], v["account"] or "margin", v["leverage"], v["slippage"]
    price_precision, size_precision, maker_fee, taker_fee = (v["price_precision"], v["size_precision"],
                                                             v["maker_fee"], v["taker_fee"])
    currency = v["currency"]
    if compiled is None:
        compiled = compile_for_run(strategy, overrides, regimes)
    if compiled.document.quote is not None:
        from autobot.backtest.data import quote_refusal
        raise fail_user(quote_refusal(compiled, "bars or in a study").diagnostics)
    iid = cli_instrument(instrument or compiled.document.market.instrument, v.get("venue"))

    from autobot.backtest.data import parse_when, slice_bars
    from autobot.venue.settings import VenueSettings
    from autobot.venue.instruments import InstrumentSettings
    from autobot.data.bars import load_bars

    try:
        if catalog is not None:
            if data:
                raise fail_usage("give --data or --catalog, not both")
            from autobot.data.catalog import load_catalog_bars
            bars = load_catalog_bars(catalog, iid, compiled.bar.seconds if compiled.bar else None)
        else:
            path = _bind(data, iid) or example_data(strategy)
            if not path.exists():
                raise fail_usage(f"no such data file: {path}")
            bars = load_bars(path)
        whole = bars
        bars = slice_bars(bars, parse_when(start, "--start") if start else None,
                          parse_when(end, "--end") if end else None)
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    if len(bars) == 0:
        from autobot.cli.output import no_bars_in_window
        raise no_bars_in_window(whole, start, end)

    venue = VenueSettings(capital=capital, account=account, leverage=leverage, slippage=slippage)
    market = compiled.document.market     # the document's settings, unless the command line says otherwise

    def pick(cli: Any, doc: Any) -> Any:
        return cli if cli is not None else doc
    settings = InstrumentSettings(price_precision=pick(price_precision, market.price_precision),
                                  size_precision=pick(size_precision, market.size_precision),
                                  maker_fee=pick(maker_fee, market.maker_fee), taker_fee=pick(taker_fee, market.taker_fee),
                                  currency=currency)
    compiled_regimes = _regimes_for(compiled, strategy, regimes)   # its rules were checked against their names
    return compiled, bars, venue, settings, iid, compiled_regimes


def _check_options(start: Optional[str], end: Optional[str], catalog: Optional[Path]) -> None:
    """Bad option values are usage errors (one line, exit 2), found before anything is loaded."""
    from autobot.backtest.data import parse_when
    from autobot.diagnostics import UserError
    for value, name in ((start, "--start"), (end, "--end")):
        if value:
            try:
                parse_when(value, name)
            except UserError as err:
                d = err.diagnostics[0]
                raise fail_usage(f"{d.message}; {d.hint}" if d.hint else d.message) from None
    if catalog is not None and not catalog.is_dir():
        raise fail_usage(f"--catalog {catalog}: no such folder (a NautilusTrader ParquetDataCatalog)")


def _regimes_for(compiled: Any, strategy: Path, path: Optional[Path]) -> Any:
    """The compiled regimes a strategy reading ``regime`` runs with alone (None when it does not)."""
    if "regime" not in compiled.plan.externals:
        return None
    from autobot.diagnostics import DiagnosticSink
    from autobot.documents.models import RegimesDocument
    from autobot.language.compile import compile_regimes
    from autobot.workspace import Workspace, project_regimes_path
    if path is None:
        path = project_regimes_path(strategy)
    if not path.is_file():
        typer.echo(f"note: {strategy} reads 'regime' but there is no regimes document ({path}); "
                   "'regime' stays undefined", err=True)
        return None
    ws = Workspace()
    loaded = ws.load(path)
    if not isinstance(loaded.model, RegimesDocument):
        raise fail_user(ws.diagnostics or [loaded.source.diagnostic(0, 1, "wrong-document",
                                                                    "expected a regimes document")])
    sink = DiagnosticSink()
    out = compile_regimes(loaded.source, loaded.model, sink)
    if out is None:
        raise fail_user(sink.items)
    return out


def _bar_span(ts: Any, seconds: int) -> tuple[str, str]:
    """The first and the last bar as the data labels them (their opens): dates for daily or longer
    bars, ISO times otherwise (the JSON's ``end`` is the last bar's close)."""
    from autobot.backtest.data import iso
    if not len(ts):
        return "-", "-"
    first, last = iso(int(ts[0])), iso(int(ts[-1]))
    return (first[:10], last[:10]) if seconds >= 86_400 else (first, last)


def _print_result(result: Any) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    start, end = _bar_span(result.bars.ts, result.bar_seconds)
    console.print(metrics_table(f"{result.strategy} on {result.instrument} {result.bar}: {len(result.bars):,} bars, "
                                f"{start} to {end}", result.metrics, result.buy_and_hold, result.currency))
    short = short_series_note(result.metrics)
    if short:
        console.print(short)
    console.print(f"costs: {result.cost_model}")
    for note in result.notes:
        console.print(f"note: {note}")
    if result.trades:
        last = result.trades[-1]
        from autobot.backtest.data import iso
        console.print(f"last trade: {last['side']} {last['entry_rule']} at {iso(int(last['entry_ts']))} because "
                      f"{last['entry_why'] or '-'}; exit {last['exit_reason']}"
                      + (f" at {iso(int(last['exit_ts']))}" if last.get("exit_ts") is not None else ""))
