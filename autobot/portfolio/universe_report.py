"""What a portfolio run reports about its markets: the universe, each sleeve (strategy x
instrument) and the universe's own benchmark, an equal-weight portfolio of its instruments
rebalanced every day. Plain Python over the run's records, shared by both engines' results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from autobot.backtest import metrics as M
from autobot.data.bars import Bars

DAY_NS = 86_400 * 1_000_000_000


@dataclass(frozen=True)
class Sleeve:
    """One (strategy, instrument) of a portfolio: its own position, trades and capital share."""

    name: str                      # the member's id: 'trend_ema@SPY.ARCA', or the strategy's own id
    strategy: str
    instrument: str
    trades: int
    pnl: float
    fees: float
    sharpe: float | None
    mean_weight: float             # its allocated share of the equity, averaged over the bars
    last_weight: float
    weights: list[tuple[int, float]]   # (bar close ns, share) at every change of its allocated share

    def to_json(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "instrument": self.instrument, "trades": self.trades, "pnl": self.pnl,
                "fees": self.fees, "sharpe": self.sharpe, "mean_weight": self.mean_weight,
                "last_weight": self.last_weight, "weights": [{"ts": ts, "weight": w} for ts, w in self.weights]}


def sleeves(per_strategy: dict[str, dict[str, Any]], instruments: dict[str, str], equity_ts: np.ndarray,
            switches: list[dict[str, Any]], risk_scales: list[float]) -> dict[str, Sleeve]:
    """Each member's sleeve: its figures from ``per_strategy`` and its allocated share over time
    (the shares of the last regime switch at or before each bar, times the drawdown scaling's
    factor at that bar)."""
    n = len(equity_ts)
    at = np.searchsorted(np.array([int(s["ts"]) for s in switches], dtype=np.int64), equity_ts, side="right") - 1
    scale = np.ones(n) if len(risk_scales) != n else np.asarray(risk_scales, dtype=np.float64)
    out: dict[str, Sleeve] = {}
    for name, row in per_strategy.items():
        strategy, _, iid = name.partition("@")
        share = np.array([float(switches[k]["shares"].get(name, 0.0)) if k >= 0 else 0.0 for k in at]) * scale
        changes: list[tuple[int, float]] = []
        for k in range(n):
            if k == 0 or abs(share[k] - share[k - 1]) > 1e-9:
                changes.append((int(equity_ts[k]), float(share[k])))
        out[name] = Sleeve(name, strategy, iid or instruments.get(name, ""), int(row["trades"]), float(row["pnl"]),
                           float(row["fees"]), row.get("sharpe"), float(share.mean()) if n else 0.0,
                           float(share[-1]) if n else 0.0, changes)
    return out


def cash_share(sleeve_rows: dict[str, Sleeve]) -> float:
    """The share of the equity no sleeve was allocated, averaged over the bars."""
    return max(0.0, 1.0 - sum(s.mean_weight for s in sleeve_rows.values()))


def universe_rows(series: dict[str, Bars], asset_class: Any) -> list[dict[str, Any]]:
    """The universe's instruments: id, asset class, bars, first and last bar (ns)."""
    return [{"instrument": iid, "asset_class": asset_class(iid), "bars": len(b),
             "first": int(b.ts[0]) if len(b) else None, "last": int(b.ts[-1]) if len(b) else None}
            for iid, b in series.items()]


def equal_weight_curve(series: dict[str, Bars], bar_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """An equal-weight portfolio of the instruments, rebalanced at every close, as (close times,
    growth of 1): at each close time of any instrument, every instrument listed by then (it has
    closed at least once before) gets the same weight; one with a bar at that time earns its
    return since its previous close, one without a bar (a holiday, a weekend) earns nothing (its
    price is unchanged, never carried forward as a fresh one). No costs are charged."""
    closes = {iid: (np.asarray(b.ts, dtype=np.int64) + bar_ns, np.asarray(b.close, dtype=np.float64))
              for iid, b in series.items() if len(b)}
    times = np.unique(np.concatenate([t for t, _ in closes.values()])) if closes else np.zeros(0, dtype=np.int64)
    total = np.zeros(len(times))
    count = np.zeros(len(times))
    for t, c in closes.values():
        k = np.searchsorted(times, t)
        r = np.zeros(len(t))
        r[1:] = np.where(c[:-1] > 0, c[1:] / c[:-1] - 1.0, 0.0)
        listed = np.zeros(len(times), dtype=bool)
        listed[k[0] + 1:] = True                  # from the close after its first: it is held
        total[k[1:]] += r[1:]
        count += listed
    ret = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return times, np.cumprod(1.0 + ret)


def equal_weight_buy_and_hold(series: dict[str, Bars], sample_close_ts: np.ndarray, bar_ns: int,
                              capital: float) -> dict[str, Any]:
    """The universe's benchmark (:func:`equal_weight_curve`) as the metrics of a run: its equity
    at the portfolio's own bar closes (``sample_close_ts``), starting from ``capital`` at the
    first of them."""
    times, growth = equal_weight_curve(series, bar_ns)
    if not len(times) or not len(sample_close_ts):
        return {}
    k = np.searchsorted(times, np.asarray(sample_close_ts, dtype=np.int64), side="right") - 1
    g = np.where(k >= 0, growth[np.maximum(k, 0)], 1.0)
    equity = capital * g / g[0]
    final = float(equity[-1])
    trade = {"pnl": final - capital, "exit_reason": "end", "fees": 0.0}
    metrics = M.compute(equity, np.asarray(sample_close_ts, dtype=np.int64) - bar_ns, bar_ns, capital, final,
                        [trade], np.ones(len(equity)))
    metrics["method"] = (f"equal weight over the {len(series)} instruments of the universe, rebalanced at every "
                         "close, no costs")
    return metrics
