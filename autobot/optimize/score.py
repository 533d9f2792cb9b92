"""Scoring a range of bars: its per-bar returns, the backtest's metrics over them, and the
objectives a study maximises (a dispatch table; ``seed_bar`` adds the policy's limits as
Optuna constraints).

* ``sharpe``, ``sortino``, ``annual_return``: the backtest metrics of the same name.
* ``calmar``: annual return / max drawdown (None without a drawdown).
* ``seed_bar``: Sharpe, subject to max drawdown <= the policy's ``risk.max_drawdown`` (the
  seed's 5% without a policy): a trial over the limit is infeasible, and the sampler and the
  selection prefer every feasible trial to it.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from autobot.backtest import metrics as M

UNSCORED = -1e9          # what a trial that scores nothing reports to the sampler (ranked below all)


def _calmar(m: dict[str, Any]) -> float | None:
    a, dd = m.get("annual_return"), m.get("max_drawdown")
    return a / dd if a is not None and dd else None


OBJECTIVES: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "sharpe": lambda m: m.get("sharpe"),
    "sortino": lambda m: m.get("sortino"),
    "calmar": _calmar,
    "annual_return": lambda m: m.get("annual_return"),
    "seed_bar": lambda m: m.get("sharpe"),
}


def score(objective: str, metrics: dict[str, Any]) -> float | None:
    return OBJECTIVES[objective](metrics)


def constraints(objective: str, limits: dict[str, float], metrics: dict[str, Any]) -> list[float]:
    """Optuna constraint values (feasible when every one is <= 0)."""
    if objective != "seed_bar":
        return []
    dd = metrics.get("max_drawdown")
    return [(dd if dd is not None else 1.0) - limits.get("max_drawdown", M.SUCCESS_BAR["max_drawdown"][1])]


def range_returns(result: Any, offset: int, capital: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bar equity returns of a run's bars from ``offset`` on, their bars' close times, and
    whether a position was open at each."""
    eq = np.asarray(result.equity, dtype=np.float64)
    before = np.concatenate(([capital], eq[:-1]))
    r = eq / before - 1.0
    held = np.asarray(result.exposure)[offset:] != 0
    return r[offset:], np.asarray(result.equity_ts[offset:], dtype=np.int64), held


def trades_closed_in(trades: list[dict[str, Any]], first_ts: int, last_ts: int) -> list[dict[str, Any]]:
    """Trades whose exit fill falls within the scored bars (each counted in one range only)."""
    return [t for t in trades if t.get("exit_reason") != "open" and t.get("exit_ts") is not None
            and first_ts <= int(t["exit_ts"]) <= last_ts]


def metrics_of_returns(r: np.ndarray, ts: np.ndarray, bar_ns: int, capital: float,
                       trades: list[dict[str, Any]], held: np.ndarray | None = None) -> dict[str, Any]:
    """The backtest's metrics (:func:`autobot.backtest.metrics.compute`) of an equity curve that
    starts at ``capital`` and moves by ``r``; ``ts`` are the bars' close times."""
    if len(r) == 0:
        return M.compute(np.zeros(0), np.zeros(1, dtype=np.int64), bar_ns, capital, capital, trades, np.zeros(0))
    curve = capital * np.cumprod(1.0 + np.asarray(r, dtype=np.float64))
    # compute() appends the final equity to the curve it is given: given [capital, e0, .., e(n-2)]
    # and e(n-1) its returns are exactly r, and its span is the n scored bars
    start = np.concatenate(([capital], curve[:-1]))
    opens = np.asarray(ts, dtype=np.int64) - bar_ns
    held = np.abs(r) > 0 if held is None else held
    return M.compute(start, opens, bar_ns, capital, float(curve[-1]), trades, held)
