"""What a state store says about its node (``autobot status``, ``autobot serve``): progress,
equity, regime, positions, breakers, challenge stages, recent decisions and reloads. Read-only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autobot.persistence.journal import held_by_a_node, open_readonly, read_equity, read_events, read_fills, read_run

#: what ``state`` can say: a node that holds the store is ``running`` or ``paused``; a run that ended
#: normally ``finished``; one stopped by the operator (/stop) ``stopped``; one that no node holds any
#: more without having ended ``crashed`` (killed or crashed: the same ``autobot live`` resumes it)
STATES = ("running", "paused", "stopped", "finished", "crashed")


def summary(path: Path) -> dict[str, Any]:
    """What the journal says about the node: progress, equity, regime, positions, recent events."""
    db = open_readonly(path)
    try:
        run = read_run(db)
        eq = read_equity(db, run)
        positions: dict[str, float] = {}
        for strategy, _ts, side, qty, _price, _reason in read_fills(db, run):
            positions[strategy] = round(positions.get(strategy, 0.0) + (qty if side == "BUY" else -qty), 12)
        events = read_events(db, run, wall=True)
        finished = db.execute("SELECT value FROM meta WHERE key = 'finished'").fetchone()
        saved = db.execute("SELECT value FROM meta WHERE key = 'challenge'").fetchone()
        counts = dict(db.execute("SELECT 'orders', COUNT(*) FROM orders WHERE run = ? UNION ALL "
                                 "SELECT 'fills', COUNT(*) FROM fills WHERE run = ?", (run, run)))
    finally:
        db.close()
    peak = max((e for _, e, _ in eq), default=0.0)
    last = eq[-1] if eq else (None, None, None)
    halted = any(e["kind"] == "breaker" and e.get("reason") in ("max_drawdown", "kill_switch")
                 and e.get("action", "halt") == "halt" for e in events)     # a cooldown is not a halt
    cooling: dict[str, str] = {}                 # breaker -> "cooldown until ..." not yet followed by its resume
    for e in events:
        if e["kind"] == "breaker" and str(e.get("action", "")).startswith("cooldown"):
            cooling[str(e.get("reason"))] = str(e["action"])
        elif e["kind"] == "breaker_resume":
            cooling.pop(str(e.get("reason")), None)
    starts = [k for k, e in enumerate(events) if e["kind"] in ("start", "recovery")]
    this_life = events[(starts[-1] if starts else 0):]
    stopped = any(e["kind"] == "stop" for e in this_life)
    done = finished is not None and json.loads(finished[0]) == run
    pause = _manual_pause(this_life)
    alive = held_by_a_node(Path(path))
    state = ("finished" if done else "stopped" if stopped else "crashed" if not alive
             else "paused" if pause is not None else "running")
    stages = json.loads(saved[0]) if saved else {}
    return {
        "state": state,
        "paused": pause if state == "paused" else None,
        "crashed": ("the node stopped without finishing its run (killed or crashed; no process holds the store): "
                    "the same 'autobot live' command resumes it from its last bar") if state == "crashed" else None,
        "bar": last[0], "equity": last[1], "regime": last[2],
        "drawdown": (1 - last[1] / peak) if eq and peak > 0 else 0.0,
        "positions": {k: v for k, v in positions.items() if v},
        "halted": halted, "stopped": stopped or done, "cooling": cooling,
        "breakers": [e for e in events if e["kind"] == "breaker"][-3:],
        "decisions": [e for e in events if e["kind"] == "decision"][-5:],
        "reloads": [e for e in events if e["kind"] in ("reload", "reload_rejected", "rollback")][-3:],
        "orders": counts.get("orders", 0), "fills": counts.get("fills", 0),
        "capital": _capital(events, stages, last[1]),
        "challenge": {"stages": stages,
                      "moves": [e for e in events if e["kind"] == "challenge"][-5:],
                      "checks": _last_checks(events)},
    }


def _capital(events: list[dict[str, Any]], stages: dict[str, Any], equity: float | None) -> dict[str, Any]:
    """What the real capital holds (docs/portfolio.md, "A demotion protects the capital"): the
    equity, until a breaker demotes the portfolio; from then on, while the portfolio has no capital
    stage again, the equity it was flattened at (the journal's equity is then the paper track's)."""
    portfolio = stages.get("portfolio") or {}
    demotions = [e for e in events if e["kind"] == "breaker" and str(e.get("action", "")).startswith("demote")]
    if demotions and portfolio.get("capital", 1.0) == 0.0 and portfolio.get("stage") in ("demoted", "paper"):
        last = demotions[-1]
        return {"equity": last.get("equity"), "on_paper": True, "since": last.get("ts")}
    return {"equity": equity, "on_paper": False, "since": None}


def _manual_pause(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The operator's /pause still in force in this life of the node: since when and by whom."""
    pause = None
    for e in events:
        if e["kind"] == "command" and e.get("command") in ("/pause", "/resume"):
            pause = {"since": e.get("ts"), "wall": e.get("wall"), "by": e.get("by", "operator")} \
                if e["command"] == "/pause" else None
    return pause


def _last_checks(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Each subject's last challenge check: what failed."""
    out: dict[str, Any] = {}
    for e in events:
        if e["kind"] == "challenge_check":
            out[str(e["strategy"])] = {"ts": e["ts"], "failed": e.get("failed", []), "metrics": e.get("metrics", {})}
    return out
