"""``autobot live``: run the policy on a NautilusTrader TradingNode (paper trading)."""

from __future__ import annotations

import math

import sys
from pathlib import Path
from typing import Optional

import typer

from autobot.cli.output import fail_usage, fail_user, write_json


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
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy document (default: policy.yaml in the "
                                          "project)."),
    replay: list[str] = typer.Option([], "--replay", help="Feed the node from bars in a file (FILE, or "
                                     "INSTRUMENT_ID=FILE per instrument) instead of a venue's data."),
    speed: str = typer.Option("max", "--speed", help="Replay speed: N times real time, or 'max'."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="When the replay ends, write the same results "
                                            "JSON as 'autobot backtest --policy'."),
    state: Optional[Path] = typer.Option(None, "--state", help="SQLite journal (default: .autobot/state.sqlite in "
                                         "the project). A run killed earlier resumes from it."),
    fresh: bool = typer.Option(False, "--fresh", help="Start a new journal instead of resuming."),
    real: bool = typer.Option(False, "--real", help="Trade real money: only in a capital stage of the paper "
                              "challenge recorded in --state (docs/challenge.md)."),
) -> None:
    """Paper-trade the policy on a NautilusTrader TradingNode; with --replay, from a file, stopping at its end."""
    from autobot.diagnostics import RunError, UserError
    from autobot.persistence.journal import StateStoreError
    from autobot.workspace import find_project_root, load_policy

    path = policy or (find_project_root() / "policy.yaml")
    if not path.is_file():
        raise fail_usage(f"no such policy file: {path}")
    if real:
        _real(path, state or (path.resolve().parent / ".autobot" / "state.sqlite"), bool(replay))
        return
    if not replay:
        from autobot.live.node import run_venue
        from autobot.notify.telegram import Notifier
        try:
            run_venue(path, state=state or (path.resolve().parent / ".autobot" / "state.sqlite"),
                      notifier=Notifier.from_env())
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
    from autobot.cli.backtest_policy import _bind_all
    from autobot.data.bars import load_bars
    from autobot.live.node import run_replay

    files = _bind_all(replay, compiled.instruments, Path(replay[0]))
    try:
        data = {iid: load_bars(f) for iid, f in files.items()}
        journal = state or (path.resolve().parent / ".autobot" / "state.sqlite")
        if fresh and journal.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(str(journal) + suffix).unlink(missing_ok=True)
        from autobot.notify.telegram import Notifier
        if sys.stderr.isatty():
            from autobot.live.view import StatusView
            with StatusView() as view:
                run = run_replay(path, data, speed=pace, state=journal, notifier=Notifier.from_env(), view=view)
        else:
            run = run_replay(path, data, speed=pace, state=journal, notifier=Notifier.from_env())
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    except (StateStoreError, RunError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    from autobot.cli.backtest_policy import _print
    _print(run.result)
    typer.echo(f"replayed {run.bars_published:,} bars", err=True)
    if json_out is not None:
        write_json(json_out, run.result.to_json())


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
