"""The market a file holds, as the command line says (issue 25, parts 4 and 5): ``--instrument``,
``--venue`` and ``--account`` for policies, checked instrument ids, the cost model in the header
and the JSON, a note when the prices suggest another market, and policies on daily data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from tests.helpers import ROOT, SHARED_DATA

EURUSD = SHARED_DATA / "oanda_eurusd_mid_1h_2007_2018.csv"
SPY = SHARED_DATA / "spy_1d_19991101_20200828.csv"
needs_data = pytest.mark.skipif(not EURUSD.exists() or not SPY.exists(),
                                reason=f"SKIPPED LOUDLY: needs ../shared/data (not found at {SHARED_DATA})")
WINDOW = ["--start", "2017-04-01", "--end", "2017-10-01"]


def run(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(app, list(args))
    return out.exit_code, out.output


@needs_data
def test_a_policy_runs_on_the_market_the_file_holds(tmp_path: Path) -> None:
    """The shipped policy's documents name BTCUSDT.BINANCE: on EUR/USD data it was charged Binance's
    0.1% a side (20,926 of fees on 100k) whatever the data, and --instrument was silently ignored."""
    as_is, as_fx = tmp_path / "as_is.json", tmp_path / "fx.json"
    code, text = run("backtest", "--policy", str(ROOT / "policy.yaml"), "--data", str(EURUSD), *WINDOW,
                     "--json", str(as_is))
    assert code == 0, text
    first = json.loads(as_is.read_text())
    assert first["fees"] > 0 and "crypto venue BINANCE" in first["cost_models"]["BTCUSDT.BINANCE"]
    assert any("look like an FX rate" in n or "names EURUSD" in n for n in first["notes"])
    code, text = run("backtest", "--policy", str(ROOT / "policy.yaml"), "--data", str(EURUSD), *WINDOW,
                     "--instrument", "EURUSD.OANDA", "--json", str(as_fx))
    assert code == 0, text
    fx = json.loads(as_fx.read_text())
    assert fx["instruments"] == ["EURUSD.OANDA"] and 0 < fx["fees"] < first["fees"] / 5
    assert fx["cost_models"]["EURUSD.OANDA"].startswith("FX pair: no commission; half a one-pip spread")
    for t in fx["trade_list"]:                 # half a pip (0.00005 USD) a euro, on each side, in cents
        sides = 1 if t["exit_reason"] == "open" else 2
        assert t["fees"] == pytest.approx(sides * round(0.00005 * t["qty"], 2), abs=0.011), t
    assert "costs of EURUSD.OANDA: FX pair" in text.replace("\n", " ")
    assert not any("FX rate" in n for n in fx["notes"])


@needs_data
def test_venue_and_instrument_ids_are_checked(tmp_path: Path) -> None:
    code, text = run("backtest", str(ROOT / "strategies" / "trend.yaml"), "--instrument", "BTCUSDT.BINANCE\n")
    assert code == 2 and "whitespace or control characters" in text
    code, text = run("backtest", "--policy", str(ROOT / "policy.yaml"), "--instrument", "EURUSD")
    assert code == 2 and "SYMBOL.VENUE" in text
    code, text = run("backtest", "--policy", str(ROOT / "policy.yaml"), "--venue", "OAN DA")
    assert code == 2 and "--venue" in text
    out = tmp_path / "v.json"
    code, text = run("backtest", str(ROOT / "strategies" / "trend.yaml"), "--data", str(EURUSD), *WINDOW,
                     "--instrument", "EURUSD.FXCM", "--venue", "OANDA", "--json", str(out))
    assert code == 0, text
    assert json.loads(out.read_text())["instrument"] == "EURUSD.OANDA"


@needs_data
def test_a_policy_on_daily_data_runs_daily_on_a_cash_account(tmp_path: Path) -> None:
    """Policies on daily data ran as hourly bars (trips stamped 01:00); --account was not passed
    to a policy at all."""
    out = tmp_path / "spy.json"
    code, text = run("backtest", "--policy", str(ROOT / "policy.yaml"), "--data", str(SPY), "--instrument",
                     "SPY.ARCA", "--account", "cash", "--start", "2008-01-01", "--end", "2014-01-01", "--json", str(out))
    assert code == 0, text
    result = json.loads(out.read_text())
    assert result["bar"] == "1-DAY-LAST"
    assert any("asks for 3600 s bars; the data has 86400 s bars" in n for n in result["notes"])
    assert result["trade_list"] and all(t["side"] == "long" for t in result["trade_list"])
    assert all(t["entry_ts"] % 86_400_000_000_000 == 0 for t in result["trade_list"])   # at daily closes


@needs_data
def test_a_paper_node_trades_the_market_the_file_holds(tmp_path: Path) -> None:
    """`autobot live --replay --instrument`: the shipped policy on EUR/USD paper-trades exactly as
    `backtest --policy --instrument` does, with the FX cost model (was: the documents' crypto venue)."""
    lines = EURUSD.read_text().splitlines(keepends=True)
    data = tmp_path / "eurusd.csv"
    data.write_text("".join(lines[:1] + lines[60_000:64_000]))
    live, back = tmp_path / "live.json", tmp_path / "back.json"
    code, text = run("live", "--policy", str(ROOT / "policy.yaml"), "--replay", str(data), "--instrument",
                     "EURUSD.OANDA", "--state", str(tmp_path / "s.sqlite"), "--json", str(live))
    assert code == 0, text
    code, text = run("backtest", "--policy", str(ROOT / "policy.yaml"), "--data", str(data), "--instrument",
                     "EURUSD.OANDA", "--json", str(back))
    assert code == 0, text
    a, b = json.loads(live.read_text()), json.loads(back.read_text())
    assert a["instruments"] == ["EURUSD.OANDA"] and a["cost_models"] == b["cost_models"]
    assert a["final_equity"] == b["final_equity"] and a["fees"] == b["fees"]
    assert [(t["strategy"], t["entry_ts"], t["qty"]) for t in a["trade_list"]] == \
        [(t["strategy"], t["entry_ts"], t["qty"]) for t in b["trade_list"]]
    code, text = run("live", "--policy", str(ROOT / "policy.yaml"), "--instrument", "EURUSD.OANDA")
    assert code == 2 and "go with --replay" in text
