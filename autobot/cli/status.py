"""``autobot status`` and ``autobot rollback``: the state store of a node running elsewhere."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Optional

import typer

from autobot.cli.output import fail_usage


def _journal_path(state: Optional[Path]) -> Path:
    from autobot.workspace import find_project_root
    path = state or (find_project_root() / ".autobot" / "state.sqlite")
    if not path.is_file():
        raise fail_usage(f"no state store at {path} (start 'autobot live' first, or pass --state)")
    return path


def _when(ns: Any) -> str:
    if ns is None:
        return "-"
    return dt.datetime.fromtimestamp(int(ns) / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def summary(path: Path) -> dict[str, Any]:
    """What the journal says about the node: progress, equity, regime, positions, recent events."""
    from autobot.persistence.journal import open_readonly
    db = open_readonly(path)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'run'").fetchone()
        run = json.loads(row[0]) if row else 0          # the latest run: the node running now, or the last one
        eq = db.execute("SELECT ts, equity, regime FROM equity WHERE run = ? ORDER BY ts", (run,)).fetchall()
        positions: dict[str, float] = {}
        for strategy, side, qty in db.execute("SELECT strategy, side, qty FROM fills WHERE run = ?", (run,)):
            positions[strategy] = round(positions.get(strategy, 0.0) + (qty if side == "BUY" else -qty), 12)
        events = [{"ts": ts, "kind": kind, "strategy": strategy, **json.loads(payload)}
                  for ts, kind, strategy, payload in
                  db.execute("SELECT ts, kind, strategy, payload FROM events WHERE run = ? ORDER BY id", (run,))]
        finished = db.execute("SELECT value FROM meta WHERE key = 'finished'").fetchone()
        counts = dict(db.execute("SELECT 'orders', COUNT(*) FROM orders WHERE run = ? UNION ALL "
                                 "SELECT 'fills', COUNT(*) FROM fills WHERE run = ?", (run, run)))
    finally:
        db.close()
    peak = max((e for _, e, _ in eq), default=0.0)
    last = eq[-1] if eq else (None, None, None)
    halted = any(e["kind"] == "breaker" and e.get("reason") in ("max_drawdown", "kill_switch")
                 and e.get("action", "halt") == "halt" for e in events)     # a cooldown is not a halt
    starts = [k for k, e in enumerate(events) if e["kind"] in ("start", "recovery")]
    stopped = any(e["kind"] == "stop" for e in events[(starts[-1] if starts else 0):])
    done = finished is not None and json.loads(finished[0]) == run
    return {
        "state": "finished" if done else "stopped" if stopped else "running",
        "bar": last[0], "equity": last[1], "regime": last[2],
        "drawdown": (1 - last[1] / peak) if eq and peak > 0 else 0.0,
        "positions": {k: v for k, v in positions.items() if v},
        "halted": halted, "stopped": stopped or done,
        "breakers": [e for e in events if e["kind"] == "breaker"][-3:],
        "decisions": [e for e in events if e["kind"] == "decision"][-5:],
        "reloads": [e for e in events if e["kind"] in ("reload", "reload_rejected", "rollback")][-3:],
        "orders": counts.get("orders", 0), "fills": counts.get("fills", 0),
    }


def status(state: Optional[Path] = typer.Option(None, "--state", help="SQLite journal of the node."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Show a node's regime, positions, equity, drawdown, breakers and last decisions from its state store."""
    from rich.console import Console
    from rich.table import Table

    from autobot.persistence.journal import StateStoreError
    try:
        st = summary(_journal_path(state))
    except StateStoreError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(st, indent=2, default=str))
        return
    console = Console(highlight=False)
    table = Table(title=f"AutoBot node at bar {_when(st['bar'])}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("state", st["state"] + (", trading HALTED by a breaker" if st["halted"] else ""))
    table.add_row("regime", str(st["regime"]))
    table.add_row("equity", "-" if st["equity"] is None else f"{st['equity']:,.2f}")
    table.add_row("drawdown", f"{st['drawdown']:.2%}")
    table.add_row("positions", ", ".join(f"{k} {v:+g}" for k, v in st["positions"].items()) or "flat")
    table.add_row("orders / fills", f"{st['orders']} / {st['fills']}")
    for e in st["breakers"]:
        table.add_row("breaker", f"{_when(e['ts'])} {e['reason']}: {e['detail']}")
    from autobot.live.view import reload_text
    for e in st["reloads"]:
        table.add_row(e["kind"], f"{_when(e.get('ts'))} {reload_text(e)}")
    for e in st["decisions"]:
        table.add_row("decision", f"{_when(e['ts'])} {e['strategy']} {e['action']}: {e['why']}")
    console.print(table)


def rollback(document: Path = typer.Argument(..., help="The document to return to its previous version."),
             state: Optional[Path] = typer.Option(None, "--state", help="SQLite journal of the node.")) -> None:
    """Write back the previous applied version of a document; a running node reloads it."""
    from autobot.persistence.journal import Journal

    if not document.is_file():
        raise fail_usage(f"no such document: {document}")
    journal = Journal(_journal_path(state))
    try:
        versions = journal.versions(str(document))
        if not versions:
            raise fail_usage(f"the journal has no version of {document}")
        running = versions[-1]                      # the version the node applied last
        earlier = [v for v in versions[:-1] if v[2] != running[2]]
        if not earlier:
            raise fail_usage(f"the journal has no earlier version of {document}")
        target = earlier[-1]
        if document.read_text(encoding="utf-8") == target[3]:
            raise fail_usage(f"{document} already holds the previous version ({target[2]})")
        document.write_text(target[3], encoding="utf-8")
        journal.event("rollback", None, None, file=str(document.resolve()), to=target[2])
        journal.commit()
    finally:
        journal.close()
    typer.echo(f"{document}: back to version {target[2]} of {_when(int(target[4] * 1e9))}; "
               "a running node reloads it at the next bar")
