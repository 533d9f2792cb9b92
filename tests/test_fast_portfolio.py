"""Portfolios on the fast engine (issue 28): ``run_portfolio_fast`` against NautilusTrader's
``run_portfolio`` on the same policy and data. Every member's fills (bar, side, quantity, price,
reason), every trade (with fees, PnL and decision traces), the equity curve, the breaker trips, the
switches, the challenge and the whole results JSON must be the same (the fast engine adds one note
saying it ran)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.data.bars import load_bars
from autobot.portfolio.engine import run_portfolio
from autobot.portfolio.fast_engine import Unsupported, run_portfolio_fast
from autobot.venue.settings import VenueSettings
from autobot.workspace import load_policy, load_runtime_policy, rebind_instruments
from tests.helpers import ROOT, SHARED_DATA, matrix_bars

EXAMPLE = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
EURUSD = SHARED_DATA / "oanda_eurusd_mid_1h_2007_2018.csv"
UNIVERSE = SHARED_DATA / "universe"
needs_shared = pytest.mark.skipif(not EURUSD.exists() or not (UNIVERSE / "spy_1d.csv").exists(),
                                  reason=f"SKIPPED LOUDLY: needs ../shared/data (not found at {SHARED_DATA})")
FAST_NOTE = "run on the fast engine (fills as NautilusTrader's: docs/fast.md)"


def assert_same(policy: Any, data: dict[str, Any], venue: VenueSettings = VenueSettings()) -> Any:
    """Both engines on ``policy``; everything they report is equal. Returns the Nautilus result."""
    a = run_portfolio(policy, data, venue, compare=False)
    b = run_portfolio_fast(policy, data, venue, compare=False)
    assert a.fills.keys() == b.fills.keys()
    for sid in a.fills:
        assert a.fills[sid] == b.fills[sid], sid
    assert a.trades == b.trades
    assert a.final_equity == b.final_equity
    assert len(a.equity) == len(b.equity)
    np.testing.assert_allclose(b.equity, a.equity, rtol=1e-9, atol=0)
    assert b.notes[-1] == FAST_NOTE
    ja, jb = a.to_json(), b.to_json()
    jb["notes"] = [n for n in jb["notes"] if n != FAST_NOTE]
    assert ja == jb
    return a


def _project(tmp: Path, policy: str, strategies: dict[str, str] | None = None) -> Path:
    shutil.copytree(ROOT / "strategies", tmp / "strategies")
    shutil.copytree(ROOT / "regimes", tmp / "regimes")
    for name, text in (strategies or {}).items():
        (tmp / "strategies" / f"{name}.yaml").write_text(text)
    (tmp / "policy.yaml").write_text(policy)
    return tmp / "policy.yaml"


@needs_shared
def test_the_shipped_policy_on_hourly_eurusd() -> None:
    """(a) policy.yaml as shipped (regimes, three strategies on one market, fixed shares, gross
    exposure cap, drawdown and daily-loss breakers, the challenge) on 6,000 EUR/USD hours."""
    policy = load_policy(ROOT / "policy.yaml")
    policy = rebind_instruments(policy, {"BTCUSDT.BINANCE": "EURUSD.OANDA"})
    bars = matrix_bars(EURUSD)
    a = assert_same(policy, {"EURUSD.OANDA": bars.slice(0, 6000)})
    assert sum(len(f) for f in a.fills.values()) > 300 and len(a.switches) > 100


def _universe(tmp: Path, files: dict[str, str], extra: str, start: int = 1500,
              allocations: str = "trend_ema: 100%") -> tuple[Any, dict[str, Any]]:
    (tmp / "data").mkdir()
    for iid, name in files.items():                          # the last years of each series
        lines = (UNIVERSE / name).read_text().splitlines(keepends=True)
        (tmp / "data" / name).write_text("".join(lines[:1] + lines[max(1, len(lines) - start):]))
    universe = "".join(f"  {iid}: data/{name}\n" for iid, name in files.items())
    path = _project(tmp, "policy: u\nregimes: regimes/regimes.yaml\nstrategies: [strategies/*.yaml]\nuniverse:\n"
                    + universe + "allocations:\n" + "".join(f"  {r}: {{{allocations}}}\n" for r in
                                                              ("trending", "ranging", "volatile", "calm"))
                    + "capital: 100000\n" + extra)
    for doc in (tmp / "strategies").glob("*.yaml"):
        doc.write_text(doc.read_text().replace("  bar: 1h", "  bar: 1d"))
    return load_runtime_policy(path), {iid: load_bars(tmp / "data" / name) for iid, name in files.items()}


ETFS = {"SPY.ARCA": "spy_1d.csv", "IWM.ARCA": "iwm_1d.csv", "EEM.ARCA": "eem_1d.csv", "USO.ARCA": "uso_1d.csv",
        "BNO.ARCA": "bno_1d.csv"}


@needs_shared
def test_a_universe_of_five_daily_etfs(tmp_path: Path) -> None:
    """(b) one strategy on five ETFs (different histories: BNO starts in 2010), risk parity, caps
    per instrument and asset class, on 3,000 days each."""
    policy, data = _universe(tmp_path, ETFS, "allocation_method: inverse_volatility\nrisk:\n"
                             "  max_instrument_exposure: 30%\n  max_asset_class_exposure: {equity: 90%}\n",
                             start=3000)
    a = assert_same(policy, data)
    assert len(a.fills) == 5 and all(a.fills.values())


@needs_shared
@pytest.mark.parametrize("extra", [
    "allocation_method: performance\n",
    "allocation_method: hrp\nrisk: {target_volatility: 8%}\n",
    "allocation_method: evidence\n",
    "allocation_method: fixed\non_leave: keep\nrisk: {max_open_positions: 2, max_net_exposure: 60%}\n",
])
def test_allocation_methods_and_limits_on_a_universe(tmp_path: Path, extra: str) -> None:
    """Every allocation method, a volatility target, on_leave keep and the gate's limits, two
    strategies on three ETFs (six members)."""
    files = {k: ETFS[k] for k in ("SPY.ARCA", "EEM.ARCA", "USO.ARCA")}
    policy, data = _universe(tmp_path, files, extra, allocations="trend_ema: 50%, momentum_breakout: 50%")
    assert_same(policy, data)


STOPS = """strategy: {name}
market: {{instrument: BTCUSDT.BINANCE, bar: 1h}}
indicators:
  fast: ema(close, {fast})
  slow: ema(close, {slow})
entry:
  long: crosses_above(fast, slow)
exit:
  long: crosses_below(fast, slow) and position.bars_held > 5
risk:
  stop_loss: {stop}
  take_profit: {take}
  trailing_stop: {trail}
sizing:
  equity_pct: 40%
"""


def test_two_strategies_with_stops_and_targets_in_a_cash_account(tmp_path: Path) -> None:
    """(c) two strategies on one market, each with a stop loss, a take profit and a trailing stop
    (percent and ATR), long only in a cash account, sharing its cash."""
    docs = {"a": STOPS.format(name="stops_a", fast=8, slow=21, stop="2%", take="3%", trail="none"),
            "b": STOPS.format(name="stops_b", fast=5, slow=13, stop="2 * atr(14)", take="none",
                              trail="1.5%")}
    path = _project(tmp_path, "policy: two\nregimes: regimes/regimes.yaml\nstrategies: [strategies/*.yaml]\n"
                    "allocations:\n  trending: {stops_a: 50%, stops_b: 50%}\n  ranging: {stops_a: 50%, stops_b: 50%}\n"
                    "  volatile: {stops_a: 50%, stops_b: 50%}\n  calm: {stops_a: 50%, stops_b: 50%}\n"
                    "capital: 100000\n", docs)
    a = assert_same(load_policy(path), {"BTCUSDT.BINANCE": load_bars(EXAMPLE)}, VenueSettings(account="cash"))
    reasons = {f[4] for fills in a.fills.values() for f in fills}
    assert {"stop_loss", "take_profit", "trailing_stop", "exit.long"} <= reasons


def test_drawdown_scaling_and_a_drawdown_breaker_that_trips(tmp_path: Path) -> None:
    """(d) risk scaled down with the drawdown, then the max_drawdown breaker trips (a cooldown:
    flatten, pause, a new peak), twice."""
    text = (ROOT / "policy.yaml").read_text().replace("max_drawdown: 5%", "max_drawdown: 1.5%\n  drawdown_scaling: true\n"
                                                       "  on_trip: {max_drawdown: {cooldown: 5d}}")
    path = _project(tmp_path, text)
    a = assert_same(load_policy(path), {"BTCUSDT.BINANCE": load_bars(EXAMPLE)})
    assert [t["reason"] for t in a.trips] == ["max_drawdown"] * 2 and len(a.resumes) == 2
    assert any("drawdown scaling lowered" in n for n in a.notes)


def test_the_cli_runs_a_policy_on_the_fast_engine_with_nautilus_json(tmp_path: Path) -> None:
    """``backtest --policy --engine fast``: the shipped policy on the example data (a demotion to
    paper, the challenge, daily-loss cooldowns) writes the Nautilus run's JSON; what it cannot
    reproduce is refused with exit 1."""
    import json
    outs = {}
    for engine in ("nautilus", "fast"):
        out = tmp_path / f"{engine}.json"
        r = CliRunner().invoke(app, ["backtest", "--policy", "policy.yaml", "--engine", engine, "--json", str(out)])
        assert r.exit_code == 0, r.output
        outs[engine] = json.loads(out.read_text())
    assert outs["fast"].pop("notes")[:-1] == outs["nautilus"].pop("notes")
    assert outs["fast"] == outs["nautilus"]
    assert outs["fast"]["paper_track"] is not None          # the shipped policy is demoted on this data
    r = CliRunner().invoke(app, ["backtest", "--policy", "policy.yaml", "--engine", "fast", "--slippage", "0.5"])
    assert r.exit_code == 1 and "--engine fast cannot reproduce this run exactly: --slippage" in r.output
    with pytest.raises(Unsupported, match="slippage"):
        run_portfolio_fast(load_policy(ROOT / "policy.yaml"), {"BTCUSDT.BINANCE": load_bars(EXAMPLE)},
                           VenueSettings(slippage=0.5))


def test_promote_when_evaluates_as_the_batch_evaluator() -> None:
    """The challenge's criterion runs on the language's small plan evaluator: the same answers as
    the batch evaluator, undefined metrics included."""
    from autobot.evaluate.batch import evaluate
    from autobot.portfolio.challenge import Criterion
    rng = np.random.default_rng(7)
    c = Criterion("sharpe > 1.5 and max_drawdown < 5% and (win_rate > 55% or not trades >= 20)")
    for _ in range(200):
        m = {"sharpe": rng.choice([None, np.nan, *rng.normal(1.5, 1, 3)]), "max_drawdown": rng.uniform(0, 0.1),
             "win_rate": rng.uniform(0.3, 0.8), "trades": int(rng.integers(0, 40))}
        one = np.zeros(1)
        row = type("Row", (), {"ts": np.zeros(1, dtype=np.int64), "open": one, "high": one, "low": one,
                               "close": one, "volume": one})()
        ext = {k: (float(m[k]) if m.get(k) is not None and np.isfinite(float(m[k])) else np.nan) for k in c.names
               if k in m}
        ext.update({k: np.nan for k in c.names if k not in m})
        batch = bool(np.asarray(evaluate(c.compiler.plan, row, ext)[c.node])[0])
        assert c(m) is batch


def test_a_trial_leaves_out_only_the_challenge_checks_its_score_does_not_read(tmp_path: Path) -> None:
    """``full_challenge=False`` (a study's trials, issue 28's speed): the members' challenge tracks
    are not checked, the portfolio's only once a breaker demoted it, because the headline equity
    is the capital line, which follows the portfolio's stage from then on. Here a 1.5% drawdown
    demotes the portfolio and a two-day challenge promotes it back (so the stage does move the
    headline), and everything a trial scores is the same as the full run's."""
    text = (ROOT / "policy.yaml").read_text().replace("max_drawdown: 5%", "max_drawdown: 1.5%").replace(
        "paper_days: 14", "paper_days: 2").replace(
        "promote_when: sharpe > 1.5 and max_drawdown < 5% and win_rate > 55% and trades >= 20",
        "promote_when: total_return > -5%\n  checks: {min_trades: 0, no_breaker_trip: false}\n"
        "  stages: [{capital: 50%, days: 2}, {capital: 100%}]")
    policy = load_policy(_project(tmp_path, text))
    data = {"BTCUSDT.BINANCE": load_bars(EXAMPLE)}
    full = run_portfolio_fast(policy, data, compare=False)
    trial = run_portfolio_fast(policy, data, compare=False, traces=False, full_challenge=False)
    moves = full.challenge["transitions"]
    back = [m for m in moves if m["subject"] == "portfolio" and m["from"] == "demoted"]
    assert back and any(m["subject"] != "portfolio" for m in moves), moves      # the stages moved the capital
    assert full.paper_track and full.metrics != full.paper_track                   # the headline is the capital line
    assert trial.fills == full.fills and trial.final_equity == full.final_equity
    np.testing.assert_array_equal(trial.equity, full.equity)
    assert trial.metrics == full.metrics and trial.paper_track == full.paper_track
    trial_moves = trial.challenge["transitions"]
    assert trial_moves and all(m["subject"] == "portfolio" for m in trial_moves)
    assert [m for m in trial_moves if m["from"] == "demoted"] == back
