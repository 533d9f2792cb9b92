"""Report statistics against empyrical (empyrical-reloaded) on a fixed fixture, and per-strategy
PnL from fills by hand."""

from __future__ import annotations

import numpy as np
import pytest

from autobot.report.analytics import DAY_NS, daily_returns, realized_by_strategy, risk_metrics

empyrical = pytest.importorskip("empyrical", reason="empyrical-reloaded (the dev extra) compares the report's "
                                                    "figures; install it with pip install -e '.[dev]'")


def _fixture() -> np.ndarray:
    return np.random.default_rng(20261202).normal(0.0008, 0.012, 500)


@pytest.mark.parametrize("year", [365, 252])
def test_risk_metrics_match_empyrical(year: int) -> None:
    import pandas as pd
    r = _fixture()
    s = pd.Series(r, index=pd.date_range("2024-01-01", periods=len(r), freq="D"))
    m = risk_metrics(r, year)
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(s, annualization=year), rel=1e-9)
    assert m["sortino"] == pytest.approx(empyrical.sortino_ratio(s, annualization=year), rel=1e-9)
    assert m["annual_return"] == pytest.approx(empyrical.annual_return(s, annualization=year), rel=1e-9)
    assert m["annual_volatility"] == pytest.approx(empyrical.annual_volatility(s, annualization=year), rel=1e-9)
    assert m["max_drawdown"] == pytest.approx(-empyrical.max_drawdown(s), rel=1e-9)   # positive here
    assert m["calmar"] == pytest.approx(empyrical.calmar_ratio(s, annualization=year), rel=1e-9)
    assert m["var_95"] == pytest.approx(empyrical.value_at_risk(s, cutoff=0.05), rel=1e-9)
    assert m["cvar_95"] == pytest.approx(empyrical.conditional_value_at_risk(s, cutoff=0.05), rel=1e-9)
    assert m["total_return"] == pytest.approx(empyrical.cum_returns_final(s), rel=1e-9)


def test_daily_returns_from_intraday_equity() -> None:
    """Minute snapshots over three UTC days: each day's last equity over the day before's."""
    t0 = 1_700_006_400 * 1_000_000_000                           # a UTC midnight
    minute = 60_000_000_000
    ts = t0 + np.arange(3 * 1440) * minute
    eq = np.r_[np.full(1440, 100.0), np.full(1440, 110.0), np.full(1440, 99.0)]
    eq[0] = 100.0
    days, r = daily_returns(ts, eq)
    assert list(days) == [t0 // DAY_NS, t0 // DAY_NS + 1, t0 // DAY_NS + 2]
    assert r == pytest.approx([0.0, 0.10, 99 / 110 - 1])
    m = risk_metrics(r)
    assert m["max_drawdown"] == pytest.approx(1 - 99 / 110) and m["max_drawdown_days"] == 1


def test_realized_pnl_by_average_cost() -> None:
    fills = [("a", 1, "BUY", 2.0, 100.0), ("a", 2, "BUY", 2.0, 110.0),     # long 4 @ 105
             ("a", 3, "SELL", 1.0, 120.0),                                 # +15
             ("a", 4, "SELL", 3.0, 100.0),                                 # -15: flat, a round trip of 0
             ("b", 1, "SELL", 1.0, 50.0), ("b", 2, "BUY", 2.0, 40.0),      # +10, reversed: long 1 @ 40
             ("b", 3, "SELL", 1.0, 45.0)]                                  # +5
    out = realized_by_strategy(fills)
    assert out["a"]["realized"] == pytest.approx(0.0) and out["a"]["round_trips"] == 1
    assert out["a"]["win_rate"] == 0.0
    assert out["b"]["realized"] == pytest.approx(15.0) and out["b"]["round_trips"] == 2
    assert out["b"]["win_rate"] == 1.0 and out["b"]["profit_factor"] is None
    assert out["a"]["turnover"] == pytest.approx(200 + 220 + 120 + 300)
    from autobot.report.analytics import exposed_at, fill_stats
    whole = fill_stats(fills)[1]
    assert exposed_at(fills, np.arange(6)).mean() == 0.5   # held at 1, 2, 3 (a until 4, b until 3); flat at 0, 4, 5
    assert whole["round_trips"] == 3 and whole["win_rate"] == pytest.approx(2 / 3)   # 0, +10, +5
    assert whole["profit_factor"] is None and whole["turnover"] == pytest.approx(840 + 50 + 80 + 45)
    # the position a opened before the period counts
    assert exposed_at(fills, np.arange(3, 6)).mean() == pytest.approx(1 / 3)


def test_an_fx_nodes_sunday_evening_is_folded_into_monday() -> None:
    """Hourly snapshots of an FX node: the week opens Sunday 22:00 UTC, so Sunday's UTC day holds 2
    of them against 24 on a weekday. That stub day's equity joins Monday's return (as backtests fold
    it into Monday's daily bar), and the report annualises with the days present: ~262 a year over
    a year that ends on a Friday (not 365, nor 313 with the Sundays)."""
    hour = 3_600_000_000_000
    monday = 1_700_438_400 * 1_000_000_000                        # 2023-11-20T00:00:00Z, a Monday
    stamps = []
    for week in range(52):
        w = monday + week * 7 * DAY_NS
        stamps += [w - 2 * hour, w - hour]                         # Sunday 22:00 and 23:00
        stamps += [w + h * hour for h in range(5 * 24 - 2)]       # to Friday 21:00
    ts = np.array(stamps, dtype=np.int64)
    eq = 100_000.0 * np.cumprod(1 + np.random.default_rng(3).normal(0, 0.001, len(ts)))
    days, r = daily_returns(ts, eq)
    weekday = (days + 3) % 7                                       # 0 Monday .. 6 Sunday
    assert len(days) == 260 and not np.any(weekday == 6)
    monday_k = int(np.flatnonzero(days == monday // DAY_NS)[0])
    assert monday_k == 0 and r[0] == pytest.approx(eq[ts < monday + DAY_NS][-1] / eq[0] - 1)
    assert r[5] == pytest.approx(eq[ts < monday + 8 * DAY_NS][-1] / eq[ts < monday + 5 * DAY_NS][-1] - 1)
    from autobot.report.analytics import days_per_year
    assert days_per_year(days) == pytest.approx(round(260 / ((int(days[-1]) - int(days[0]) + 1) / 365.25), 1))
    assert 255 < days_per_year(days) < 265
    assert days_per_year(days[:10]) == 365.0                      # two weeks: too few days to measure
