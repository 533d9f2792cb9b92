"""The live status view in the terminal (rich), refreshed as bars arrive (at most 4 times a second)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any


def reload_text(e: dict[str, Any]) -> str:
    """A reload for a person: what changed and how many recent bars decide differently, or why the
    edit was rejected (the compiler's first message). Reads the controller's records and the
    journal's reload events alike."""
    head = str(e.get("strategy") or "policy")
    if e.get("kind") == "reload_rejected" or e.get("ok") is False:
        errors = e.get("errors") or []
        first = str(errors[0]).splitlines()[0] if errors else "rejected"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{head}: edit rejected, the running version keeps trading: {first}{more}"
    decisions = e.get("decisions")
    summary = decisions.get("summary") if isinstance(decisions, dict) else (decisions or "")
    return f"{head}: {e.get('changes', '')}" + (f"; {summary}" if summary else "")


def render(status: dict[str, Any], bars: int) -> Any:
    """A rich table of the controller's :meth:`status`."""
    from rich.table import Table

    when = dt.datetime.fromtimestamp(status["bar"] / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M") \
        if status["bar"] else "-"
    state = "[red]HALTED[/]" if status["halted"] else "[yellow]paused[/]" if status["paused"] else "[green]trading[/]"
    table = Table(title=f"AutoBot paper node - bar {when} ({bars:,} bars)", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("state", state)
    table.add_row("regime", "undefined (its indicators are warming up)" if status["regime"] is None
                  else str(status["regime"]))
    table.add_row("shares", ", ".join(f"{k} {v:.0%}" for k, v in status["shares"].items() if v) or "none")
    table.add_row("positions", ", ".join(f"{k} {v['qty']:+g} (uPnL {v['unrealized']:,.2f})"
                                         for k, v in status["positions"].items()) or "flat")
    table.add_row("PnL", f"realised {status['realized']:,.2f}, unrealised {status['unrealized']:,.2f}")
    table.add_row("equity", f"{status['equity']:,.2f} (drawdown {status['drawdown']:.2%})")
    challenge = status.get("challenge") or {}
    if challenge:
        table.add_row("challenge", ", ".join(f"{k} {v['stage']} ({v['capital']:.0%})" for k, v in challenge.items()))
    for trip in status["trips"]:
        table.add_row("breaker", f"{trip['reason']}: {trip['detail']}; {trip.get('action', 'halt')}")
    for reload in status["reloads"]:
        table.add_row("reload", reload_text(reload)[:160])
    for d in status["decisions"]:
        table.add_row("decision", f"{d['strategy']} {d['action']}: {d['why']}"[:120])
    return table


class StatusView:
    """Keeps a rich ``Live`` display on stderr up to date."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live
        self.live = Live(console=Console(stderr=True), auto_refresh=False, transient=False)
        self.bars = 0
        self.last = 0.0

    def __enter__(self) -> "StatusView":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def update(self, controller: Any) -> None:
        self.bars += 1
        now = time.monotonic()
        if now - self.last >= 0.25:
            self.last = now
            self.live.update(render(controller.status(), self.bars), refresh=True)


class LineView:
    """The status as one plain line every ``every`` seconds, for a node writing to a file or a pipe
    (a rich display would not refresh there): ``paper node: 12,000 bars, bar 2017-03-01 14:00,
    equity 101,234.50 (drawdown 1.20%), trading``."""

    def __init__(self, every: float = 30.0, out: Any = None) -> None:
        import sys
        self.every = every
        self.out = out or sys.stderr
        self.bars = 0
        self.last = time.monotonic()

    def __enter__(self) -> "LineView":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, controller: Any) -> None:
        self.bars += 1
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        self.out.write(line(controller.status(), self.bars) + "\n")
        self.out.flush()


def line(status: dict[str, Any], bars: int) -> str:
    """One line of the controller's :meth:`status`."""
    when = dt.datetime.fromtimestamp(status["bar"] / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M") \
        if status["bar"] else "-"
    state = "HALTED" if status["halted"] else "paused" if status["paused"] else "trading"
    return (f"paper node: {bars:,} bars, bar {when}, equity {status['equity']:,.2f} "
            f"(drawdown {status['drawdown']:.2%}), {state}")
