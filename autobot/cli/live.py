"""``autobot live``: run the policy on a NautilusTrader TradingNode (paper trading)."""

from __future__ import annotations

import math

import sys
from pathlib import Path
from typing import Optional

import typer

from autobot.cli.output import fail_usage, fail_user, with_iso_times, write_json


def _speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise fail_usage(f"--speed {text!r}: give a number (times real time) or 'max'") from None
    if not (math.isfinite(value) and 0.001 <= value <= 1e9):
        raise fail_usage(f"--speed {text}: give a number from 0.001 to 1e9 (times real time), or 'max'")
    return value


def live(
    strategy: Optional[Path] = typer.Argument(None, help="A quote: (market-making) strategy to paper-trade alone "
                                              "on --replay BOOKFILE (instead of the policy)."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy document (default: policy.yaml in the "
                                          "project)."),
    replay: list[str] = typer.Option([], "--replay", help="Feed the node from bars in a file (FILE, or "
                                     "INSTRUMENT_ID=FILE per instrument) instead of a venue's data; 'universe' "
                                     "replays a universe policy's own files."),
    universe_opt: list[str] = typer.Option([], "--universe", help="Replay every strategy of the policy on these "
                                           "markets instead of its universe: a folder of bar files, files "
                                           "(aapl_1d.csv is AAPL on the policy's venue) or ID=FILE (repeatable)."),
    speed: str = typer.Option("max", "--speed", help="Replay speed: N times real time, or 'max'."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="When the replay ends, write the same results "
                                            "JSON as 'autobot backtest --policy'."),
    state: Optional[Path] = typer.Option(None, "--state", help="SQLite journal (default: .autobot/state.sqlite in "
                                         "the project). A run killed earlier resumes from it."),
    fresh: bool = typer.Option(False, "--fresh", help="Start a new state store instead of resuming: the old one "
                               "is set aside (renamed, never deleted; only an AutoBot store no node holds)."),
    real: bool = typer.Option(False, "--real", help="Trade real money: only in a capital stage of the paper "
                              "challenge recorded in --state (docs/challenge.md)."),
    instrument: Optional[str] = typer.Option(None, "--instrument", help="With --replay: the market the file holds "
                                             "(NEW for a one-instrument policy, or OLD=NEW), so its costs are "
                                             "charged; a hot reload keeps it."),
    venue: Optional[str] = typer.Option(None, "--venue", help="With --replay: move every instrument to this venue."),
    text: Optional[Path] = typer.Option(None, "--text", help="The text feed of strategies that read 'sentiment' "
                                        "(timestamped texts; on a venue's data, lines appended while the node runs "
                                        "count too: docs/ml.md)."),
) -> None:
    """Paper-trade the policy on a NautilusTrader TradingNode; with --replay, from a file, stopping at its end."""
    from autobot.diagnostics import RunError, UserError
    from autobot.persistence.journal import StateStoreError
    from autobot.workspace import find_project_root, load_policy

    if strategy is not None:
        if policy is not None or real:
            raise fail_usage("a quote: strategy runs alone on a replayed book: drop --policy and --real")
        _live_book(strategy, replay, _speed(speed), json_out)
        return
    path = policy or (find_project_root() / "policy.yaml")
    if not path.is_file():
        raise fail_usage(f"no such policy file: {path}")
    if universe_opt:
        if replay not in ([], ["universe"]) or instrument is not None or venue is not None or real:
            raise fail_usage("--universe names the markets the node replays: drop --replay FILE, --instrument, "
                             "--venue and --real")
        replay = ["universe"]
    if real:
        _real(path, state or (path.resolve().parent / ".autobot" / "state.sqlite"), bool(replay))
        return
    if text is not None and not text.is_file():
        raise fail_usage(f"no such text file: {text}")
    if not replay and (instrument is not None or venue is not None):
        raise fail_usage("--instrument and --venue go with --replay (a venue's own data names its instruments)")
    if not replay:
        from autobot.live.node import run_venue
        from autobot.notify.telegram import Notifier
        try:
            run_venue(path, state=state or (path.resolve().parent / ".autobot" / "state.sqlite"),
                      notifier=Notifier.from_env(), text=text, fresh=fresh)
        except UserError as err:
            raise fail_user(err.diagnostics) from None
        except (RunError, StateStoreError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
        return
    pace = _speed(speed)
    try:
        compiled = load_policy(path)
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    from autobot.cli.backtest_policy import bind_all, instrument_mapping
    from autobot.live.node import run_replay
    from autobot.workspace import expand_universe, rebind_instruments, universe_venue, with_universe

    chosen: dict[str, str] | None = None
    if universe_opt:
        from autobot.cli.inputs import universe_files
        compiled = with_universe(compiled, universe_files(universe_opt, universe_venue(compiled)))
        chosen = dict(compiled.document.universe or {})
    universe = compiled.document.universe
    if universe:                     # the universe names its instruments and files (docs/portfolio.md)
        if instrument or venue or replay != ["universe"]:
            raise fail_usage(f"{path} names a universe (its instruments and files): replay it with "
                             "'--replay universe', without --instrument and --venue")
        mapping: dict[str, str] = {}
        compiled = expand_universe(compiled)
        files = {iid: path.resolve().parent / file for iid, file in universe.items()}
    else:
        mapping = instrument_mapping(compiled, instrument, venue)
        compiled = rebind_instruments(compiled, mapping)
        files = bind_all(replay, compiled.instruments, Path(replay[0]))
    try:
        from autobot.data.catalog import load_member_bars
        data = {iid: load_member_bars(Path(f), iid) for iid, f in files.items()}
        journal = state or (path.resolve().parent / ".autobot" / "state.sqlite")
        from autobot.notify.telegram import Notifier
        from autobot.live.view import LineView, StatusView
        # a live display on a terminal; written to a file or a pipe, a status line every 30 s
        with (StatusView() if sys.stderr.isatty() else LineView()) as view:
            run = run_replay(path, data, speed=pace, state=journal, notifier=Notifier.from_env(), view=view,
                             text=text, fresh=fresh, instrument_map=mapping, universe=chosen)
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    except (StateStoreError, RunError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    from autobot.cli.backtest_policy import print_result
    print_result(run.result)
    typer.echo(f"replayed {run.bars_published:,} bars", err=True)
    if json_out is not None:
        write_json(json_out, with_iso_times(run.result.to_json()))     # the same JSON as backtest --policy
    if not run.completed:            # stopped early (Ctrl-C, SIGTERM): the results so far, and what comes next
        typer.echo(f"interrupted after {run.bars_published:,} bars: the run is kept in {journal} and the same "
                   "command resumes it (re-running the handled bars at full speed first); --fresh starts anew",
                   err=True)
        raise typer.Exit(130)


def _live_book(strategy: Path, replay: list[str], speed: float | None, json_out: Optional[Path]) -> None:
    """``autobot live MM.yaml --replay BOOKFILE``: the quoting strategy on a paper node fed by the
    book, hot-reloading the document (docs/market_making.md)."""
    from autobot.cli.backtest_book import book_paths, print_one
    from autobot.data.book_binance import BookFileError
    from autobot.data.book_files import load_book
    from autobot.diagnostics import Diagnostic, RunError, UserError
    from autobot.live.book import run_book_replay

    if not strategy.is_file():
        raise fail_usage(f"no such strategy file: {strategy}")
    if not replay:
        raise fail_usage("a quote: strategy paper-trades on a replayed book: pass --replay BOOKFILE (a real venue's "
                         "book feed is not built yet)")
    try:
        book = load_book(book_paths(replay))
        run = run_book_replay(strategy, book, speed=speed)
    except BookFileError as err:
        raise fail_user([Diagnostic(err.path, err.line, 1, err.line, 2, "book-file", err.message, err.hint)]) \
            from None
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    except RunError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    for ts, ok, message in run.strategy.reloads:
        typer.echo(f"{'reloaded' if ok else 'edit refused'}: {message}", err=True)
    for ts, inventory in run.strategy.breaker_trips:
        typer.echo(f"inventory breaker: {inventory:g} beyond the limit; quotes cancelled, flattened, halted", err=True)
    print_one(run.result, "paper node, replayed book")
    typer.echo(f"replayed {run.published:,} book updates and trades", err=True)
    if json_out is not None:
        doc = run.result.to_json()
        doc["reloads"] = [{"ts": t, "taken": ok, "message": m} for t, ok, m in run.strategy.reloads]
        doc["breaker_trips"] = [{"ts": t, "inventory": i} for t, i in run.strategy.breaker_trips]
        from autobot.cli.backtest_book import clean_json
        write_json(json_out, clean_json(doc))


def _real(policy: Path, state: Path, replay: bool) -> None:
    """The --real gate: a capital stage of the paper challenge in ``state``, then the venue's
    execution adapter (credentials from the policy's AUTOBOT_* variables)."""
    from autobot.diagnostics import RunError, UserError
    from autobot.live.real import exec_client, real_plan
    from autobot.persistence.journal import Journal, StateStoreError
    from autobot.workspace import load_policy

    try:
        plan = real_plan(state)
        journal = Journal(state)
        journal.event("real_allowed" if plan.allowed else "real_refused", None, reason=plan.reason,
                      stage=plan.portfolio_stage, scales=plan.scales)
        journal.close()
    except StateStoreError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    if not plan.allowed:
        raise fail_usage(f"--real: {plan.reason}; real trading needs the portfolio in a capital stage of the paper "
                         "challenge (policy 'challenge:', 'autobot challenge status'), so AutoBot trades paper only "
                         "(decision recorded)")
    if replay:
        raise fail_usage("--real trades on a venue: drop --replay")
    try:
        compiled = load_policy(policy)
        if compiled.document.live is None:
            raise fail_usage("--real needs the policy's live: section (the venue to trade on)")
        execution = exec_client(compiled.document.live, str(policy))
        from autobot.live.node import run_venue
        from autobot.notify.telegram import Notifier
        typer.echo(f"real trading: {plan.reason}; strategy scales " +
                   ", ".join(f"{k} {v:.1%}" for k, v in plan.scales.items()), err=True)
        run_venue(policy, state=state.with_name(state.stem + "-real.sqlite"), notifier=Notifier.from_env(),
                  execution=execution, capital_scale=plan.scales)
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    except (RunError, StateStoreError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
