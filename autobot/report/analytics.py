"""Risk and performance statistics of a run's equity, by UTC day, with the conventions of
empyrical (Quantopian's library, kept as empyrical-reloaded); the tests compare every figure
with it on a fixed fixture, for 365- and 252-day years.

* daily returns: the last equity of each UTC day over the last of the day before (the first
  day over the first snapshot); a stub day (under a quarter of a typical day's snapshots, directly
  followed by the next day: an FX node's Sunday evening) is folded into the next day, as backtests
  fold it when resampling to daily bars (:func:`autobot.backtest.data.stub_groups`);
* periods per year: given (``--year-days`` 365/360/252, empyrical's convention), or by default the
  one annualisation rule of the backtests (:func:`days_per_year`: the UTC days with equity per
  year, :func:`autobot.backtest.metrics.periods_per_year`);
* ``annual_return``: (total growth) ** (periods per year / days) - 1; ``annual_volatility``:
  sd (ddof 1) x sqrt(periods per year);
* ``sharpe``: mean / sd (ddof 1) x sqrt(periods per year) (risk-free 0);
* ``sortino``: mean x periods per year / (sqrt(mean(min(r, 0)^2)) x sqrt(periods per year));
* ``max_drawdown``: the largest fall of the cumulative curve from its peak, as a POSITIVE
  fraction of the peak (0.12 is 12% below it), the sign the backtest's metrics use; empyrical
  returns the same number negated. ``max_drawdown_days``: the longest time under a previous peak;
* ``calmar``: annual return / max drawdown;
* ``var_95`` / ``cvar_95``: the 5th percentile of daily returns, and the mean of those at or
  below it (historical, one day).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autobot.backtest.data import stub_groups
from autobot.backtest import metrics as M

DAY_NS = 86_400_000_000_000


def daily_equity(ts: np.ndarray, equity: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(UTC day numbers, the last equity of each day, the first snapshot)."""
    ts = np.asarray(ts, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.float64)
    if len(ts) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), math.nan
    days = ts // DAY_NS
    last = np.flatnonzero(np.r_[days[1:] != days[:-1], True])
    stub = stub_groups(days[last], np.diff(np.r_[-1, last]))
    if stub.any():                      # the day after a stub takes its snapshots: its return spans both
        last = last[~stub]
    return days[last], eq[last], float(eq[0])


def days_per_year(days: np.ndarray, least: float = M.MIN_ANNUAL_DAYS, default: float = 365.0) -> float:
    """The UTC days with equity per year over ``days`` (day numbers, after :func:`daily_equity`):
    :func:`autobot.backtest.metrics.periods_per_year` on daily periods, to one decimal; ``default``
    (365) while they span under ``least`` days, too few to measure."""
    days = np.asarray(days, dtype=np.int64)
    if len(days) == 0 or int(days[-1]) - int(days[0]) + 1 < least:
        return default
    return round(M.periods_per_year(days * DAY_NS, DAY_NS), 1)


def daily_returns(ts: np.ndarray, equity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    days, eq, first = daily_equity(ts, equity)
    if len(days) == 0:
        return days, np.zeros(0)
    prev = np.r_[first, eq[:-1]]
    return days, eq / prev - 1.0


def _drawdown(r: np.ndarray) -> tuple[float, int]:
    curve = np.cumprod(1.0 + r)
    peak = np.maximum.accumulate(np.r_[1.0, curve])[1:]
    dd = 1.0 - curve / peak                         # the fall below the peak, >= 0
    longest = run = 0
    for under in dd > 0:
        run = run + 1 if under else 0
        longest = max(longest, run)
    return float(dd.max()) if len(dd) else 0.0, longest


def risk_metrics(r: np.ndarray, periods_per_year: float = 365) -> dict[str, Any]:
    """The module docstring's figures of daily returns ``r`` (None where undefined), annualised
    with ``periods_per_year`` (:func:`days_per_year` unless a convention is asked for)."""
    r = np.asarray(r, dtype=np.float64)
    n = len(r)
    out: dict[str, Any] = {"days": n, "periods_per_year": periods_per_year}
    if n == 0:
        return {**out, **{k: None for k in ("total_return", "annual_return", "annual_volatility", "sharpe",
                                             "sortino", "max_drawdown", "max_drawdown_days", "calmar", "var_95",
                                             "cvar_95", "best_day", "worst_day", "positive_days")}}
    growth = float(np.prod(1.0 + r))
    annual = growth ** (periods_per_year / n) - 1.0 if growth > 0 else -1.0
    sd = float(np.std(r, ddof=1)) if n > 1 else 0.0
    down = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(periods_per_year)
    max_dd, dd_days = _drawdown(r)
    var = float(np.percentile(r, 5))
    out.update({
        "total_return": growth - 1.0,
        "annual_return": annual,
        "annual_volatility": sd * math.sqrt(periods_per_year) if n > 1 else None,
        "sharpe": float(np.mean(r)) / sd * math.sqrt(periods_per_year) if sd > 0 else None,
        "sortino": float(np.mean(r)) * periods_per_year / down if down > 0 else None,
        "max_drawdown": max_dd,
        "max_drawdown_days": dd_days,
        "calmar": annual / max_dd if max_dd > 0 else None,
        "var_95": var,
        "cvar_95": float(np.mean(r[r <= var])),
        "best_day": float(r.max()), "worst_day": float(r.min()),
        "positive_days": float(np.mean(r > 0)),
    })
    return out


def realized_by_strategy(fills: list[tuple]) -> dict[str, dict[str, float]]:
    """Per strategy, from the journal's fills (strategy, ts, side, qty, price in any order of
    the row as :func:`fill_rows` gives them): realised PnL by average cost (before fees), traded
    notional (turnover), fills, and closed round trips with their win rate and profit factor."""
    return fill_stats(fills)[0]


def fill_stats(fills: list[tuple]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """One pass over ``fills``: :func:`realized_by_strategy`'s figures, and the portfolio's
    turnover and round trips (every strategy's together) with their win rate and profit factor."""
    out, wins = _round_trips(fills)
    for strategy, s in out.items():
        s.update(_trip_stats(np.array(wins.get(strategy, []))))
    trips = np.array([p for w in wins.values() for p in w])
    return out, {"turnover": float(sum(s["turnover"] for s in out.values())), "round_trips": int(len(trips)),
                 **_trip_stats(trips)}


def exposed_at(fills: list[tuple], ts: np.ndarray) -> np.ndarray:
    """For each equity point ``ts``: whether any strategy held a position after every fill of
    ``fills`` (the whole run's) up to it. Its mean is the portfolio's exposure."""
    pos: dict[str, float] = {}
    at, held = [], []
    for strategy, t, side, qty, _price in sorted(fills, key=lambda f: int(f[1])):
        pos[strategy] = pos.get(strategy, 0.0) + (qty if side == "BUY" else -qty)
        if abs(pos[strategy]) < 1e-12:
            pos[strategy] = 0.0
        at.append(int(t))
        held.append(any(v != 0.0 for v in pos.values()))
    ts = np.asarray(ts, dtype=np.int64)
    if not at:
        return np.zeros(len(ts), dtype=bool)
    k = np.searchsorted(np.array(at, dtype=np.int64), ts, side="right") - 1   # the last fill at or before
    return np.where(k >= 0, np.array(held)[np.maximum(k, 0)], False)


def _trip_stats(p: np.ndarray) -> dict[str, float | None]:
    loss = float(-p[p < 0].sum()) if len(p) else 0.0
    return {"win_rate": float(np.mean(p > 0)) if len(p) else None,
            "profit_factor": float(p[p > 0].sum()) / loss if loss > 0 else None}


def _round_trips(fills: list[tuple]) -> tuple[dict[str, dict[str, Any]], dict[str, list[float]]]:
    """Per strategy: realised PnL, turnover, fills and round-trip count; and each round trip's PnL."""
    out: dict[str, dict[str, Any]] = {}
    book: dict[str, list[float]] = {}                 # strategy -> [signed qty, average price]
    wins: dict[str, list[float]] = {}
    trip: dict[str, float] = {}                      # PnL of the round trip in progress
    for strategy, _ts, side, qty, price in fills:
        s = out.setdefault(strategy, {"realized": 0.0, "turnover": 0.0, "fills": 0, "round_trips": 0})
        pos, avg = book.setdefault(strategy, [0.0, 0.0])
        signed = qty if side == "BUY" else -qty
        s["turnover"] += qty * price
        s["fills"] += 1
        if pos == 0 or (pos > 0) == (signed > 0):
            total = pos + signed
            avg = (avg * abs(pos) + price * abs(signed)) / abs(total) if total else 0.0
            book[strategy] = [total, avg]
            continue
        closing = min(abs(signed), abs(pos))
        pnl = closing * (price - avg) * (1 if pos > 0 else -1)
        s["realized"] += pnl
        trip[strategy] = trip.get(strategy, 0.0) + pnl
        rest = pos + signed
        flat = abs(rest) < 1e-12
        if flat or (rest > 0) != (pos > 0):          # closed (or reversed): the round trip ends
            s["round_trips"] += 1
            wins.setdefault(strategy, []).append(trip.pop(strategy))
        book[strategy] = [0.0, 0.0] if flat else [rest, avg if (rest > 0) == (pos > 0) else price]
    return out, wins
