"""``autobot signals`` against direct TA-Lib calls on the real data in ../shared/data/."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest
import talib
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.data.bars import load_bars
from autobot.evaluate.signals import write_signals
from autobot.workspace import load_strategy
from tests.helpers import ROOT, SHARED_DATA

DATA_FILES = sorted(SHARED_DATA.glob("*.csv")) if SHARED_DATA.is_dir() else []
pytestmark = pytest.mark.skipif(not DATA_FILES, reason="../shared/data not present")


def read_signals(strategy: Path, data: Path) -> tuple[list[str], list[list[str]]]:
    out = io.StringIO()
    write_signals(load_strategy(strategy), load_bars(data), out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    return rows[0], rows[1:]


def column(header: list[str], rows: list[list[str]], name: str) -> np.ndarray:
    k = header.index(name)
    return np.array([float(r[k]) if r[k] else math.nan for r in rows])


def flags(header: list[str], rows: list[list[str]], name: str) -> list[str]:
    k = header.index(name)
    return [r[k] for r in rows]


def cross_above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a1, b1 = np.roll(a, 1), np.roll(b, 1)
    a1[0] = b1[0] = np.nan
    with np.errstate(invalid="ignore"):
        return (a > b) & (a1 <= b1)


@pytest.mark.parametrize("data", DATA_FILES, ids=lambda p: p.stem)
def test_trend_signals_equal_direct_talib(data: Path) -> None:
    header, rows = read_signals(ROOT / "strategies" / "trend.yaml", data)
    assert header == ["timestamp", "ema_fast", "ema_slow", "mom", "entry.long", "entry.short", "exit.long",
                      "exit.short"]
    bars = load_bars(data)
    assert len(rows) == len(bars)
    fast, slow, mom = talib.EMA(bars.close, 12), talib.EMA(bars.close, 26), talib.ROC(bars.close, 10)
    for name, expected in (("ema_fast", fast), ("ema_slow", slow), ("mom", mom)):
        got = column(header, rows, name)
        np.testing.assert_array_equal(got, expected)   # full precision: repr round-trips exactly
    warm = 26
    up = cross_above(fast, slow)
    down = cross_above(slow, fast)
    with np.errstate(invalid="ignore"):
        expected_long = up & (mom > 0)
        expected_short = down & (mom < 0)
    for name, expected in (("entry.long", expected_long), ("entry.short", expected_short),
                           ("exit.long", down), ("exit.short", up)):
        got = flags(header, rows, name)
        assert got[:warm] == [""] * min(warm, len(rows))
        assert got[warm:] == ["true" if x else "false" for x in expected[warm:]]


def test_mean_reversion_bollinger_and_rsi_columns_equal_talib() -> None:
    data = SHARED_DATA / "orcl_1d_1995_2014.csv"
    header, rows = read_signals(ROOT / "strategies" / "mean_reversion.yaml", data)
    bars = load_bars(data)
    upper, middle, lower = talib.BBANDS(bars.close, 20, 2.0, 2.0, 0)
    np.testing.assert_array_equal(column(header, rows, "bb.upper"), upper)
    np.testing.assert_array_equal(column(header, rows, "bb.middle"), middle)
    np.testing.assert_array_equal(column(header, rows, "bb.lower"), lower)
    np.testing.assert_array_equal(column(header, rows, "rsi"), talib.RSI(bars.close, 14))
    with np.errstate(invalid="ignore"):
        below = bars.close < lower
    got = flags(header, rows, "stretched_low")
    assert got[19:] == ["true" if x else "false" for x in below[19:]]
    assert got[:19] == [""] * 19


def test_momentum_breakout_uses_prior_highs_only() -> None:
    data = SHARED_DATA / "freqtrade_eth_btc_5m_20180110_20180130.csv"
    header, rows = read_signals(ROOT / "strategies" / "momentum.yaml", data)
    bars = load_bars(data)
    prior_high = np.concatenate(([np.nan], talib.MAX(bars.high, 20)[:-1]))
    np.testing.assert_array_equal(column(header, rows, "prior_high"), prior_high)
    np.testing.assert_array_equal(column(header, rows, "adx14"), talib.ADX(bars.high, bars.low, bars.close, 14))


def test_cli_signals_writes_the_contract_csv(tmp_path: Path) -> None:
    out = tmp_path / "signals.csv"
    data = SHARED_DATA / "binance_adabtc_1m_20211127_20211128.csv"
    result = CliRunner().invoke(app, ["signals", str(ROOT / "strategies" / "trend.yaml"), "--data", str(data),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    # the 21 one-minute bars resampled to the strategy's 1h bars, as the backtest does: 2 hours
    assert rows[0][0] == "timestamp" and len(rows) == 3
    assert "resampled to the strategy's 3600 s bars" in result.output
    assert rows[1][0] == "2021-11-27T00:00:00Z" and rows[2][0] == "2021-11-28T00:00:00Z"
    assert rows[1][1] == "" and rows[1][4] == ""           # ema_fast undefined, rule in warm-up
    assert rows[-1][4] == ""                                # 2 bars < warm-up 26: no rule value yet


def test_cli_signals_reads_binance_klines_and_stdout() -> None:
    raw = SHARED_DATA / "raw" / "nautilus_trader" / "ADABTC-1m-2021-11-27.csv"
    result = CliRunner().invoke(app, ["signals", str(ROOT / "strategies" / "trend.yaml"), "--data", str(raw)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("timestamp,ema_fast")
    assert lines[1].startswith("2021-11-27T00:00:00Z,")


def test_cli_signals_reports_a_bad_row_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
                   "2024-01-01T01:00:00Z,1,2,0.5,abc,10\n")
    result = CliRunner().invoke(app, ["signals", str(ROOT / "strategies" / "trend.yaml"), "--data", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3:" in result.stderr or "bad.csv:3:" in result.stderr


def test_cli_signals_refuses_an_invalid_strategy(tmp_path: Path) -> None:
    doc = tmp_path / "s.yaml"
    doc.write_text((ROOT / "strategies" / "trend.yaml").read_text().replace("ema(close, fast)", "emma(close, fast)"))
    result = CliRunner().invoke(app, ["signals", str(doc), "--data", str(DATA_FILES[0])])
    assert result.exit_code == 1
    assert "unknown function 'emma' (did you mean 'ema'?)" in result.stderr


def test_confidence_is_a_column_after_the_rules(tmp_path) -> None:
    import io

    from autobot.data.bars import load_bars
    from autobot.evaluate.signals import write_signals
    from autobot.workspace import compile_strategy_text
    text = (ROOT / "strategies" / "trend.yaml").read_text() + "confidence: mom > 1\n"
    compiled = compile_strategy_text(text, "trend.yaml")
    out = io.StringIO()
    write_signals(compiled, load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv"), out)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("exit.long,exit.short,confidence")
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {"", "true", "false"}


def test_signals_shows_the_bars_the_backtest_decides_on(tmp_path: Path) -> None:
    """A 1h strategy on 1-minute data: signals resamples as the backtest does, and says so."""
    from typer.testing import CliRunner

    from autobot.backtest.engine import prepare_bars
    from autobot.cli.main import app
    from autobot.data.bars import load_bars
    from autobot.workspace import load_strategy
    data = SHARED_DATA / "btc_perp_1m_20211231_20220201.csv"
    if not data.exists():
        pytest.skip("../shared/data is not available (btc_perp_1m_20211231_20220201.csv)")
    out = tmp_path / "s.csv"
    doc = ROOT / "strategies" / "trend.yaml"
    result = CliRunner().invoke(app, ["signals", str(doc), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "resampled to the strategy's 3600 s bars" in result.output
    hourly = prepare_bars(load_strategy(doc), load_bars(data))[0]
    rows = out.read_text().splitlines()[1:]
    assert len(rows) == len(hourly) < 45_031 / 50
