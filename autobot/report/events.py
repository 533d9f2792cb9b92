"""A journal event as a sentence a person reads (the dashboard, ``autobot status``, reports):
numbers rounded (money with thousands separators and cents, fractions as percents), no Python
dicts, no ``None``. One function per kind in a dispatch table; an unknown kind still reads as
``kind: key value, ...``."""

from __future__ import annotations

import math
from typing import Any, Callable

PERCENT_KEYS = {"total_return", "annual_return", "max_drawdown", "win_rate", "exposure", "drawdown",
                "max_tracking_error", "tracking_error", "fill_ratio"}


def number(v: Any, key: str = "") -> str:
    """A value for a sentence: money with separators and cents, fractions as percents."""
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "no", None: "-"}[v]
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "-"
        if key in PERCENT_KEYS:
            return f"{v:.2%}"
        return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {number(x, k)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return "; ".join(number(x, key) for x in v)
    return str(v)


def _shares(shares: Any) -> str:
    if not isinstance(shares, dict) or not shares:
        return "all in cash"
    return ", ".join(f"{k} {float(v):.0%}" for k, v in shares.items())


def _regime(name: Any) -> str:
    return "undefined (warming up)" if name is None else str(name)


def _start(e: dict[str, Any]) -> str:
    after = e.get("resume_after")
    return "node started" + (" (resuming its run: the handled bars re-run first)" if isinstance(after, int)
                             and after >= 0 else "")


def _challenge_check(e: dict[str, Any]) -> str:
    failed = e.get("failed") or []
    who = e.get("strategy") or "portfolio"
    if not failed:
        return f"challenge check of {who} ({e.get('stage', '?')}): every check passed"
    return f"challenge check of {who} ({e.get('stage', '?')}): not yet: " + "; ".join(str(f) for f in failed)


def _decision(e: dict[str, Any]) -> str:
    qty = e.get("qty")
    size = f" {e.get('side', '')} {number(qty)}" if qty is not None else ""
    return f"{e.get('strategy')} {e.get('action')}{size}: {e.get('why') or 'no reason recorded'}"


def _breaker(e: dict[str, Any]) -> str:
    return (f"circuit breaker {e.get('reason')}: {e.get('detail', '')}; {e.get('action', 'halt')} (equity "
            f"{number(e.get('equity'))})")


def _reload(e: dict[str, Any]) -> str:
    from autobot.live.view import reload_text
    return ("" if e.get("kind") == "reload_rejected" else "reloaded ") + reload_text(e)


SENTENCES: dict[str, Callable[[dict[str, Any]], str]] = {
    "start": _start,
    "stop": lambda e: f"node stopped: {e.get('reason', 'stopped')}",
    "new_run": lambda e: f"a new run: {e.get('reason', '')}",
    "recovery": lambda e: ("recovered after a restart: positions " +
                           ("match the journal's" if e.get("ok") else "DIFFER from the journal's") +
                           f" ({number(e.get('positions'))})"),
    "regime_switch": lambda e: (f"regime {_regime(e.get('old'))} -> {_regime(e.get('new'))}: shares "
                                f"{_shares(e.get('shares'))}"),
    "decision": _decision,
    "breaker": _breaker,
    "breaker_resume": lambda e: (f"circuit breaker {e.get('reason')}: cooldown over, trading again (equity "
                                 f"{number(e.get('equity'))})"),
    "challenge_check": _challenge_check,
    "challenge": lambda e: (f"challenge {e.get('strategy')}: {e.get('from')} -> {e.get('to')} "
                            f"({e.get('reason', '')})"),
    "command": lambda e: f"operator command {e.get('command')} from {e.get('by', 'the operator')}",
    "reload": _reload,
    "reload_rejected": _reload,
    "rollback": lambda e: f"rolled back {e.get('strategy') or e.get('file', '')}",
    "strategy_added": lambda e: f"strategy {e.get('strategy')} added from the policy edit",
    "order_denied": lambda e: f"{e.get('strategy')}: order denied ({e.get('order')}): {e.get('reason')}",
    "order_rejected": lambda e: f"{e.get('strategy')}: order rejected by the venue ({e.get('order')}): {e.get('reason')}",
    "failure": lambda e: f"the node failed: {e.get('cause', '')}",
}

_SKIP = {"ts", "wall", "kind", "strategy", "n"}


def describe(event: dict[str, Any]) -> str:
    """The event as one sentence."""
    kind = str(event.get("kind", ""))
    known = SENTENCES.get(kind)
    if known is not None:
        return known(event)
    rest = ", ".join(f"{k} {number(v, k)}" for k, v in event.items() if k not in _SKIP and v is not None)
    who = f" ({event['strategy']})" if event.get("strategy") else ""
    return f"{kind.replace('_', ' ')}{who}" + (f": {rest}" if rest else "")
