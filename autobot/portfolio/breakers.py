"""Circuit breakers: each a small class behind one interface, in the spirit of Freqtrade's
protections. A breaker looks at the portfolio at a primary bar (:class:`View`) and answers with
the reason it trips (or None); what happens then is its :class:`Action`, from the policy's
``risk.on_trip`` or the breaker's default:

* ``halt``: flatten (when the breaker flattens) and stop trading for good (a human restarts it);
* ``cooldown: <duration>`` (``30m``, ``12h``, ``7d``, ``2w``, or ``24 bars``): flatten (when the
  breaker flattens), no new entries until the duration has passed, then trade again; a drawdown
  breaker then measures from a new peak (the equity when trading resumes), a losses breaker
  counts from zero;
* ``next_day``: a cooldown until the next UTC day (the daily loss limit's and the consecutive
  losses' default);
* ``demote``: flatten (when the breaker flattens) and send the portfolio back to paper
  (:mod:`autobot.portfolio.challenge`): it keeps trading on paper at once, with no capital, and
  must pass the challenge again before it gets any; a drawdown then counts from a new peak.

Defaults: ``max_drawdown`` demotes (trading goes on, on paper, so a portfolio keeps working for
years without a human, and capital comes back only through the challenge; a cooldown straight
back to capital compounds the losses of a strategy without an edge), the daily loss limit and
consecutive losses pause until the next UTC day, a bar gap for as many bars as the gap allowed,
a stale feed until bars flow again, a skewed clock for one bar; the kill switch (a kill file, or
/stop) always halts.

The data-quality breakers ``max_stale`` and ``max_clock_skew`` compare bars with the wall clock,
so only a node on a venue's data checks them (a replay or a backtest is a time machine).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, ClassVar

DAY_NS = 86_400_000_000_000
_UNITS = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d|w|bars?)\s*$")


@dataclass(frozen=True)
class View:
    """What a breaker sees at a primary bar."""

    ts: int                  # the bar's close (ns)
    equity: float
    peak: float              # since trading (re)started
    day_open: float          # equity at the previous day's last close
    losses_in_row: int
    prev_ts: int | None      # the previous primary bar's close
    bar_ns: int
    now: int | None = None   # the wall clock (ns) on a node on a venue's data, else None
    last_bar_wall: int | None = None   # the wall clock when the last primary bar arrived


@dataclass(frozen=True)
class Action:
    kind: str                # "halt", "cooldown", "next_day" or "demote"
    seconds: float = 0.0     # cooldown length (time), or
    bars: int = 0            # cooldown length in bars

    def until(self, ts: int, bar_ns: int) -> int | None:
        """The end of the cooldown started at ``ts`` (None: halt or demote, no cooldown)."""
        if self.kind in ("halt", "demote"):
            return None
        if self.kind == "next_day":
            return (ts // DAY_NS + 1) * DAY_NS
        return ts + (self.bars * bar_ns if self.bars else int(self.seconds * 1e9))

    def text(self, ts: int, bar_ns: int) -> str:
        if self.kind == "demote":
            return "demote to paper"
        end = self.until(ts, bar_ns)
        return "halt" if end is None else f"cooldown until {_iso(end)}"

    @classmethod
    def parse(cls, value: Any) -> "Action":
        """``halt``, ``next_day``, ``demote``, or ``{cooldown: "7d"}`` (checked by the document model)."""
        if isinstance(value, str):
            return cls(value)
        text = str(value.cooldown if hasattr(value, "cooldown") else value["cooldown"])
        match = DURATION.match(text)
        assert match is not None, text
        n, unit = float(match.group(1)), match.group(2)
        if unit.startswith("bar"):
            return cls("cooldown", bars=int(n))
        return cls("cooldown", seconds=n * _UNITS[unit])


class Breaker:
    """One circuit breaker (see the module docstring)."""

    name: ClassVar[str]
    flatten: ClassVar[bool] = True
    default: ClassVar[Action] = Action("halt")

    def check(self, v: View) -> str | None:
        raise NotImplementedError


class KillSwitch(Breaker):
    """A kill file exists: flatten and halt, always."""

    name = "kill_switch"

    def __init__(self, path: str) -> None:
        self.path = path

    def check(self, v: View) -> str | None:
        return f"kill file {self.path} exists" if os.path.exists(self.path) else None


class MaxDrawdown(Breaker):
    """Equity at or below its peak by ``limit``."""

    name = "max_drawdown"
    default = Action("demote")

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def check(self, v: View) -> str | None:
        if v.peak > 0 and v.equity <= v.peak * (1 - self.limit):
            return (f"equity {v.equity:,.2f} is {1 - v.equity / v.peak:.2%} below its peak {v.peak:,.2f} "
                    f"(limit {self.limit:.2%})")
        return None


class DailyLoss(Breaker):
    """Equity at or below the day's opening equity by ``limit``."""

    name = "daily_loss_limit"
    default = Action("next_day")

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def check(self, v: View) -> str | None:
        if v.day_open > 0 and v.equity <= v.day_open * (1 - self.limit):
            return (f"equity {v.equity:,.2f} is {1 - v.equity / v.day_open:.2%} below the day's open "
                    f"{v.day_open:,.2f} (limit {self.limit:.2%})")
        return None


class ConsecutiveLosses(Breaker):
    """``count`` losing trades in a row (checked when a trade closes; positions are kept)."""

    name = "max_consecutive_losses"
    flatten = False
    default = Action("next_day")

    def __init__(self, count: int) -> None:
        self.count = count

    def check(self, v: View) -> str | None:
        return f"{v.losses_in_row} losing trades in a row" if v.losses_in_row >= self.count else None


class BarGap(Breaker):
    """A data-quality breaker: more than ``bars`` bar lengths between two primary bars (a feed
    outage, a missing file section). Positions keep their stops; no new entries until the feed
    has run ``bars`` more bars."""

    name = "max_bar_gap"
    flatten = False

    def __init__(self, bars: int) -> None:
        self.bars = bars

    @property
    def default(self) -> Action:   # type: ignore[override]
        return Action("cooldown", bars=self.bars)

    def check(self, v: View) -> str | None:
        if v.prev_ts is not None and v.bar_ns > 0 and v.ts - v.prev_ts > self.bars * v.bar_ns:
            return (f"{(v.ts - v.prev_ts) / v.bar_ns - 1:.0f} bars missing before {_iso(v.ts)} "
                    f"(limit {self.bars})")
        return None


class StaleFeed(Breaker):
    """A data-quality breaker (live): no primary bar for ``seconds`` of wall time (the feed
    stalled, the connection dropped silently). Checked on a timer; positions keep their stops; no
    new entries until bars flow again (the next bar ends it unless on_trip says otherwise)."""

    name = "max_stale"
    flatten = False
    default = Action("cooldown", bars=1)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def check(self, v: View) -> str | None:
        if v.now is None or v.last_bar_wall is None:
            return None
        quiet = (v.now - v.last_bar_wall) / 1e9
        if quiet > self.seconds:
            return f"no bar for {quiet:,.0f} s of wall time (limit {self.seconds:,.0f} s)"
        return None


class ClockSkew(Breaker):
    """A data-quality breaker (live): a primary bar closing more than ``seconds`` away from the
    wall clock (a late feed, a wrong system clock): decisions on it would be stale. No new entries
    for a bar."""

    name = "max_clock_skew"
    flatten = False
    default = Action("cooldown", bars=1)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def check(self, v: View) -> str | None:
        if v.now is None:
            return None
        skew = (v.now - v.ts) / 1e9
        if abs(skew) > self.seconds:
            return (f"bar closing {_iso(v.ts)} seen {skew:+,.1f} s from the wall clock (limit "
                    f"{self.seconds:,.0f} s)")
        return None


def seconds_of(text: str, bar_seconds: float) -> float:
    """A duration (``30s``, ``10m``, ``2h``, ``3 bars``) in seconds."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w|bars?)\s*$", text)
    assert match is not None, text
    n, unit = float(match.group(1)), match.group(2)
    return n * bar_seconds if unit.startswith("bar") else n * (1 if unit == "s" else _UNITS[unit])


def _iso(ns: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def wall_breakers(risk: Any, bar_seconds: float) -> list[Breaker]:
    """The breakers that compare bars with the wall clock (a node on a venue's data only)."""
    out: list[Breaker] = []
    if getattr(risk, "max_clock_skew", None):
        out.append(ClockSkew(seconds_of(risk.max_clock_skew, bar_seconds)))
    if getattr(risk, "max_stale", None):
        out.append(StaleFeed(seconds_of(risk.max_stale, bar_seconds)))
    return out


def bar_breakers(risk: Any, limits: Any, kill_file: str | None) -> list[Breaker]:
    """The breakers checked at every primary bar, in the order they are checked."""
    out: list[Breaker] = []
    if kill_file:
        out.append(KillSwitch(kill_file))
    if limits.max_drawdown is not None:
        out.append(MaxDrawdown(limits.max_drawdown))
    if limits.daily_loss_limit is not None:
        out.append(DailyLoss(limits.daily_loss_limit))
    if getattr(risk, "max_bar_gap", None) is not None:
        out.append(BarGap(int(risk.max_bar_gap)))
    return out


def action_for(risk: Any, breaker: Breaker) -> Action:
    """The policy's ``on_trip`` for this breaker, else its default (the kill switch always halts)."""
    if isinstance(breaker, KillSwitch):
        return Action("halt")
    chosen = (getattr(risk, "on_trip", None) or {}).get(breaker.name)
    return Action.parse(chosen) if chosen is not None else breaker.default
