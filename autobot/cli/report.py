"""``autobot report daily|weekly``: a period of a node's run from its state store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from autobot.cli.output import check_output_path, fail_usage, num, pct, writing, write_json


def report(period: str = typer.Argument(..., help="daily or weekly."),
           state: Optional[Path] = typer.Option(None, "--state", help="The node's SQLite state store "
                                                "(default: the project's .autobot/state.sqlite)."),
           out: Optional[Path] = typer.Option(None, "--out", help="Write the HTML report here (offline)."),
           json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report's numbers as JSON here."),
           date: Optional[str] = typer.Option(None, "--date", help="The period's last day, YYYY-MM-DD (default: "
                                              "the journal's last complete day)."),
           year_days: Optional[int] = typer.Option(None, "--year-days", help="Days in a year for annualised "
                                                   "figures (365, 360 or 252, empyrical's conventions; default: the "
                                                   "UTC days with equity a year, the backtests' rule)."),
           policy: Optional[Path] = typer.Option(None, "--policy", help="The node's policy: re-run its bars in the "
                                                 "backtest engine for the parity ledger (default: the project's "
                                                 "policy.yaml when there is one).")) -> None:
    """Equity, PnL per strategy, risk statistics, regimes, breaker trips and reloads of a day or a week."""
    from rich.console import Console
    from rich.table import Table

    from autobot.cli.status import journal_path
    from autobot.persistence.journal import StateStoreError
    from autobot.report.events import describe
    from autobot.report.journal_report import PERIOD_DAYS, build, read, readable, write_html
    if period not in PERIOD_DAYS:
        raise fail_usage(f"report {period!r}: give daily or weekly")
    if year_days is not None and year_days not in (252, 360, 365):
        raise fail_usage(f"--year-days {year_days}: give 365, 360 or 252")
    if date is not None:
        import datetime as dt
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            raise fail_usage(f"--date {date!r}: write YYYY-MM-DD") from None
    check_output_path("--out", out, example="report.html")
    check_output_path("--json", json_out)
    path = journal_path(state)
    from autobot.diagnostics import RunError, UserError
    if policy is not None and not policy.is_file():
        raise fail_usage(f"no such policy file: {policy}")
    notes: list[str] = []
    try:
        policy_path = policy if policy is not None else _node_policy(path, notes)
        journal = read(path)
        parity = None
        if policy_path is not None and policy_path.is_file():
            from autobot.live.parity import ledger
            try:
                from autobot.cli.inputs import run_with_progress
                parity = run_with_progress(lambda progress: ledger(policy_path, path, progress),
                                            "re-running the node's bars")
            except UserError as err:
                from autobot.cli.output import fail_user
                raise fail_user(err.diagnostics) from None
        rep = build(journal, period, date, year_days, parity)
    except (StateStoreError, RunError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except ValueError as err:
        typer.echo(f"error: {path}: {err}", err=True)
        raise typer.Exit(1) from None
    console = Console(highlight=False)
    span = rep["from"] if rep["from"] == rep["to"] else f"{rep['from']} to {rep['to']}"
    console.print(f"{period} report {span} (bars {rep['first_bar']} to {rep['last_bar']}): equity "
                  f"{rep['equity_start']:,.2f} -> {rep['equity_end']:,.2f} ({rep['pnl']:+,.2f}, {pct(rep['return'])}), "
                  f"{rep['fills']:,} fills, {len(rep['trips'])} breaker trip(s), drawdown at the period's end "
                  f"{rep['drawdown_now']:.2%} below the run's peak (deepest in the period "
                  f"{rep['period_max_drawdown']:.2%})")
    table = Table(title="risk (daily returns)")
    for col in ("metric", "period", "whole run"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, is_pct in (("total_return", True), ("annual_return", True), ("sharpe", False), ("sortino", False),
                         ("calmar", False), ("max_drawdown", True), ("max_drawdown_days", False), ("var_95", True),
                         ("cvar_95", True)):
        f = pct if is_pct else (lambda v: "-" if v is None else f"{v:,}") if name.endswith("_days") else num
        table.add_row(name, f(rep["risk_period"].get(name)), f(rep["risk"].get(name)))
    console.print(table)
    console.print("drawdowns are positive fractions below a peak; the period's are its own days'")
    if rep["risk_period"].get("annualised_note"):
        console.print(rep["risk_period"]["annualised_note"])
    strategies = Table(title="strategies (realised, before fees)")
    widest = max((len(str(s)) for s in rep["strategies_run"]), default=8)
    for col in ("strategy", "PnL period", "PnL run", "turnover", "trips", "win rate"):   # numbers whole, a name
        strategies.add_column(col, justify="left" if col == "strategy" else "right",   # whole up to 24 characters
                              overflow="fold", no_wrap=col != "strategy",
                              min_width=min(widest, 24) if col == "strategy" else None)
    for sid, s in rep["strategies_run"].items():
        strategies.add_row(sid, num(rep["strategies_period"].get(sid, {}).get("realized")), num(s["realized"]),
                           num(s["turnover"]), f"{s['round_trips']:,}", pct(s["win_rate"]))
    console.print(strategies)
    from autobot.report.universe_render import print_universe
    print_universe(console, rep["universe"])            # a node trading more than one instrument
    for subject, t in rep["challenge"]["stages"].items():
        console.print(f"challenge {subject}: {t['stage']} (capital {t['capital']:.0%})")
    if rep["parity"] is not None:
        p = rep["parity"]
        console.print(f"parity with the backtest: tracking error {p['tracking_error']:.3%}, fill ratio "
                      f"{p['fill_ratio']:.1%}, slippage {p['slippage_bps']:.2f} bps, "
                      f"{len(p['differences'])} difference(s) in the period")
    for trip in rep["trips"]:
        console.print(f"breaker at {trip['time']}: {readable(describe(trip))}")
    for note in notes:
        console.print(f"note: {note}")
    rep["notes"] = notes
    if json_out is not None:
        write_json(json_out, rep, default=str, allow_nan=True)
    if out is not None:
        with writing("--out", out):
            write_html(journal, rep, out)
        typer.echo(f"wrote {out}", err=True)


def _node_policy(state: Path, notes: list[str]) -> Optional[Path]:
    """The policy the node ran, as its store records it (never the folder's ``policy.yaml`` by
    chance): None, with a note, when it is not recorded, gone, or edited since its last applied
    version (the parity ledger would re-run other rules)."""
    from autobot.persistence.journal import recorded_policy
    recorded = recorded_policy(state)
    if recorded is None:
        notes.append("the store does not record the node's policy (written by an older AutoBot): no parity "
                     "ledger; pass --policy to re-run its bars")
        return None
    where, text = Path(recorded[0]), recorded[1]
    try:
        now = where.read_text(encoding="utf-8") if where.is_file() else None
    except (OSError, UnicodeDecodeError):
        now = None
    if now is None:
        notes.append(f"the node's policy {where} is gone: no parity ledger")
        return None
    if now != text:
        notes.append(f"the node's policy {where} was edited after its last applied version: no parity ledger "
                     "(pass --policy to re-run the bars with the file as it is)")
        return None
    return where
