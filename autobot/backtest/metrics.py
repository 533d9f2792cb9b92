"""Backtest metrics from the equity curve and the trade list (all fractions, not percents).

* ``total_return``: final equity / starting capital - 1.
* ``annual_return``: ``(1 + total_return) ** (1 / years) - 1``; years = the calendar time the bars
  cover (first bar's open to last bar's close) / 365.25 days, or for calendar-month bars the
  months they cover / 12 (:func:`span_years`). ``span_days`` is that time in days;
  under ``MIN_ANNUAL_DAYS`` (30) annualised figures (annual return, Sharpe, Sortino) are not
  meaningful and are None (shown as "not meaningful"), so two bars cannot report 1e14%.
* ``sharpe``: mean / standard deviation (ddof 1) of per-bar equity returns (from one close's
  equity to the next, then to the final equity when the end differs from the last close's), times
  ``sqrt(bars per year)``; bars per year = bars / years (:func:`periods_per_year`, THE annualisation
  rule: every annualised figure in AutoBot uses it), so the annualisation follows the bar size and
  the hours and days the market actually trades (about 252 daily bars a year for US shares, 260 for
  FX, 365 for crypto; 12 for monthly bars). Risk-free rate 0. 0 when returns do not vary.
* ``sortino``: the same mean over the downside deviation ``sqrt(mean(min(r, 0)^2))``; None when
  no bar lost.
* ``max_drawdown``: the largest fall from an equity peak, as a fraction of the peak.
* ``win_rate``: closed trades with PnL > 0 / closed trades (None with none); PnL includes fees.
* ``profit_factor``: gross profit / gross loss of closed trades (None with no losing trade).
* ``trades``: closed trades; ``exposure``: the share of bars with a position open.

The seed's success bar (contract section 7) is judged on these: annual return >= 10%, max
drawdown <= 5%, Sharpe >= 1.5, win rate >= 55%.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

YEAR_NS = 365.25 * 86_400 * 1_000_000_000
DAY_NS = 86_400 * 1_000_000_000
MIN_ANNUAL_DAYS = 30.0
SUCCESS_BAR = {"annual_return": (">=", 0.10), "max_drawdown": ("<=", 0.05), "sharpe": (">=", 1.5),
               "win_rate": (">=", 0.55)}


def _clean(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def calendar_months(ts: Any, bar_ns: float) -> int:
    """Months per bar when the bars are calendar periods: 28 days or longer, each opening on the
    1st of a month at 00:00 UTC (monthly data, and period-end labels once read as closes by
    :func:`autobot.backtest.data.calendar_opens`); 0 otherwise. Their length is the calendar's
    (28-31 days a month), not the fixed step the engines stamp closes with."""
    if bar_ns < 28 * DAY_NS or len(ts) == 0:
        return 0
    opens = np.asarray(ts, dtype=np.int64).astype("datetime64[ns]")
    if not np.all(opens.astype("datetime64[M]").astype("datetime64[ns]") == opens):
        return 0
    return max(1, round(bar_ns / (YEAR_NS / 12)))


def span_years(ts: Any, bar_ns: float) -> float:
    """The years bars opening at ``ts`` cover, from the first bar's open to the last bar's close:
    (last open + ``bar_ns`` - first open) / 365.25 days; for calendar-month bars
    (:func:`calendar_months`) the calendar months they cover / 12. ``ts`` may be a list (only
    its ends are read unless the bars are 28 days or longer)."""
    n = len(ts)
    if n == 0:
        return 0.0
    months = calendar_months(ts, bar_ns)
    if months:
        ends = np.array([ts[0], ts[n - 1]], dtype=np.int64).astype("datetime64[ns]").astype("datetime64[M]")
        return (int(ends[1].astype(np.int64) - ends[0].astype(np.int64)) + months) / 12.0
    return (int(ts[n - 1]) - int(ts[0]) + bar_ns) / YEAR_NS


def periods_per_year(ts: Any, bar_ns: float) -> float:
    """THE annualisation rule: the bars actually present per year, ``len(ts) / span_years`` (0 for
    no span). Sharpe, Sortino and volatility are scaled by its square root everywhere: backtests
    (both engines), optimizer and discover scores, the portfolio's per-strategy Sharpe and its
    target volatility, and the daily/weekly reports (over UTC days with equity)."""
    years = span_years(ts, bar_ns)
    return len(ts) / years if years > 0 else 0.0


def compute(equity: np.ndarray, ts: np.ndarray, bar_ns: int, capital: float, final_equity: float,
            trades: list[dict[str, Any]], exposure: np.ndarray,
            min_annual_days: float = MIN_ANNUAL_DAYS) -> dict[str, Any]:
    """Every metric of the module docstring (``min_annual_days``: the span below which annualised
    figures are None; the paper challenge annualises its two weeks and says how little they prove)."""
    equity = np.asarray(equity, dtype=np.float64)
    n = len(equity)
    years = span_years(ts, bar_ns) if n else 0.0
    days = years * 365.25
    annualise = days >= min_annual_days and years > 0
    total = final_equity / capital - 1.0
    annual = None
    if annualise:
        annual = math.exp(math.log1p(total) / years) - 1.0 if total > -1 else -1.0
    # the closes' equity, then the final equity only where it differs from the last close's (an
    # order filled after it): a repeated last value would add a zero return to every series
    if not n:
        curve = np.array([capital, final_equity])
    elif final_equity != equity[-1]:
        curve = np.append(equity, final_equity)
    else:
        curve = equity
    curve = curve[np.isfinite(curve)]
    r = curve[1:] / curve[:-1] - 1.0 if len(curve) > 1 else np.zeros(0)
    per_year = (n / years) if years > 0 else 0.0
    sharpe = sortino = None
    if len(r) > 1 and annualise:
        sd = float(np.std(r, ddof=1))
        sharpe = float(np.mean(r)) / sd * math.sqrt(per_year) if sd > 0 else 0.0
        down = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
        sortino = float(np.mean(r)) / down * math.sqrt(per_year) if down > 0 else None
    peak = np.maximum.accumulate(curve) if len(curve) else curve
    max_dd = float(np.max(1.0 - curve / peak)) if len(curve) else 0.0
    closed = [t for t in trades if t.get("exit_reason") != "open"]
    pnls = np.array([t["pnl"] for t in closed], dtype=np.float64)
    wins, losses = pnls[pnls > 0], pnls[pnls < 0]
    return {
        "total_return": _clean(total),
        "annual_return": _clean(annual),
        "sharpe": _clean(sharpe),
        "sortino": _clean(sortino),
        "max_drawdown": _clean(max_dd),
        "win_rate": _clean(len(wins) / len(pnls)) if len(pnls) else None,
        "profit_factor": _clean(float(wins.sum()) / float(-losses.sum())) if len(losses) else None,
        "trades": len(closed),
        "exposure": _clean(float(np.mean(np.asarray(exposure) != 0))) if len(exposure) else 0.0,
        "final_equity": _clean(final_equity),
        "span_days": _clean(days),
        "fees": _clean(sum(float(t.get("fees", 0.0)) for t in trades)),
    }


def buy_and_hold(close: np.ndarray, ts: np.ndarray, bar_ns: int, capital: float, fee: float) -> dict[str, Any]:
    """The same metrics for buying at the first close (paying ``fee``) and holding to the end."""
    close = np.asarray(close, dtype=np.float64)
    units = capital * (1.0 - fee) / close[0]
    equity = units * close
    final = float(equity[-1])
    trade = {"pnl": final - capital, "exit_reason": "end", "fees": capital * fee}   # sold at the last close
    return compute(equity, ts, bar_ns, capital, final, [trade], np.ones(len(close)))


def success_marks(metrics: dict[str, Any]) -> dict[str, bool | None]:
    """Whether each metric of the success bar is met (None when it cannot be computed)."""
    out: dict[str, bool | None] = {}
    for name, (op, target) in SUCCESS_BAR.items():
        v = metrics.get(name)
        out[name] = None if v is None else (v >= target if op == ">=" else v <= target)
    return out
