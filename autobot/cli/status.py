"""``autobot status`` and ``autobot rollback``: the state store of a node running elsewhere."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Optional

import typer

from autobot.cli.output import fail_usage


def journal_path(state: Optional[Path]) -> Path:
    from autobot.workspace import find_project_root
    path = state or (find_project_root() / ".autobot" / "state.sqlite")
    if not path.is_file():
        raise fail_usage(f"no state store at {path} (start 'autobot live' first, or pass --state)")
    return path


def read_summary(state: Optional[Path]) -> dict[str, Any]:
    """What the node's state store says (:func:`autobot.persistence.status.summary`); a store that
    cannot be read ends the command with its error (exit 1)."""
    from autobot.persistence.journal import StateStoreError
    from autobot.persistence.status import summary
    try:
        return summary(journal_path(state))
    except StateStoreError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


def when_text(ns: Any) -> str:
    if ns is None:
        return "-"
    return dt.datetime.fromtimestamp(int(ns) / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def status(state: Optional[Path] = typer.Option(None, "--state", help="SQLite journal of the node."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Show a node's regime, positions, equity, drawdown, breakers and last decisions from its state store."""
    from rich.console import Console
    from rich.table import Table

    st = read_summary(state)
    if as_json:
        typer.echo(json.dumps(st, indent=2, default=str))
        return
    console = Console(highlight=False)
    table = Table(title=f"AutoBot node at bar {when_text(st['bar'])}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("state", st["state"] + (", trading HALTED by a breaker" if st["halted"] else "") +
                  "".join(f", no new entries: {k} {v}" for k, v in st["cooling"].items()))
    if st.get("paused"):
        p = st["paused"]
        table.add_row("paused", f"since {when_text(p['since'])} by {p['by']}: no new entries until /resume")
    if st.get("crashed"):
        table.add_row("crashed", st["crashed"])
    table.add_row("regime", "undefined (its indicators are warming up)" if st["regime"] is None else str(st["regime"]))
    capital = st.get("capital") or {}
    if capital.get("on_paper"):          # the journal's equity is then the paper track's
        table.add_row("capital", f"{capital['equity']:,.2f}: demoted to paper at {when_text(capital['since'])}, flat "
                      "until the challenge promotes the portfolio")
        table.add_row("paper track", "-" if st["equity"] is None else f"{st['equity']:,.2f} (no capital)")
    else:
        table.add_row("equity", "-" if st["equity"] is None else f"{st['equity']:,.2f}")
    table.add_row("drawdown", f"{st['drawdown']:.2%}")
    table.add_row("positions", ", ".join(f"{k} {v:+g}" for k, v in st["positions"].items()) or "flat")
    table.add_row("orders", f"{st['orders']:,} orders, {st['fills']:,} fills" +
                  (" (an order may fill in parts: each part counts as a fill)" if st["fills"] > st["orders"] else ""))
    for subject, t in st["challenge"]["stages"].items():
        table.add_row(f"challenge {subject}", f"{t['stage']} since {when_text(t['since'])}, capital {t['capital']:.0%}")
    for e in st["challenge"]["moves"][-3:]:
        table.add_row("challenge move", f"{when_text(e['ts'])} {e['strategy']} {e['from']} -> {e['to']}: {e['reason']}")
    for e in st["breakers"]:
        table.add_row("breaker", f"{when_text(e['ts'])} {e['reason']}: {e['detail']}; {e.get('action', 'halt')}")
    from autobot.live.view import reload_text
    for e in st["reloads"]:
        table.add_row(e["kind"], f"{when_text(e.get('ts'))} {reload_text(e)}")
    for e in st["decisions"]:
        table.add_row("decision", f"{when_text(e['ts'])} {e['strategy']} {e['action']}: {e['why']}")
    console.print(table)


def rollback(document: Path = typer.Argument(..., help="The document to return to its previous version."),
             state: Optional[Path] = typer.Option(None, "--state", help="SQLite journal of the node.")) -> None:
    """Write back the previous applied version of a document; a running node reloads it."""
    from autobot.persistence.journal import Journal

    if not document.is_file():
        raise fail_usage(f"no such document: {document}")
    from autobot.workspace import find_project_root
    store = state or (find_project_root(document.parent) / ".autobot" / "state.sqlite")   # where --apply keeps it
    if not store.is_file():
        raise fail_usage(f"no state store at {store}: the versions of a document are kept there by 'autobot live' "
                         "and 'autobot optimize --apply' (pass --state for another store)")
    journal = Journal(store)
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
    typer.echo(f"{document}: back to version {target[2]} of {when_text(int(target[4] * 1e9))}; "
               "a running node reloads it at the next bar")
