"""Metric values, computed by hand on small equity curves and trade lists (docs/backtest.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autobot.backtest.metrics import buy_and_hold, compute, success_marks

NS = 1_000_000_000
DAY = 86_400 * NS
T0 = 1_700_000_000 * NS


def _curve(values: list[float], step: int = DAY) -> tuple[np.ndarray, np.ndarray]:
    return np.array(values, dtype=float), T0 + np.arange(len(values), dtype=np.int64) * step


def test_every_metric_on_a_hand_made_daily_curve() -> None:
    # 40 daily bars; equity rises 1% a day for 20 days, then falls 0.5% a day for 20 days
    eq = [100_000.0]
    for k in range(39):
        eq.append(eq[-1] * (1.01 if k < 19 else 0.995))
    equity, ts = _curve(eq)
    final = eq[-1] * 0.995
    trades = [{"pnl": 500.0, "exit_reason": "exit.long", "fees": 10.0},
              {"pnl": -200.0, "exit_reason": "stop_loss", "fees": 10.0},
              {"pnl": 300.0, "exit_reason": "take_profit", "fees": 10.0},
              {"pnl": 50.0, "exit_reason": "open", "fees": 5.0}]
    exposure = np.array([1] * 10 + [0] * 20 + [-1] * 10)
    m = compute(equity, ts, DAY, 100_000.0, final, trades, exposure)

    years = 40 * DAY / (365.25 * DAY)
    total = final / 100_000.0 - 1
    assert m["total_return"] == pytest.approx(total)
    assert m["annual_return"] == pytest.approx((1 + total) ** (1 / years) - 1)
    curve = np.array(eq + [final])
    r = curve[1:] / curve[:-1] - 1
    per_year = 40 / years                                              # 365.25 daily bars a year
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(per_year))
    down = math.sqrt(float(np.mean(np.minimum(r, 0) ** 2)))
    assert m["sortino"] == pytest.approx(r.mean() / down * math.sqrt(per_year))
    peak = max(eq)
    assert m["max_drawdown"] == pytest.approx(1 - final / peak)      # the last point is the lowest after the peak
    assert m["win_rate"] == pytest.approx(2 / 3)                     # the open trade is not counted
    assert m["profit_factor"] == pytest.approx(800 / 200)
    assert m["trades"] == 3
    assert m["exposure"] == pytest.approx(0.5)
    assert m["fees"] == pytest.approx(35.0)
    assert m["span_days"] == pytest.approx(40.0)
    assert success_marks(m) == {"annual_return": m["annual_return"] >= 0.10, "max_drawdown": False,
                                "sharpe": m["sharpe"] >= 1.5, "win_rate": True}


def test_a_flat_curve_and_no_trades() -> None:
    equity, ts = _curve([100_000.0] * 60)
    m = compute(equity, ts, DAY, 100_000.0, 100_000.0, [], np.zeros(60))
    assert m["total_return"] == 0 and m["annual_return"] == 0 and m["sharpe"] == 0.0
    assert m["sortino"] is None and m["max_drawdown"] == 0 and m["win_rate"] is None
    assert m["profit_factor"] is None and m["trades"] == 0 and m["exposure"] == 0


def test_hourly_bars_annualise_with_the_bars_per_year_they_cover() -> None:
    rng = np.random.default_rng(1)
    eq = list(100_000 * np.cumprod(1 + rng.normal(0.0002, 0.003, 24 * 60)))
    equity, ts = _curve(eq, 3600 * NS)
    m = compute(equity, ts, 3600 * NS, 100_000.0, eq[-1], [], np.ones(len(eq)))
    curve = np.array(eq)                 # the final equity is the last close's: no zero return appended
    r = curve[1:] / curve[:-1] - 1
    years = len(eq) * 3600 * NS / (365.25 * DAY)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(len(eq) / years))
    assert m["exposure"] == 1.0


def test_buy_and_hold_pays_the_fee_once() -> None:
    close = np.array([100.0, 110.0, 90.0, 120.0])
    ts = T0 + np.arange(4) * 30 * DAY                   # four monthly points: 120 days
    bh = buy_and_hold(close, ts, 30 * DAY, 10_000.0, 0.001)
    units = 10_000.0 * 0.999 / 100.0
    assert bh["final_equity"] == pytest.approx(units * 120.0)
    assert bh["max_drawdown"] == pytest.approx(1 - 90.0 / 110.0)
    assert bh["trades"] == 1 and bh["win_rate"] == 1.0 and bh["fees"] == pytest.approx(10.0)
