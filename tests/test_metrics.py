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


# ---------------------------------------------------------------- the one annualisation rule (issue 25, section 6)
from pathlib import Path                                                   # noqa: E402

from autobot.backtest import metrics as M                                  # noqa: E402
from tests.helpers import SHARED_DATA                                      # noqa: E402

EURUSD_1H = SHARED_DATA / "oanda_eurusd_mid_1h_2007_2018.csv"
BTC_1D = SHARED_DATA / "universe" / "btcusd_coinbase_1d.csv"
YEAR = 365.25 * DAY
H = 3600 * NS

DAILY_FX = """strategy: d
market: {instrument: EURUSD.OANDA, bar: 1d}
indicators:
  up: close > sma(close, 5)
entry:
  long: up
exit:
  long: not up
sizing:
  equity_pct: 50%
"""

MONTHLY_BTC = DAILY_FX.replace("EURUSD.OANDA", "BTCUSD.COINBASE").replace("sma(close, 5)", "sma(close, 3)")


def _needs(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"SKIPPED LOUDLY: needs ../shared/data ({path} not found)")


def _hand_sharpe(result, per_year: float) -> float:
    eq = np.asarray(result.equity, dtype=float)
    curve = eq if result.final_equity == eq[-1] else np.append(eq, result.final_equity)
    r = curve[1:] / curve[:-1] - 1
    return float(r.mean() / r.std(ddof=1) * math.sqrt(per_year))


def test_a_known_return_series_annualises_by_hand() -> None:
    """Monthly bars (opening on the 1st) are twelve a year whatever their days; weekday-only daily
    bars (FX, shares) are the bars present a year, not 365."""
    rets = np.array([0.02, -0.01, 0.03, 0.0, -0.02, 0.015, 0.01, -0.005, 0.025, -0.01, 0.005, 0.02] * 3)
    eq = 100_000 * np.cumprod(np.r_[1.0, 1 + rets[:-1]])
    final = float(eq[-1] * (1 + rets[-1]))
    months = np.datetime64("2019-01", "M") + np.arange(36).astype("timedelta64[M]")     # the 1st of each month
    ts = months.astype("datetime64[ns]").astype(np.int64)
    m = compute(eq, ts, 31 * DAY, 100_000.0, final, [], np.ones(36))  # the engines' step: the longest month
    assert m["sharpe"] == pytest.approx(rets.mean() / rets.std(ddof=1) * math.sqrt(12), rel=1e-12)
    down = math.sqrt(float(np.mean(np.minimum(rets, 0) ** 2)))
    assert m["sortino"] == pytest.approx(rets.mean() / down * math.sqrt(12), rel=1e-12)
    assert m["annual_return"] == pytest.approx((final / 100_000) ** (1 / 3) - 1, rel=1e-12)   # 36 months: 3 years
    assert m["span_days"] == pytest.approx(3 * 365.25)
    assert M.periods_per_year(ts, 31 * DAY) == 12.0

    # weekdays only (Mon-Fri, 2 years from Monday 2018-01-01): 522 bars over 104 weeks + 1 day
    days = np.arange(np.datetime64("2018-01-01"), np.datetime64("2019-12-31"))
    days = days[np.is_busday(days)]
    ts = days.astype("datetime64[ns]").astype(np.int64)
    r = np.random.default_rng(7).normal(0.0003, 0.005, len(ts))
    eq = 100_000 * np.cumprod(1 + r)
    m = compute(eq, ts, DAY, 100_000.0, float(eq[-1]), [], np.ones(len(ts)))
    per_year = len(ts) / ((int(ts[-1]) - int(ts[0]) + DAY) / YEAR)
    assert 260 < per_year < 262
    assert m["sharpe"] == pytest.approx(r[1:].mean() / r[1:].std(ddof=1) * math.sqrt(per_year), rel=1e-12)


def test_eurusd_hourly_resampled_to_daily_has_no_weekend_stubs() -> None:
    """The FX week opens on Sunday at 21:00-22:00 UTC: 1-day UTC buckets made a 2-3 hour Sunday
    bar every week (3,738 bars, 311.5 a year). Each stub now opens Monday's bar, which closes as
    before: 3,110 bars, about 259 a year."""
    _needs(EURUSD_1H)
    from autobot.backtest.data import strategy_bars
    from autobot.data.bars import load_bars
    from autobot.language.compile import compile_strategy_text
    hourly = load_bars(EURUSD_1H)
    bars, seconds, notes = strategy_bars(compile_strategy_text(DAILY_FX, "d.yaml"), hourly)
    weekday = (bars.ts // DAY + 3) % 7                                   # 0 Monday .. 6 Sunday
    assert not np.any(weekday >= 5)
    assert seconds == 86_400 and any("stub bucket(s) merged into the next bar" in n for n in notes)
    per_year = len(bars) / ((int(bars.ts[-1]) - int(bars.ts[0]) + DAY) / YEAR)
    assert 255 < per_year < 262 and len(bars) < 3_200
    assert M.periods_per_year(bars.ts, DAY) == per_year
    # each daily bar holds the hourly bars closing after the previous daily close and by its own
    last = np.searchsorted(hourly.ts + H, bars.ts + DAY, side="right")   # hourly rows closing by its close
    first = np.r_[0, last[:-1]]
    assert np.all(last > first)
    assert np.array_equal(bars.open, hourly.open[first]) and np.array_equal(bars.close, hourly.close[last - 1])
    assert np.array_equal(bars.high, np.maximum.reduceat(hourly.high, first))
    assert np.array_equal(bars.low, np.minimum.reduceat(hourly.low, first))
    assert last[-1] == len(hourly)                                       # nothing dropped
    hours = last - first
    # the only short bars left: three Fridays cut short by a data outage, followed by the weekend
    assert np.all(weekday[hours < 6] == 4) and np.sum(hours < 6) <= 3
    monday = int(np.datetime64("2018-03-05", "ns").astype(np.int64))
    k = int(np.searchsorted(bars.ts, monday))
    sunday_open = int(np.searchsorted(hourly.ts, int(np.datetime64("2018-03-04T22:00", "ns").astype(np.int64))))
    assert bars.ts[k] == monday and bars.open[k] == hourly.open[sunday_open] == 1.23182


def test_both_engines_annualise_a_daily_fx_strategy_with_the_trading_days() -> None:
    _needs(EURUSD_1H)
    from autobot.backtest.data import parse_when, slice_bars
    from autobot.backtest.engine import run_backtest
    from autobot.data.bars import load_bars
    from autobot.fast.engine import run_fast
    from autobot.language.compile import compile_strategy_text
    hourly = slice_bars(load_bars(EURUSD_1H), parse_when("2015-01-01", "--start"), parse_when("2018-01-01", "--end"))
    cs = compile_strategy_text(DAILY_FX, "d.yaml")
    fast, slow = run_fast(cs, hourly), run_backtest(cs, hourly)
    assert np.array_equal(fast.bars.ts, slow.bars.ts) and fast.notes == slow.notes
    per_year = len(fast.bars) / ((int(fast.bars.ts[-1]) - int(fast.bars.ts[0]) + DAY) / YEAR)
    assert 255 < per_year < 262
    assert any("stub bucket(s) merged" in n for n in fast.notes)
    assert fast.metrics["trades"] == slow.metrics["trades"] > 10
    for result in (fast, slow):
        assert result.metrics["sharpe"] == pytest.approx(_hand_sharpe(result, per_year), rel=1e-9)


def _month_end_btc():
    """Coinbase BTC/USD daily bars aggregated to calendar months, each labelled on the month's LAST
    day (as vendors of monthly data often do); the partial last month is left out."""
    from autobot.data.bars import Bars, load_bars
    d = load_bars(BTC_1D)
    month = d.ts.astype("datetime64[ns]").astype("datetime64[M]")
    starts = np.flatnonzero(np.r_[True, month[1:] != month[:-1]])
    ends = np.r_[starts[1:], len(d)] - 1
    label = ((month[starts] + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D"))
    keep = slice(0, len(starts) - 1)
    return Bars("btc_monthly", label.astype("datetime64[ns]").astype(np.int64)[keep], d.open[starts][keep],
                np.maximum.reduceat(d.high, starts)[keep], np.minimum.reduceat(d.low, starts)[keep],
                d.close[ends][keep], np.add.reduceat(d.volume, starts)[keep], "csv")


def test_month_end_labelled_monthly_bars_open_at_the_previous_month_end() -> None:
    _needs(BTC_1D)
    from autobot.backtest.data import strategy_bars
    from autobot.backtest.engine import run_backtest
    from autobot.fast.engine import run_fast
    from autobot.language.compile import compile_strategy_text
    monthly = _month_end_btc()
    assert len(monthly) == 44 and str(monthly.ts[0].astype("datetime64[ns]"))[:10] == "2014-12-31"
    cs = compile_strategy_text(MONTHLY_BTC, "m.yaml")
    bars, seconds, notes = strategy_bars(cs, monthly)
    # each bar opens where the previous label's day ended: the 1st of its month, 00:00 UTC
    assert np.array_equal(bars.ts[1:], monthly.ts[:-1] + DAY)
    assert str(bars.ts[0].astype("datetime64[ns]")) == "2014-12-01T00:00:00.000000000"
    assert np.array_equal(bars.close, monthly.close)
    assert any("end of a calendar month" in n and "12 bars a year" in n for n in notes)
    fast, slow = run_fast(cs, monthly), run_backtest(cs, monthly)
    assert fast.to_json()["start"] == "2014-12-01T00:00:00Z"
    assert fast.metrics["trades"] == slow.metrics["trades"] > 0
    for result in (fast, slow):
        m = result.metrics
        assert m["sharpe"] == pytest.approx(_hand_sharpe(result, 12), rel=1e-9)   # twelve a year, not 12.002
        assert m["span_days"] == pytest.approx(44 / 12 * 365.25)
        assert m["annual_return"] == pytest.approx((1 + m["total_return"]) ** (12 / 44) - 1, rel=1e-9)
    from autobot.backtest.data import calendar_opens, period_end_months
    assert period_end_months(monthly.ts) == 1 and period_end_months(bars.ts) == 0
    assert M.periods_per_year(bars.ts, seconds * NS) == 12.0         # not a fixed 31-day month
    assert calendar_opens(bars) is bars                                # labels on the 1st are opens already


def test_period_end_labels_are_told_from_opens() -> None:
    def stamps(*days: str) -> np.ndarray:
        return np.array(days, dtype="datetime64[D]").astype("datetime64[ns]").astype(np.int64)
    from autobot.backtest.data import period_end_months
    assert period_end_months(stamps("2019-03-29", "2019-06-28", "2019-09-30", "2019-12-31")) == 3  # last trading days
    assert period_end_months(stamps("2019-01-01", "2019-02-01", "2019-03-01")) == 0                 # opens
    assert period_end_months(stamps("2019-01-30", "2019-01-31", "2019-02-28")) == 0                 # daily
    assert period_end_months(stamps("2019-01-31", "2019-02-28")) == 0                               # too few to tell
