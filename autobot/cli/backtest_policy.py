"""``autobot backtest --policy``: the autonomous portfolio, with its per-strategy and per-regime tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from autobot.cli.inputs import example_data, run_with_progress, split_data
from autobot.cli.output import metrics_table, num as _num, pct as _pct, short_series_note
from autobot.cli.output import count, fail_usage, fail_user, with_iso_times, writing, write_json


def bind_all(data: list[str], needed: list[str], default: Path) -> dict[str, Path]:
    """Files per instrument: one plain FILE feeds a policy with a single instrument."""
    bound, plain = split_data(data)
    if plain:
        if len(plain) > 1 or bound or len(needed) > 1:
            raise fail_usage(f"this policy trades {', '.join(needed)}: give --data INSTRUMENT_ID=FILE for each")
        return {needed[0]: plain[0]}
    if not bound:
        if len(needed) > 1:
            raise fail_usage(f"this policy trades {', '.join(needed)}: give --data INSTRUMENT_ID=FILE for each")
        return {needed[0]: default}
    return bound


def _rebind(policy: Any, instrument: Optional[str], venue: Optional[str]) -> Any:
    """``--instrument`` (NEW for a one-instrument policy, or OLD=NEW) and ``--venue`` applied to
    the policy's strategies and regimes."""
    from autobot.workspace import rebind_instruments
    return rebind_instruments(policy, instrument_mapping(policy, instrument, venue))


def instrument_mapping(policy: Any, instrument: Optional[str], venue: Optional[str]) -> dict[str, str]:
    """The documents' instrument ids -> the ones ``--instrument`` / ``--venue`` name (checked)."""
    from autobot.cli.inputs import cli_instrument
    mapping: dict[str, str] = {}
    if instrument is None and venue is None:
        return mapping
    if instrument is not None:
        old, sep, new = instrument.partition("=")
        if sep:
            if old not in policy.instruments:
                raise fail_usage(f"--instrument {instrument}: this policy trades {', '.join(policy.instruments)}, "
                                 f"not {old}")
            mapping[old] = cli_instrument(new, None)
        elif len(policy.instruments) > 1:
            raise fail_usage(f"--instrument {instrument}: this policy trades {', '.join(policy.instruments)}; "
                             "write OLD=NEW for the one to move")
        else:
            mapping[policy.instruments[0]] = cli_instrument(instrument, None)
    if venue is not None:
        for iid in policy.instruments:
            mapping[iid] = cli_instrument(mapping.get(iid, iid), venue)
    return mapping


def policy_inputs(path: Path, data: list[str], catalog: Optional[Path], opts: dict[str, Any]) -> tuple[Any, ...]:
    """The compiled policy, its data per instrument, venue and instrument settings, as
    ``backtest --policy`` and ``optimize --policy`` take them (errors raised as ``typer.Exit``)."""
    from autobot.backtest.data import parse_when, slice_bars
    from autobot.venue.settings import VenueSettings
    from autobot.venue.instruments import InstrumentSettings
    from autobot.data.bars import load_bars
    from autobot.diagnostics import UserError
    from autobot.cli.inputs import universe_files
    from autobot.workspace import load_policy, universe_venue, with_universe

    if not path.is_file():
        raise fail_usage(f"no such policy file: {path}")
    try:
        policy = load_policy(path)
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    given = opts.get("universe") or []
    if given:
        if data or catalog is not None or opts.get("instrument") or opts.get("venue"):
            raise fail_usage("--universe names the instruments and their files: drop --data, --catalog, "
                             "--instrument and --venue")
        policy = with_universe(policy, universe_files(given, universe_venue(policy)))
    universe = policy.document.universe
    if universe:
        if data or catalog is not None or opts.get("instrument") or opts.get("venue"):
            raise fail_usage(f"{path} names a universe (its instruments and files): drop --data, --catalog, "
                             "--instrument and --venue (or give --universe to replace it)")
        from autobot.workspace import expand_present, expand_universe
        listed = policy
        policy = expand_universe(policy)
    policy = _rebind(policy, opts.get("instrument"), opts.get("venue"))
    needed = policy.instruments
    try:
        series = {}
        start = parse_when(opts["start"], "--start") if opts["start"] else None
        end = parse_when(opts["end"], "--end") if opts["end"] else None
        if universe:
            from autobot.data.catalog import load_member_bars
            series = {iid: load_member_bars(path.resolve().parent / file, iid) for iid, file in universe.items()}
        elif catalog is not None:
            from autobot.data.catalog import load_catalog_bars
            series = {iid: load_catalog_bars(catalog, iid) for iid in needed}
        else:
            for iid, file in bind_all(data, needed, example_data(path)).items():
                if not file.exists():
                    raise fail_usage(f"no such data file: {file}")
                series[iid] = load_bars(file)
        whole = series
        series = {iid: slice_bars(b, start, end) for iid, b in series.items()}
        empty = [iid for iid, b in series.items() if len(b) == 0]
        if universe and empty and len(empty) < len(series):
            # a market with no bar in the window does not trade: the universe is the others
            typer.echo(f"note: no bars of {', '.join(empty)} in the window: the universe trades the other "
                       f"{len(series) - len(empty)}", err=True)
            series = {iid: b for iid, b in series.items() if len(b)}
            policy = expand_present(listed, set(series))
        for iid, b in series.items():
            if len(b) == 0 and (start is not None or end is not None):
                from autobot.cli.output import no_bars_in_window
                raise no_bars_in_window(whole[iid], opts["start"], opts["end"])
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    venue = VenueSettings(capital=opts["capital"] if policy.document.capital is None else policy.document.capital,
                          leverage=opts["leverage"], slippage=opts["slippage"], account=opts.get("account") or policy.document.account)
    settings = InstrumentSettings(price_precision=opts["price_precision"], size_precision=opts["size_precision"],
                                  maker_fee=opts["maker_fee"], taker_fee=opts["taker_fee"], currency=opts["currency"])
    return policy, series, venue, settings


def backtest_policy(path: Path, data: list[str], catalog: Optional[Path], opts: dict[str, Any]) -> None:
    """Run the portfolio and print its tables (see ``autobot backtest --help``)."""
    from autobot.diagnostics import RunError, UserError
    from autobot.fast.program import Unsupported
    from autobot.portfolio.engine import run_portfolio

    policy, series, venue, settings = policy_inputs(path, data, catalog, opts)
    runner: Any = run_portfolio
    if opts.get("engine") == "fast":          # the same fills as NautilusTrader's (docs/fast.md)
        from autobot.portfolio.fast_engine import run_portfolio_fast as runner
    try:
        text = opts.get("text")
        if text is not None and not Path(text).is_file():
            raise fail_usage(f"no such text file: {text}")
        result = run_with_progress(lambda progress: runner(policy, series, venue, settings, progress, text=text))
    except Unsupported as err:
        typer.echo(f"error: {path}: --engine fast cannot reproduce this run exactly: {err}", err=True)
        raise typer.Exit(1) from None
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    except RunError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    print_result(result)
    if opts["json_out"] is not None:
        write_json(opts["json_out"], with_iso_times(result.to_json()))
    if opts["report"] is not None:
        from autobot.report.html import write_portfolio_report
        with writing("--report", opts["report"]):
            write_portfolio_report(result, policy, opts["report"])
        typer.echo(f"wrote {opts['report']}", err=True)


def print_result(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    console.print(metrics_table(f"policy {result.policy} on {', '.join(result.instruments)} {result.bar}: "
                                f"{len(result.bars):,} bars", result.metrics, result.buy_and_hold, result.currency,
                                first="portfolio (capital)" if result.paper_track else "portfolio",
                                paper=result.paper_track or None))
    short = short_series_note(result.metrics)
    if short:
        console.print(short)
    by_model: dict[str, list[str]] = {}                 # a universe's markets of one cost model together
    for iid, costs in result.cost_models.items():
        by_model.setdefault(costs, []).append(iid)
    for costs, iids in by_model.items():
        console.print(f"costs of {', '.join(iids)}: {costs}")
    for note in result.notes:
        if not note.endswith(" s"):             # the bar counts per series are in the JSON
            console.print(f"note: {note}")

    per = Table(title="per strategy in the portfolio")
    per.add_column("strategy", no_wrap=True)
    for col in ("trades", "PnL", "share of PnL", "sharpe"):
        per.add_column(col, justify="right", no_wrap=True)
    for sid, row in result.per_strategy.items():
        per.add_row(sid, count(row["trades"]), f"{row['pnl']:,.2f}", _pct(row["share_of_pnl"]), _num(row["sharpe"]))
    console.print(per)
    ex = result.exposure_report
    if ex:
        table = Table(title="exposure (position value over equity): gross adds longs and shorts, net offsets them")
        for col in ("strategy / instrument", "mean gross", "max gross", "mean net", "max |net|"):
            table.add_column(col, justify="left" if col.startswith("strategy") else "right", no_wrap=True)
        for group, rows in (("", ex.get("per_strategy", {})), ("instrument ", ex.get("per_instrument", {})),
                            ("", {"portfolio": ex.get("portfolio", {})})):
            for name, row in rows.items():
                table.add_row(group + name, _pct(row.get("mean_gross")), _pct(row.get("max_gross")),
                              _pct(row.get("mean_net")), _pct(row.get("max_net")))
        console.print(table)
    if result.alone:
        alone = Table(title="each strategy alone, with the full capital")
        alone.add_column("strategy", no_wrap=True)
        for col in ("trades", "annual return", "sharpe", "max drawdown"):
            alone.add_column(col, justify="right", no_wrap=True)
        for sid, m_ in result.alone.items():
            alone.add_row(sid, count(m_.get("trades")), _pct(m_.get("annual_return")), _num(m_.get("sharpe")),
                          _pct(m_.get("max_drawdown")))
        console.print(alone)

    reg = Table(title="per regime")
    for col in ("regime", "bars", "share of bars", "PnL while in it"):
        reg.add_column(col, justify="left" if col == "regime" else "right")
    total = sum(r["bars"] for r in result.per_regime.values()) or 1
    for name, row in result.per_regime.items():
        reg.add_row(name, f"{row['bars']:,}", _pct(row["bars"] / total), f"{row['pnl']:,.2f}")
    console.print(reg)
    switched = sum(s.get("kind", "switch") == "switch" for s in result.switches)
    rebalanced = len(result.switches) - switched
    console.print(f"regime switches: {switched:,}" + (f"; rebalances: {rebalanced:,}" if rebalanced else ""))
    if result.trips:
        from collections import Counter

        from rich.markup import escape
        counts = Counter(t["reason"] for t in result.trips)
        console.print("circuit breakers: " + ", ".join(f"{k} x{v}" for k, v in counts.items()) +
                      _after_trips(result))
        shown = result.trips[-10:]
        if len(result.trips) > len(shown):
            console.print(f"  (the last {len(shown)} of {len(result.trips)} trips; all of them in --json)")
        for trip in shown:
            console.print(f"[red]breaker[/] {trip['reason']} at {_when(trip['ts'])}: {escape(trip['detail'])}; "
                          f"{trip.get('action', 'halt')}")
    else:
        console.print("circuit breakers: none tripped")


def _after_trips(result: Any) -> str:
    """What followed the trips, in words: cooldowns that ended, a demotion, a halt."""
    actions = {str(t.get("action", "halt")) for t in result.trips}
    said = []
    if result.resumes:
        said.append(f"{len(result.resumes):,} cooldown{'s' if len(result.resumes) != 1 else ''} ended and trading "
                    "resumed")
    if any(a.startswith("demote") for a in actions):
        said.append("the capital was demoted to paper (it trades again only when the challenge promotes it)")
    if any(a.startswith("halt") for a in actions):
        said.append("trading halted")
    return "; " + "; ".join(said) if said else ""


def _when(ns: int) -> str:
    from autobot.backtest.data import iso
    return iso(int(ns))
