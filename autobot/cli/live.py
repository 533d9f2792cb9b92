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
    real: bool = typer.Option(False, "--real", help="Trade real money (refused: see the policy's challenge)."),
) -> None:
    """Paper-trade the policy on a NautilusTrader TradingNode; with --replay, from a file, stopping at its end."""
    from autobot.diagnostics import RunError, UserError
    from autobot.persistence.journal import StateStoreError
    from autobot.workspace import find_project_root, load_policy

    path = policy or (find_project_root() / "policy.yaml")
    if not path.is_file():
        raise fail_usage(f"no such policy file: {path}")
    if real:
        from autobot.persistence.journal import Journal
        journal = Journal(state or (path.resolve().parent / ".autobot" / "state.sqlite"))
        journal.event("real_refused", None, reason="no passed paper challenge recorded")
        journal.close()
        raise fail_usage("--real: real trading needs a passed paper challenge (policy 'challenge:'); "
                         "no challenge has been recorded, so AutoBot trades paper only (decision recorded)")
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
