"""``autobot backtest``: fills at the prices Nautilus' bar model gives, no lookahead, the same
decisions as ``autobot signals``, every shipped strategy on every real series, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from autobot.backtest.engine import run_backtest
from autobot.venue.instruments import InstrumentSettings
from autobot.cli.main import app
from autobot.data.bars import Bars, load_bars
from autobot.evaluate.batch import evaluate, rule_series
from autobot.evaluate.semantics import flat_externals
from autobot.workspace import compile_strategy_text, load_strategy
from tests.helpers import ROOT, SHARED_DATA, H, T0, ohlc_bars

NO_FEES = InstrumentSettings(price_precision=2, maker_fee=0.0, taker_fee=0.0)


def hand_bars(closes: list[float]) -> Bars:
    """Each bar opens at the previous close; high/low are the body; hourly from T0 (open times).

    Volume is large: Nautilus' bar model offers a quarter of a bar's volume at each price."""
    c = np.array(closes, dtype=float)
    o = np.concatenate(([c[0]], c[:-1]))
    return ohlc_bars(list(zip(o, np.maximum(o, c), np.minimum(o, c), c)))


PROTECT = """strategy: s
market: {{instrument: BTCUSDT.BINANCE, bar: 1h}}
entry:
  long: close > 100.5 and close[1] <= 100.5
exit:
  long: close > 1000
risk:
  stop_loss: {sl}
  take_profit: {tp}
  trailing_stop: {tr}
sizing:
  fixed_qty: 1
"""
#         bar: 0..4 flat, 5 -> 101 (entry at its close), 8 high 105, then down to 97
PATH = [100.0] * 5 + [101, 102, 103, 105, 104, 103, 102, 100, 98, 97]


@pytest.mark.parametrize("sl, tp, tr, price, bar, reason", [
    ("2", "none", "none", 99.0, 13, "stop_loss"),          # 101 - 2; bar 13 is the first low <= 99
    ("1%", "none", "none", 99.99, 13, "stop_loss"),        # 101 * 0.99; bar 12 stops at 100, bar 13 goes to 98
    ("none", "3", "none", 104.0, 8, "take_profit"),        # 101 + 3; bar 8's high 105 >= 104
    ("none", "4%", "none", 105.04, None, None),            # 101 * 1.04 never reached
    # peak 105 - 1.5: bar 8 walks 103 -> high 105 (the trail moves to 103.5) -> low 103, which triggers it.
    # NautilusTrader 1.221 trailed on the previous price point, so the trail lagged and bar 10 triggered.
    ("none", "none", "1.5", 103.5, 8, "trailing_stop"),
    ("none", "none", "2%", 102.9, 11, "trailing_stop"),    # peak 105 * 0.98; bar 11's low 102
    ("2", "3", "none", 104.0, 8, "take_profit"),           # whichever comes first; the other is cancelled
])
def test_protective_orders_fill_where_the_bar_model_says(sl: str, tp: str, tr: str, price: float,
                                                         bar: int | None, reason: str | None) -> None:
    compiled = compile_strategy_text(PROTECT.format(sl=sl, tp=tp, tr=tr), "s.yaml")
    result = run_backtest(compiled, hand_bars(PATH), instrument=NO_FEES)
    entry = result.fills[0]
    assert entry == (T0 + 6 * H, "BUY", 1.0, 101.0, "entry.long")     # bar 5's close, stamped at its close time
    if bar is None:
        assert len(result.fills) == 1 and result.trades[0]["exit_reason"] == "open"
        return
    assert result.fills[1:] == [(T0 + (bar + 1) * H, "SELL", 1.0, price, reason)]
    assert result.trades[0]["exit_reason"] == reason
    assert result.trades[0]["pnl"] == pytest.approx(price - 101.0)


GAP = """strategy: s
market: {{instrument: BTCUSDT.BINANCE, bar: 1h}}
entry:
  long: close > 99 and close[1] <= 99
exit:
  long: close > 1000
risk:
  stop_loss: {sl}
  take_profit: {tp}
sizing:
  fixed_qty: 1
"""
#        flat at 98, bar 3 closes at 100 (entry at its close); bar 4 gaps
_FLAT = [(98.0, 98.0, 98.0, 98.0)] * 3 + [(98.0, 100.0, 98.0, 100.0)]


@pytest.mark.parametrize("sl, tp, bar4, price, reason", [
    ("5%", "none", (80.0, 82.0, 78.0, 81.0), 80.0, "stop_loss"),       # stop 95, opens at 80: the open
    ("5%", "none", (99.0, 99.5, 90.0, 91.0), 95.0, "stop_loss"),       # opens above 95, trades through it
    ("none", "5%", (120.0, 125.0, 118.0, 121.0), 120.0, "take_profit"),  # target 105, opens at 120: the open
    ("none", "5%", (101.0, 107.0, 100.5, 106.0), 105.0, "take_profit"),  # opens under 105, trades through it
    ("5%", "5%", (80.0, 82.0, 78.0, 81.0), 80.0, "stop_loss"),         # both resting: the stop, at the open
])
def test_a_bar_that_opens_beyond_a_stop_or_target_fills_at_its_open(sl: str, tp: str, bar4: tuple, price: float,
                                                                    reason: str) -> None:
    compiled = compile_strategy_text(GAP.format(sl=sl, tp=tp), "s.yaml")
    bars = ohlc_bars(_FLAT + [bar4, (81.0, 81.0, 81.0, 81.0)])
    result = run_backtest(compiled, bars, instrument=NO_FEES)
    assert result.fills[0] == (T0 + 4 * H, "BUY", 1.0, 100.0, "entry.long")
    assert result.fills[1:] == [(T0 + 5 * H, "SELL", 1.0, price, reason)]
    assert bar4[2] <= price <= bar4[1]
    assert result.trades[0]["pnl"] == pytest.approx(price - 100.0)


def test_a_short_stop_gapped_through_fills_at_the_open() -> None:
    doc = GAP.format(sl="5%", tp="none").replace("long: close > 99 and close[1] <= 99", "short: close > 99 and close[1] <= 99") \
        .replace("  long: close > 1000", "  short: close > 1000")
    bars = ohlc_bars(_FLAT + [(112.0, 115.0, 111.0, 114.0), (114.0, 114.0, 114.0, 114.0)])
    result = run_backtest(compile_strategy_text(doc, "s.yaml"), bars, instrument=NO_FEES)
    assert result.fills == [(T0 + 4 * H, "SELL", 1.0, 100.0, "entry.short"),
                            (T0 + 5 * H, "BUY", 1.0, 112.0, "stop_loss")]      # stop 105; opens at 112


def test_short_side_and_reversal() -> None:
    doc = """strategy: s
market: {instrument: BTCUSDT.BINANCE, bar: 1h}
entry:
  long: close > close[1]
  short: close < close[1]
sizing:
  fixed_qty: 2
"""
    compiled = compile_strategy_text(doc, "s.yaml")
    result = run_backtest(compiled, hand_bars([100, 100, 101, 99, 98, 102]), instrument=NO_FEES)
    assert [f[1:] for f in result.fills] == [
        ("BUY", 2.0, 101.0, "entry.long"),
        ("SELL", 2.0, 99.0, "reverse"), ("SELL", 2.0, 99.0, "entry.short"),
        ("BUY", 2.0, 102.0, "reverse"), ("BUY", 2.0, 102.0, "entry.long"),
    ]
    assert [t["pnl"] for t in result.trades[:2]] == [pytest.approx(-4.0), pytest.approx(-6.0)]


def test_risk_per_trade_sizing_rounds_down_to_the_size_increment() -> None:
    doc = PROTECT.format(sl="2", tp="none", tr="none").replace("fixed_qty: 1", "risk_per_trade: 1%")
    result = run_backtest(compile_strategy_text(doc, "s.yaml"), hand_bars(PATH), instrument=NO_FEES)
    # risk 1% of 100,000 over a 2.00 stop = 500 units
    assert result.fills[0][2] == 500.0
    doc = doc.replace("risk_per_trade: 1%", "equity_pct: 10%")
    result = run_backtest(compile_strategy_text(doc, "s.yaml"), hand_bars(PATH), instrument=NO_FEES)
    assert result.fills[0][2] == float(np.floor(10_000 / 101 * 1e6) / 1e6)


# ---------------------------------------------------------------------- no lookahead
EXAMPLE = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"


@settings(max_examples=6, deadline=None)
@given(cut=st.integers(200, 2900))
def test_cutting_the_data_changes_no_earlier_decision(cut: int) -> None:
    compiled = load_strategy(ROOT / "strategies" / "momentum.yaml")
    bars = load_bars(EXAMPLE)
    full = run_backtest(compiled, bars)
    part = run_backtest(compiled, bars.slice(0, cut))
    last_close = int(bars.ts[cut - 1]) + H
    assert [f for f in full.fills if f[0] <= last_close] == part.fills
    assert full.equity[:cut].tolist() == part.equity.tolist()


# ---------------------------------------------------------------------- same decisions as signals
@pytest.mark.parametrize("name", ["trend", "mean_reversion", "momentum"])
def test_entries_and_exits_are_where_signals_says(name: str) -> None:
    compiled = load_strategy(ROOT / "strategies" / f"{name}.yaml")
    bars = load_bars(SHARED_DATA / "btc_perp_1m_20211231_20220201.csv") if SHARED_DATA.exists() else \
        load_bars(EXAMPLE)
    result = run_backtest(compiled, bars)
    hourly = result.bars
    values = evaluate(compiled.plan, hourly, flat_externals())
    rules = {r: rule_series(compiled.plan, values, r) for r in compiled.plan.rules}
    index = {int(t) + H: k for k, t in enumerate(hourly.ts)}          # close time -> bar
    entries = {(index[f[0]], f[4]) for f in result.fills if f[4].startswith("entry.")}
    exits = {(index[f[0]], f[4]) for f in result.fills if f[4].startswith("exit.")}
    assert entries, "no entries to compare"
    held = result.exposure
    expected_entries = set()
    for k in range(len(hourly)):
        side = {1: "long", -1: "short", 0: "flat"}[int(held[k])]
        exit_fires = side != "flat" and rules.get(f"exit.{side}", np.zeros(1, bool))[k] \
            if f"exit.{side}" in rules else False
        if exit_fires:
            assert (k, f"exit.{side}") in exits or "position" in str(compiled.document.exit)
            side = "flat"
        want = [s for s in ("long", "short") if f"entry.{s}" in rules and rules[f"entry.{s}"][k]]
        if len(want) == 1 and want[0] != side:
            expected_entries.add((k, f"entry.{want[0]}"))
    assert entries == expected_entries
    for k, rule in exits:
        assert rules[rule][k] or "position" in str(getattr(compiled.document.exit, rule.split(".")[1]))


# Every shipped and example strategy on every shared series (each fill inside its bar, one equity point
# a bar, the shipped ones trade everywhere): tests/test_fast_engine.py, where one Nautilus run serves
# both that and the fast engine's parity.


# ---------------------------------------------------------------------- the command
def test_cli_backtest_default_data_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["backtest", str(ROOT / "strategies" / "trend.yaml"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "annual return" in result.output and "buy & hold" in result.output
    data = json.loads(out.read_text())
    for key in ("total_return", "annual_return", "sharpe", "sortino", "max_drawdown", "win_rate",
                "profit_factor", "trades", "exposure", "trade_list", "buy_and_hold", "success_bar"):
        assert key in data
    # the default data: the real Coinbase BTC/USD hours shipped in examples/data (its README)
    assert data["bars"] == 9154 and data["start"] == "2018-10-01T00:00:00Z"
    assert data["trades"] == len([t for t in data["trade_list"]
                                                           if t["exit_reason"] != "open"])
    first = data["trade_list"][0]
    assert first["entry_rule"] in ("entry.long", "entry.short") and "ema_fast=" in first["entry_why"]


def test_cli_backtest_invalid_document_never_starts_the_engine(tmp_path: Path) -> None:
    doc = tmp_path / "bad.yaml"
    doc.write_text((ROOT / "strategies" / "trend.yaml").read_text().replace("ema(close, fast)", "emma(close, fast)"))
    result = CliRunner().invoke(app, ["backtest", str(doc), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 1
    assert "bad.yaml:14:13: error: unknown function 'emma'" in result.output
    assert not (tmp_path / "r.json").exists() and "annual return" not in result.output


def test_cli_backtest_binds_data_to_instruments(tmp_path: Path) -> None:
    trend = str(ROOT / "strategies" / "trend.yaml")
    ok = CliRunner().invoke(app, ["backtest", trend, "--data", f"BTCUSDT.BINANCE={EXAMPLE}", "--start", "2024-03-01"])
    assert ok.exit_code == 0, ok.output
    assert "2024-03-01T00:00:00Z" in ok.output
    wrong = CliRunner().invoke(app, ["backtest", trend, "--data", f"ETHUSDT.BINANCE={EXAMPLE}"])
    assert wrong.exit_code == 2 and "no --data for BTCUSDT.BINANCE" in wrong.output
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1,1\n"
                   "2024-01-01T01:00:00Z,1,0.5,2,1,1\n")
    broken = CliRunner().invoke(app, ["backtest", trend, "--data", str(bad)])
    assert broken.exit_code == 1 and "bad.csv:3" in broken.output


def test_catalog_bars_backtest_like_the_csv(tmp_path: Path) -> None:
    from nautilus_trader.model.data import BarType
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from autobot.backtest.data import to_nautilus
    from autobot.venue.instruments import make_instrument
    from autobot.data.catalog import load_catalog_bars

    bars = load_bars(EXAMPLE)
    inst = make_instrument("BTCUSDT.BINANCE", [bars.close])
    catalog = ParquetDataCatalog(str(tmp_path / "catalog"))
    catalog.write_data([inst])
    catalog.write_data(to_nautilus(bars, BarType.from_str("BTCUSDT.BINANCE-1-HOUR-LAST-EXTERNAL"), inst, 3600))
    back = load_catalog_bars(tmp_path / "catalog", "BTCUSDT.BINANCE", 3600)
    assert np.array_equal(back.ts, bars.ts) and np.array_equal(back.close, bars.close)
    compiled = load_strategy(ROOT / "strategies" / "trend.yaml")
    assert run_backtest(compiled, back).fills == run_backtest(compiled, bars).fills
    result = CliRunner().invoke(app, ["backtest", str(ROOT / "strategies" / "trend.yaml"),
                                      "--catalog", str(tmp_path / "catalog")])
    assert result.exit_code == 0, result.output
    missing = CliRunner().invoke(app, ["backtest", str(ROOT / "strategies" / "trend.yaml"), "--catalog",
                                       str(tmp_path / "catalog"), "--instrument", "ETHUSDT.BINANCE"])
    assert missing.exit_code == 1 and "no bars for ETHUSDT.BINANCE" in missing.output


def test_document_market_settings_and_command_line_overrides(tmp_path: Path) -> None:
    doc = tmp_path / "s.yaml"
    doc.write_text(PROTECT.format(sl="2", tp="none", tr="none").replace(
        "bar: 1h}", "bar: 1h, taker_fee: 0.01, size_precision: 2}"))
    data = tmp_path / "bars.csv"
    from autobot.data.bars import write_bars_csv
    write_bars_csv(hand_bars(PATH), data)
    out = tmp_path / "r.json"
    assert CliRunner().invoke(app, ["backtest", str(doc), "--data", str(data), "--json", str(out)]).exit_code == 0
    first = json.loads(out.read_text())["trade_list"][0]
    assert first["fees"] == pytest.approx((101.0 + 99.0) * 0.01)         # the document's taker fee, in and out
    assert CliRunner().invoke(app, ["backtest", str(doc), "--data", str(data), "--json", str(out),
                                    "--taker-fee", "0"]).exit_code == 0
    assert json.loads(out.read_text())["trade_list"][0]["fees"] == 0.0   # the command line wins


def test_trade_bars_count_the_bars_held() -> None:
    stop = compile_strategy_text(PROTECT.format(sl="2", tp="none", tr="none"), "s.yaml")
    assert run_backtest(stop, hand_bars(PATH), instrument=NO_FEES).trades[0]["bars"] == 13 - 5
    rule = compile_strategy_text(PROTECT.format(sl="none", tp="none", tr="none").replace(
        "long: close > 1000", "long: position.bars_held >= 3"), "s.yaml")
    trade = run_backtest(rule, hand_bars(PATH), instrument=NO_FEES).trades[0]
    assert (trade["bars"], trade["exit_ts"], trade["exit_reason"]) == (3, T0 + 9 * H, "exit.long")


def test_a_strategy_reading_regime_gets_the_projects_regimes_alone(tmp_path: Path) -> None:
    from autobot.diagnostics import DiagnosticSink
    from autobot.documents.load import load_file
    from autobot.documents.validate import validate_document
    from autobot.language.compile import compile_regimes
    from autobot.evaluate.regime import regime_series
    source = load_file(ROOT / "regimes" / "regimes.yaml")
    model, _ = validate_document(source)
    regimes = compile_regimes(source, model, DiagnosticSink())
    doc = "strategy: r\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\nentry:\n  long: regime == 'trending'\n" \
          "exit:\n  long: regime != 'trending'\nsizing:\n  fixed_qty: 0.1\n"
    bars = load_bars(EXAMPLE)
    result = run_backtest(compile_strategy_text(doc, "r.yaml"), bars, regimes=regimes)
    series = regime_series(regimes, bars)
    index = {int(t) + H: k for k, t in enumerate(bars.ts)}
    assert result.trades and all(series[index[t["entry_ts"]]] == "trending" for t in result.trades)
    assert all(t["exit_reason"] == "open" or series[index[t["exit_ts"]]] != "trending" for t in result.trades)
    (tmp_path / "r.yaml").write_text(doc)
    cli = CliRunner().invoke(app, ["backtest", str(tmp_path / "r.yaml"), "--data", str(EXAMPLE), "--regimes",
                                   str(ROOT / "regimes" / "regimes.yaml"), "--json", str(tmp_path / "r.json")])
    assert cli.exit_code == 0, cli.output
    assert json.loads((tmp_path / "r.json").read_text())["trades"] == result.metrics["trades"]


# ---------------------------------------------------------------------- money bugs (issue: numbers you can trust)
ALL_IN = "strategy: allin\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\nentry:\n  long: close > 0\n"


def test_a_cash_account_never_overdraws_and_matches_buy_and_hold() -> None:
    from autobot.venue.settings import VenueSettings
    result = run_backtest(compile_strategy_text(ALL_IN, "allin.yaml"), load_bars(EXAMPLE), VenueSettings(account="cash"))
    entry = result.fills[0]
    assert entry[4] == "entry.long" and entry[2] * entry[3] * 1.001 <= 100_000.0     # room for the 0.1% fee
    assert len(result.equity) == 3000                                                 # no halt: every bar traded
    # bought at the first close and held: buy-and-hold to within a few cents of rounding
    assert result.final_equity == pytest.approx(result.buy_and_hold["final_equity"], abs=5.0)
    assert result.metrics["exposure"] > 0.99


def test_a_run_the_engine_stopped_or_that_had_orders_refused_fails_with_the_bar_and_cause() -> None:
    from types import SimpleNamespace

    from autobot.backtest.engine import check_run
    from autobot.diagnostics import RunError
    from nautilus_trader.model.objects import Money
    balance = SimpleNamespace(total=Money(-99.97, USDT()))
    halted = SimpleNamespace(bars_seen=1, equity_ts=[T0 + H], refusals=[])
    with pytest.raises(RunError, match=r"s.yaml: trading stopped at the bar closing 2023-11-14T23:13:20Z "
                                       r"\(bar 1 of 3,000\): the account balance went negative \(-99.97 USDT\)"):
        check_run("s.yaml", halted, 3000, SimpleNamespace(balances=lambda: {"USDT": balance}))
    refused = SimpleNamespace(bars_seen=10, equity_ts=[T0 + H], refusals=[
        {"ts": T0 + 2 * H, "how": "denied", "reason": "CUM_NOTIONAL_EXCEEDS_FREE_BALANCE", "order": "entry.long"}])
    with pytest.raises(RunError, match="an order was denied at the bar closing .*entry.long: CUM_NOTIONAL"):
        check_run("s.yaml", refused, 10, None)
    check_run("s.yaml", SimpleNamespace(bars_seen=10, equity_ts=[T0], refusals=[]), 10, None)   # a clean run


def USDT():
    from nautilus_trader.model.currencies import USDT as C
    return C


@pytest.mark.parametrize("leverage", [1.0, 3.0])
def test_notional_is_capped_at_equity_times_leverage(leverage: float) -> None:
    from autobot.venue.settings import VenueSettings
    doc = PROTECT.format(sl="0.1%", tp="none", tr="none").replace("fixed_qty: 1", "risk_per_trade: 2%")
    result = run_backtest(compile_strategy_text(doc, "s.yaml"), hand_bars(PATH), VenueSettings(leverage=leverage),
                          instrument=NO_FEES)
    qty, price = result.fills[0][2], result.fills[0][3]
    # 2% of 100,000 over a 0.101 stop would be 19,801 units (2,000,000 notional); the cap is equity x leverage
    assert qty * price <= 100_000.0 * leverage + 1e-6
    assert qty * price > 100_000.0 * leverage * 0.999


def test_exposure_counts_the_bar_in_which_a_stop_fills() -> None:
    compiled = compile_strategy_text(GAP.format(sl="5%", tp="none"), "s.yaml")
    bars = ohlc_bars(_FLAT + [(99.0, 99.5, 90.0, 91.0)] + [(91.0, 91.0, 91.0, 91.0)] * 5)     # 10 bars
    result = run_backtest(compiled, bars, instrument=NO_FEES)
    assert result.trades[0]["exit_reason"] == "stop_loss" and result.trades[0]["bars"] == 1
    assert result.metrics["exposure"] == pytest.approx(0.1)       # one bar held of ten


def test_short_series_give_no_annual_figures_and_the_cli_says_why(tmp_path: Path) -> None:
    from autobot.backtest.metrics import compute
    four = tmp_path / "four.csv"
    four.write_text("".join(EXAMPLE.read_text().splitlines(keepends=True)[:5]))
    m = compute(np.array([100_000.0, 100_500, 101_000, 100_800]), T0 + np.arange(4) * H, H, 100_000.0, 100_900.0,
                [], np.zeros(4))
    assert m["annual_return"] is None and m["sharpe"] is None and m["sortino"] is None
    assert m["total_return"] == pytest.approx(0.009) and m["span_days"] == pytest.approx(4 / 24)
    out = CliRunner().invoke(app, ["backtest", str(ROOT / "strategies" / "trend.yaml"), "--data", str(four)])
    assert out.exit_code == 1 and "the data has 4 bars" in out.output       # its EMAs never get a value
    quick = tmp_path / "quick.yaml"
    quick.write_text("strategy: quick\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\n"
                     "entry: {long: close > open}\nexit: {long: close < open}\nrisk: {stop_loss: 2%}\n")
    out = CliRunner().invoke(app, ["backtest", str(quick), "--data", str(four)])
    assert out.exit_code == 0, out.output
    assert "not meaningful" in out.output and "under 30 days" in out.output.replace("\n", " ")


@pytest.mark.parametrize("args, message", [
    (["backtest", "--bogus"], "error: No such option: --bogus"),
    (["backtest", "strategies/trend.yaml", "--capital", "abc"], "error: Invalid value for '--capital'"),
    (["backtest", "strategies/trend.yaml", "--start", "2024-13-45"], "error: --start '2024-13-45' is not a date"),
    (["backtest", "strategies/trend.yaml", "--catalog", "no/such/folder"], "error: --catalog no/such/folder: no such"),
    (["backtest", "--policy", "policy.yaml", "--end", "nope"], "error: --end 'nope' is not a date"),
    (["nosuch"], "error: No such command 'nosuch'"),
])
def test_usage_errors_are_one_line_and_exit_two(args: list[str], message: str) -> None:
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "autobot.cli.main", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), out.stderr
    assert "─" not in out.stderr and "Traceback" not in out.stderr


def test_a_param_override_error_points_at_the_param(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["backtest", str(ROOT / "strategies" / "trend.yaml"), "--param", "fast=500"])
    assert out.exit_code == 1
    assert "trend.yaml:8:3: error: override fast=500 is outside 5..30" in out.output
    out = CliRunner().invoke(app, ["backtest", str(ROOT / "strategies" / "trend.yaml"), "--param", "fats=5"])
    assert out.exit_code == 1 and "trend.yaml:7:1: error: override of unknown param 'fats' (did you mean 'fast'?)" \
        in out.output


def test_no_colour_codes_go_to_a_pipe() -> None:
    import subprocess
    import sys

    from autobot.venue.settings import logging_config
    assert logging_config().log_colors is False            # stderr is not a terminal under pytest
    out = subprocess.run([sys.executable, "-m", "autobot.cli.main", "backtest", "strategies/trend.yaml",
                          "--data", "examples/data/example_btcusdt_1h.csv", "--end", "2024-01-03"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "\x1b[" not in out.stdout and "\x1b[" not in out.stderr
    assert "not meaningful" in out.stdout                  # two days: no annual figures


@pytest.mark.parametrize("option", ["--capital nan", "--capital 0", "--capital -5", "--capital inf", "--leverage 0",
                                    "--leverage -1", "--slippage 2", "--slippage -0.1", "--price-precision -1",
                                    "--size-precision 40", "--taker-fee 5", "--maker-fee nan", "--param fast=nan",
                                    "--param fast=inf"])
def test_every_option_is_range_checked(option: str) -> None:
    out = CliRunner().invoke(app, ["backtest", str(ROOT / "strategies" / "trend.yaml"), *option.split()])
    assert out.exit_code == 2, out.output
    assert out.output.strip().startswith(f"error: {option.split()[0]}") and len(out.output.strip().splitlines()) == 1


@pytest.mark.parametrize("speed", ["nan", "0", "-1", "1e-300", "inf"])
def test_live_speed_is_range_checked(speed: str) -> None:
    out = CliRunner().invoke(app, ["live", "--policy", str(ROOT / "policy.yaml"), "--replay", str(EXAMPLE),
                                   "--speed", speed])
    assert out.exit_code == 2 and out.output.strip().startswith(f"error: --speed {speed}"), out.output
