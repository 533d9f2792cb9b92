"""``autobot challenge status|start|promote|demote``: the paper challenge of a node's state store.

A running node takes ``start``/``promote``/``demote`` at its next bar (through the store's command
queue, as ``autobot serve`` does); a stopped one's store is changed here, and its next start goes
on from it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer

from autobot.cli.output import fail_usage, fail_user
from autobot.cli.status import journal_path, when_text, read_summary

app = typer.Typer(help="The paper challenge: paper -> candidate -> capital stages -> demoted (docs/challenge.md).",
                  no_args_is_help=True)

STATE = typer.Option(None, "--state", help="SQLite journal of the node (default: .autobot/state.sqlite).")
POLICY = typer.Option(None, "--policy", help="Policy document (default: policy.yaml in the project).")
SUBJECT = typer.Argument(None, help="A strategy id, or 'portfolio' (the default).")


@app.command("status")
def status(state: Optional[Path] = STATE,
           as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Each strategy's and the portfolio's stage, capital, last check and recent moves."""
    from rich.console import Console
    from rich.table import Table

    st = read_summary(state)
    ch = st["challenge"]
    if as_json:
        typer.echo(json.dumps({"node": st["state"], **ch}, indent=2, default=str))
        return
    console = Console(highlight=False)
    table = Table(title=f"Paper challenge (node {st['state']}, bar {when_text(st['bar'])})")
    for column in ("subject", "stage", "since", "capital", "last check"):
        table.add_column(column)
    for subject, t in ch["stages"].items():
        check = ch["checks"].get(subject)
        last = "-" if check is None else (f"{when_text(check['ts'])}: " + ("; ".join(check["failed"]) or "all held"))
        table.add_row(subject, t["stage"], when_text(t["since"]), f"{t['capital']:.0%}", last)
    console.print(table)
    for e in ch["moves"]:
        console.print(f"{when_text(e['ts'])} {e['strategy']}: {e['from']} -> {e['to']} ({e['reason']})")


def _act(verb: str, subject: str | None, state: Optional[Path], policy: Optional[Path]) -> None:
    from autobot.persistence.journal import StateStoreError, command_reply, queue_command
    from autobot.persistence.status import summary

    import re
    if subject is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", subject):
        raise fail_usage(f"{subject!r} is not a strategy id (letters, digits, _ . -) or 'portfolio'")
    path = journal_path(state)
    text = f"/challenge {verb}" + (f" {subject}" if subject else "")
    try:
        running = summary(path)["state"] == "running" and _locked(path)
        if running:
            cid = queue_command(path, text)
            deadline = time.time() + 15
            while time.time() < deadline:
                reply = command_reply(path, cid)
                if reply is not None:
                    typer.echo(reply)
                    return
                time.sleep(0.05)
            typer.echo(f"queued ({text}): the node runs it at its next bar")
            return
        typer.echo(_offline(path, policy, verb, subject))
    except StateStoreError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


def _recorded_challenge(path: Path) -> Any:
    """The ``challenge:`` settings of the policy the store records its node ran (None when it records
    none, or its text no longer validates)."""
    from autobot.documents.load import load_text
    from autobot.documents.models import PolicyDocument
    from autobot.documents.validate import validate_document
    from autobot.persistence.journal import recorded_policy
    recorded = recorded_policy(path)
    if recorded is None:
        return None
    model, problems = validate_document(load_text(recorded[1], recorded[0]))
    return model.challenge if isinstance(model, PolicyDocument) and not problems else None


def _locked(path: Path) -> bool:
    """Whether a node holds the store now."""
    import fcntl
    lock = Path(str(path) + ".lock")
    if not lock.exists():
        return False
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _offline(path: Path, policy: Optional[Path], verb: str, subject: str | None) -> str:
    """Apply a challenge command to a stopped node's store (at its last bar)."""
    from autobot.diagnostics import UserError
    from autobot.persistence.journal import Journal
    from autobot.portfolio.challenge import PORTFOLIO, Challenge, Rules
    from autobot.workspace import find_project_root, load_policy

    try:
        if policy is None:
            recorded = _recorded_challenge(path)        # the store knows the policy its node ran
            if recorded is not None:
                rules = Rules.of(recorded)
        if policy is not None or recorded is None:
            policy_path = policy or (find_project_root() / "policy.yaml")
            if not policy_path.is_file():
                raise fail_usage(f"no such policy file: {policy_path} (the store records none: pass --policy)")
            rules = Rules.of(load_policy(policy_path).document.challenge)
    except UserError as err:
        raise fail_user(err.diagnostics) from None
    journal = Journal(path)
    try:
        journal.lock()
        saved: dict[str, Any] = journal.get("challenge") or {}
        if not saved:
            raise fail_usage(f"{path} holds no challenge yet (a node records it at its first bar)")
        ch = Challenge(rules)
        ch.restore(saved)
        ts = int(journal.get("last_bar", -1))
        ts = ts if ts >= 0 else ch.latest
        if verb == "start":
            moves = ch.restart(ts, "started again by the operator")
        else:
            who = subject or PORTFOLIO
            if who not in ch.tracks:
                raise fail_usage(f"unknown subject {who!r}: one of " + ", ".join(ch.tracks))
            move = (ch.promote(who, ts, "promoted by the operator") if verb == "promote"
                    else ch.demote(who, ts, "demoted by the operator"))
            if move is None:
                raise fail_usage(f"{who} is already in its last stage ({ch.tracks[who].stage})")
            moves = [move]
        for move in moves:
            journal.event("challenge", move["ts"], strategy=move["subject"],
                          **{k: v for k, v in move.items() if k not in ("ts", "subject")})
        journal.set("challenge", ch.snapshot())
        journal.commit()
    finally:
        journal.close()
    return "; ".join(f"{m['subject']}: {m['from']} -> {m['to']} (capital {m['capital']:.0%})" for m in moves)


@app.command("start")
def start(state: Optional[Path] = STATE, policy: Optional[Path] = POLICY) -> None:
    """Start the challenge again: everything back to paper."""
    _act("start", None, state, policy)


@app.command("promote")
def promote(subject: Optional[str] = SUBJECT, state: Optional[Path] = STATE, policy: Optional[Path] = POLICY) -> None:
    """Promote a candidate to its first capital stage (or a capital stage to the next): a human's decision."""
    _act("promote", subject, state, policy)


@app.command("demote")
def demote(subject: Optional[str] = SUBJECT, state: Optional[Path] = STATE, policy: Optional[Path] = POLICY) -> None:
    """Send a strategy (or the portfolio) back to paper."""
    _act("demote", subject, state, policy)
