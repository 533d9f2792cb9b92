"""``autobot discover``: AutoBot writes strategies in its own language and judges them honestly
(docs/discover.md)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Optional

import typer

from autobot.cli.output import check_output_path, fail_usage, num, pct, write_json, write_output


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if m is None or not float(m.group(1)) > 0:
        raise fail_usage(f"--time {text!r}: give a duration such as 90s, 10m or 2h")
    value = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    if value > 7 * 86_400:
        raise fail_usage(f"--time {text!r}: at most a week")
    return value


def discover(
    data: list[str] = typer.Option([], "--data", help="Bars to search on (FILE; several files: every candidate "
                                   "runs on each). Default: the example data."),
    universe: Optional[Path] = typer.Option(None, "--universe", help="A policy whose universe (instrument -> "
                                            "file) to search on: every candidate runs on every instrument."),
    budget: int = typer.Option(300, "--budget", help="Candidates to evaluate (every one counts in the statistics)."),
    time_: Optional[str] = typer.Option(None, "--time", help="Stop the search after this long (90s, 10m, 2h)."),
    seed: int = typer.Option(42, "--seed", help="The search's seed: the same seed, data and options, the same search."),
    instrument: str = typer.Option("BTCUSDT.BINANCE", "--instrument", help="The market the data holds (its costs)."),
    holdout: float = typer.Option(0.3, "--holdout", help="The final share of the data the search never sees."),
    sides: str = typer.Option("both", "--sides", help="long, short or both."),
    sizing: str = typer.Option("equity_pct: 100%", "--sizing", help="Every candidate's sizing (a document's "
                               "sizing line: 'equity_pct: 50%', 'fixed_qty: 1', 'risk_per_trade: 1%')."),
    min_trades: int = typer.Option(10, "--min-trades", help="In-sample trades a candidate needs to have a fitness."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the verdict and the survivors as JSON."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write an HTML report."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write each survivor's strategy document in this folder."),
    journal: Optional[Path] = typer.Option(None, "--journal", help="The search's journal (default: beside --json)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Score candidates on this many workers: a local "
                                          "Ray instance (the 'distributed' extra), else local processes (default: "
                                          "1, in this process). The same seed finds the same candidates."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Score candidates on this Ray cluster."),
) -> None:
    """Search strategy documents on the fast engine; keep what survives out of sample and a holdout.

    Candidates are TA-Lib rules, exits and stops; survivors pass the snooping tests (SPA, StepM)
    and an untouched holdout (docs/discover.md)."""
    if universe is not None and data:
        raise fail_usage("--universe names the files: drop --data")
    if not 1 <= budget <= 1_000_000:
        raise fail_usage(f"--budget {budget}: give a number of candidates from 1 to 1000000")
    if not (math.isfinite(holdout) and 0.05 <= holdout <= 0.8):
        raise fail_usage(f"--holdout {holdout:g}: give a share from 0.05 to 0.8 (0.3 keeps the last 30%)")
    if not 0 <= min_trades <= 100_000:
        raise fail_usage(f"--min-trades {min_trades}: give 0 to 100000")
    side_set = {"both": ("long", "short"), "long": ("long",), "short": ("short",)}.get(sides)
    if side_set is None:
        raise fail_usage(f"--sides {sides!r}: give long, short or both")
    seconds = _seconds(time_)
    if workers is not None and workers < 1:
        raise fail_usage(f"--workers {workers}: give 1 or more")
    from autobot.cli.optimize import check_executor
    if ray_address is not None:
        check_executor(workers, ray_address)           # an address that answers, and Ray installed
    elif workers is not None and workers > 1:
        import os
        if workers > (os.cpu_count() or 1):
            raise fail_usage(f"--workers {workers}: this machine has {os.cpu_count() or 1} cores; give at most "
                             f"that (or --ray-address to run on a cluster)")
    for option, path in (("--json", json_out), ("--report", report)):
        check_output_path(option, path)
    if out is not None:
        check_output_path("--out", out, folder=True)
    from autobot.venue.instruments import instrument_id_error
    problem = instrument_id_error(instrument)
    if problem:
        raise fail_usage(f"--instrument {instrument!r}: {problem}")
    from autobot.discover.verdict import ArchMissing, arch_bootstrap
    try:
        arch_bootstrap()
    except ArchMissing as err:
        raise fail_usage(str(err)) from None
    from autobot.cli.inputs import example_data
    from autobot.diagnostics import UserError
    from autobot.cli.output import fail_user
    bound: list[tuple[str, Path]] = []
    if universe is not None:
        bound = _universe_files(universe)
    else:
        bound = [(instrument, Path(p)) for p in data] or [(instrument, example_data(Path.cwd() / "x.yaml"))]
    try:
        from autobot.data.catalog import load_member_bars
        loaded = [(str(p), load_member_bars(Path(p), iid), iid) for iid, p in bound]
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    from autobot.discover.run import discover as run_discovery
    from autobot.discover.run import load_series
    from autobot.discover.search import Options
    series = load_series(loaded, holdout, 1 / 3)
    for s in series:
        if s.is_end < 200 or s.search_end - s.is_end < 100:
            raise fail_usage(f"{s.path}: {len(s.bars):,} bars are too few to search, test out of sample and keep a "
                             f"holdout: give at least ~600 bars")
    from autobot.language.compile import compile_strategy_text
    from autobot.discover import genome as G
    probe = G.render_document(G.Candidate("long", G.Atom("rising", (1,)), None, 5, 0), "probe",
                              series[0].instrument, series[0].bar, sizing)
    try:
        compile_strategy_text(probe, "--sizing")
    except UserError as err:
        raise fail_usage(f"--sizing {sizing!r}: {err.diagnostics[0].message}") from None
    opts = Options(budget=budget, seconds=seconds, seed=seed, sides=side_set, sizing=sizing, min_trades=min_trades)
    near = json_out or report
    book = journal or (near.with_suffix(".discover.jsonl") if near is not None else None)
    try:
        result = _with_progress(lambda progress: run_discovery(series, opts, book, progress, workers, ray_address),
                                budget)
    except ValueError as err:
        raise fail_usage(str(err)) from None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for v in result.survivors:
            path = out / f"{v.name}.yaml"
            write_output("--out", path, v.document_text)
            v.document = str(path)
    _print(result)
    doc = result.to_json()
    if json_out is not None:
        write_json(json_out, doc)
    if report is not None:
        from autobot.report.discover_html import render
        write_output("--report", report, render(doc, result))


def _universe_files(policy: Path) -> list[tuple[str, Path]]:
    """The universe (instrument, file) pairs of a policy, checked as validate checks them."""
    from autobot.cli.output import fail_user
    from autobot.diagnostics import UserError
    from autobot.workspace import load_policy
    if not policy.is_file():
        raise fail_usage(f"no such policy file: {policy}")
    try:
        compiled = load_policy(policy)
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    if not compiled.document.universe:
        raise fail_usage(f"{policy} has no universe: add 'universe:' (instrument: file) or pass --data")
    base = policy.resolve().parent
    return [(iid, base / file) for iid, file in compiled.document.universe.items()]


def _with_progress(work: Any, total: int) -> Any:
    import sys
    if not sys.stderr.isatty():
        return work(None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    with Progress(TextColumn("discover"), BarColumn(), TextColumn("{task.completed}/{task.total} candidates"),
                  TextColumn("{task.fields[best]}"), TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("discover", total=total, best="")

        def progress(done: int, of: int, best: float | None) -> None:
            bar.update(task, completed=done, best="" if best is None else f"best in-sample fitness {best:.2f}")
        return work(progress)


def _print(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console(highlight=False)
    console.print(f"[bold]{result.verdict.upper()}[/bold]: {result.candidates:,} candidates evaluated in "
                  f"{result.seconds:.0f} s" + (f" ({result.resumed} replayed from the journal)" if result.resumed else ""))
    for reason in result.reasons:
        console.print(f"  - {reason}")
    if result.spa_pvalue is not None:
        console.print(f"SPA p-value {result.spa_pvalue:.3f}" + (f", PBO {result.pbo:.2f}" if result.pbo is not None
                                                                 else ""))
    if result.survivors:
        table = Table(title="survivors (out of sample, then the untouched holdout)")
        for col in ("name", "OOS Sharpe", "OOS return", "holdout Sharpe", "holdout return", "DSR", "nodes"):
            table.add_column(col, justify="left" if col == "name" else "right")
        for v in result.survivors:
            table.add_row(v.name, num(v.oos.get("sharpe")), pct(v.oos.get("total_return")),
                          num(v.holdout_metrics.get("sharpe")), pct(v.holdout_metrics.get("total_return")),
                          f"{v.dsr:.2f}", str(v.complexity))
        console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")
