"""The real-use matrix for policies (issue 25): the shipped policy, three strategies on one
market, on every shared series (minute to daily; crypto, FX, gold, stocks, ETFs) as the market the
file holds (``--instrument``), on a margin and a cash account, in NautilusTrader, to the end: no
refused or denied order, every fill inside its bar, equity == cash + marked positions at every bar,
each strategy's fills netting to its own position, and a demoted capital within its limit.

(The strategies alone, both engines, fill for fill, are the matrix in ``test_fast_engine.py``;
replay == backtest is in ``test_live.py``.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autobot.data.bars import load_bars
from autobot.portfolio.engine import run_portfolio
from autobot.venue.instruments import InstrumentSettings, make_instrument
from autobot.venue.settings import VenueSettings
from autobot.workspace import load_policy, rebind_instruments
from tests.helpers import (ROOT, SHARED_DATA, assert_fills_inside_bars, assert_identity, cash_market, market_of,
                           matrix_bars,
                           shared_series)

SERIES = shared_series()


# the universe's ETFs beyond SPY and its FX crosses beyond EUR/USD add no kind of market the others lack (CI time)
SAME_KIND = ("iwm_1d", "eem_1d", "uso_1d", "bno_1d", "gbpusd_mid_1d", "eurgbp_mid_1d")
CASES = [(s, a) for s in SERIES if s.stem not in SAME_KIND for a in ("margin", "cash")
         if a == "margin" or cash_market(s)]


def assert_portfolio_identity(result, iid: str) -> None:
    """At every primary bar: the strategies' paper equity == capital - what their fills paid (value
    and fees) + every open position marked to the close (one instrument)."""
    inst = make_instrument(iid, [result.bars.close], InstrumentSettings())
    equity = np.array(result.paper_track["equity"]) if result.paper_track else result.equity
    fills = [f for fs in result.fills.values() for f in fs]
    assert_identity(equity, result.equity_ts, result.bars.close, fills, result.capital, inst, slack=3)


@pytest.mark.slow
@pytest.mark.parametrize("data, account", CASES, ids=[f"{s.stem}-{a}" for s, a in CASES])
def test_the_shipped_policy_on_every_series(data: Path, account: str) -> None:
    if not SERIES:
        pytest.skip(f"SKIPPED LOUDLY: needs ../shared/data (not found at {SHARED_DATA})")
    iid = market_of(data)
    base = load_policy(ROOT / "policy.yaml")
    policy = rebind_instruments(base, {base.instruments[0]: iid})
    bars = load_bars(data) if data.stem.startswith("oanda_eurusd") else matrix_bars(data)   # EUR/USD: all 12 years
    # run_portfolio raises RunError on any refused or denied order (breaker states aside)
    result = run_portfolio(policy, {iid: bars}, VenueSettings(account=account), compare=False)
    assert len(result.equity) == len(result.bars) and result.instruments == [iid]
    for sid, fills in result.fills.items():
        assert_fills_inside_bars(fills, result.bars, result.bar_seconds)
        held = sum(q if side == "BUY" else -q for _, side, q, _, _ in fills)
        open_qty = sum((1 if t["side"] == "long" else -1) * t["qty"] for t in result.trades
                       if t["strategy"] == sid and t["exit_reason"] == "open")
        assert held == pytest.approx(open_qty, abs=1e-9), sid      # its fills net to its own position
        if account == "cash":
            assert all(t["side"] == "long" for t in result.trades if t["strategy"] == sid)
    assert_portfolio_identity(result, iid)
    demotions = [t for t in result.trips if t["action"] == "demote to paper"]
    if demotions:
        paper = np.array(result.paper_track["equity"])
        k = int(np.searchsorted(result.equity_ts, demotions[0]["ts"]))
        gap = max(0.0, 1 - paper[k] / paper[k - 1]) if k > 0 else 0.0
        assert result.metrics["max_drawdown"] <= 0.05 + gap + 1e-9
        assert len(demotions) == 1                  # no trips on paper while there is no capital
