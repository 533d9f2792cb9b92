"""Universes (issue 28, first part): one strategy across many markets, each (strategy, instrument)
with its own position, instruments with different histories aligned without lookahead."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.data.bars import load_bars
from tests.helpers import ROOT, SHARED_DATA

UNIVERSE = SHARED_DATA / "universe"
needs_data = pytest.mark.skipif(not (UNIVERSE / "spy_1d.csv").exists(),
                                reason=f"SKIPPED LOUDLY: needs ../shared/data/universe (not found at {UNIVERSE})")
ETFS = {"SPY.ARCA": "spy_1d.csv", "IWM.ARCA": "iwm_1d.csv", "BNO.ARCA": "bno_1d.csv"}


def _project(tmp: Path, files: dict[str, str], start: int = 4000) -> Path:
    shutil.copytree(ROOT / "strategies", tmp / "strategies")
    shutil.copytree(ROOT / "regimes", tmp / "regimes")
    for doc in (tmp / "strategies").glob("*.yaml"):
        doc.write_text(doc.read_text().replace("  bar: 1h", "  bar: 1d"))
    (tmp / "data").mkdir()
    for iid, name in files.items():                        # the last years of each series
        lines = (UNIVERSE / name).read_text().splitlines(keepends=True)
        (tmp / "data" / name).write_text("".join(lines[:1] + lines[max(1, len(lines) - start):]))
    lines = "".join(f"  {iid}: data/{name}\n" for iid, name in files.items())
    (tmp / "policy.yaml").write_text(
        "policy: u\nregimes: regimes/regimes.yaml\nstrategies: [strategies/*.yaml]\nuniverse:\n" + lines +
        "allocations:\n  trending: {trend_ema: 100%}\n  ranging: {trend_ema: 100%}\n  volatile: {trend_ema: 100%}\n"
        "  calm: {trend_ema: 100%}\ncapital: 100000\n")
    return tmp / "policy.yaml"


@needs_data
def test_one_strategy_runs_on_every_instrument_of_the_universe(tmp_path: Path) -> None:
    policy = _project(tmp_path, ETFS)
    out = tmp_path / "r.json"
    r = CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--json", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert sorted(doc["instruments"]) == sorted(ETFS)
    members = {f"trend_ema@{iid}" for iid in ETFS}
    assert set(doc["per_strategy"]) == members
    by = {m: [t for t in doc["trade_list"] if t["strategy"] == m] for m in members}
    assert all(by[m] for m in members)                      # each trades its own market
    for iid, name in ETFS.items():                          # ... only on its own bars: never before its data
        bars = load_bars(tmp_path / "data" / name)
        first = int(bars.ts[0])
        assert all(t["entry_ts"] >= first for t in by[f"trend_ema@{iid}"])
        closes = set(np.asarray(bars.ts).tolist())
        assert all(int(t["entry_ts"]) in closes or int(t["entry_ts"]) > first for t in by[f"trend_ema@{iid}"])
    # its own position each: no two members' trades share a position (each closes what it opened)
    assert all(t["qty"] > 0 for t in doc["trade_list"])
    assert doc["exposures"]["per_instrument"].keys() == set(ETFS)


def test_validate_checks_the_universe_at_its_lines(tmp_path: Path) -> None:
    (tmp_path / "strategies").mkdir()
    shutil.copy(ROOT / "strategies" / "trend.yaml", tmp_path / "strategies" / "trend.yaml")
    shutil.copytree(ROOT / "regimes", tmp_path / "regimes")
    (tmp_path / "policy.yaml").write_text(
        "policy: u\nregimes: regimes/regimes.yaml\nuniverse:\n  SPY.ARCA: nope.csv\n  EURUSD.OANDA: x.csv\n"
        "allocations:\n  trending: {trend_ema: 100%}\n  ranging: {}\n  volatile: {}\n  calm: {}\n")
    r = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert r.exit_code == 1
    assert "policy.yaml:4:13: error: universe file 'nope.csv' of SPY.ARCA not found" in r.output
    assert "a universe trades on one venue (one simulated account), got ARCA, OANDA" in r.output
    live = CliRunner().invoke(app, ["live", "--policy", str(tmp_path / "policy.yaml"), "--replay", "x.csv"])
    assert live.exit_code in (1, 2) and "Traceback" not in live.output


@needs_data
def test_instrument_and_asset_class_caps_bound_the_universe(tmp_path: Path) -> None:
    """risk.max_instrument_exposure and risk.max_asset_class_exposure (issue 28): an entry that
    would take one instrument's (or one asset class's) gross position value over its cap is refused
    by the entry gate; uncapped, the same universe goes beyond both caps. Positions move with the
    price after they open, so the exposure is bounded by the cap times the move since entry (a few
    percent on daily ETFs)."""
    runs = {}
    for name, risk in (("free", ""), ("instrument", "risk: {max_instrument_exposure: 6%}\n"),
                       ("class", "risk: {max_asset_class_exposure: {equity: 12%}}\n")):
        project = tmp_path / name
        project.mkdir()
        policy = _project(project, ETFS)
        policy.write_text(policy.read_text() + risk)
        out = project / "r.json"
        r = CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--json", str(out)])
        assert r.exit_code == 0, r.output
        runs[name] = json.loads(out.read_text())
    free = runs["free"]["exposures"]
    assert max(v["max_gross"] for v in free["per_instrument"].values()) > 0.06 * 1.5
    assert free["portfolio"]["max_gross"] > 0.12 * 1.5
    assert all(v["max_gross"] <= 0.06 * 1.05 for v in runs["instrument"]["exposures"]["per_instrument"].values())
    assert runs["class"]["exposures"]["portfolio"]["max_gross"] <= 0.12 * 1.05      # one class: every ETF
    assert runs["instrument"]["trades"] < runs["free"]["trades"] and runs["class"]["trades"] < runs["free"]["trades"]


@needs_data
def test_a_paper_node_replays_a_universe_as_its_backtest(tmp_path: Path) -> None:
    """`autobot live --replay universe`: the node trades every member on its own market, fill for
    fill as `backtest --policy` does, and the parity ledger re-runs the same members."""
    policy = _project(tmp_path, ETFS, start=600)
    live, bt = tmp_path / "live.json", tmp_path / "bt.json"
    r = CliRunner().invoke(app, ["live", "--policy", str(policy), "--replay", "universe", "--json", str(live),
                                 "--state", str(tmp_path / "s.sqlite")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--json", str(bt)])
    assert r.exit_code == 0, r.output
    a, b = json.loads(live.read_text()), json.loads(bt.read_text())
    keys = ("strategy", "side", "qty", "entry_ts", "entry_price", "exit_ts", "exit_price", "exit_reason")
    assert [[t[k] for k in keys] for t in a["trade_list"]] == [[t[k] for k in keys] for t in b["trade_list"]]
    assert {t["strategy"] for t in a["trade_list"]} == {f"trend_ema@{iid}" for iid in ETFS}
    from autobot.live.parity import ledger
    assert ledger(policy, tmp_path / "s.sqlite").differences == []
    wrong = CliRunner().invoke(app, ["live", "--policy", str(policy), "--replay", "data/spy_1d.csv"])
    assert wrong.exit_code == 2 and "--replay universe" in wrong.output


def _plain_project(tmp: Path, rows: int = 700) -> tuple[Path, Path]:
    """A policy without a universe (trend_ema on daily bars) and a folder of the universe's last
    ``rows`` daily bars of three markets, named as the shared files are."""
    shutil.copytree(ROOT / "strategies", tmp / "strategies")
    shutil.copytree(ROOT / "regimes", tmp / "regimes")
    for doc in (tmp / "strategies").glob("*.yaml"):
        doc.write_text(doc.read_text().replace("  bar: 1h", "  bar: 1d"))
    folder = tmp / "markets"
    folder.mkdir()
    for name in ("spy_1d.csv", "iwm_1d.csv", "eem_1d.csv"):
        lines = (UNIVERSE / name).read_text().splitlines(keepends=True)
        (folder / name).write_text("".join(lines[:1] + lines[len(lines) - rows:]))
    (folder / "README.md").write_text("not bars")
    (tmp / "policy.yaml").write_text(
        "policy: p\nregimes: regimes/regimes.yaml\nstrategies: [strategies/*.yaml]\nallocations:\n"
        "  trending: {trend_ema: 100%}\n  ranging: {trend_ema: 100%}\n  volatile: {trend_ema: 100%}\n"
        "  calm: {trend_ema: 100%}\ncapital: 100000\n")
    return tmp / "policy.yaml", folder


@needs_data
def test_universe_option_replaces_the_markets_and_reports_sleeves(tmp_path: Path) -> None:
    """`backtest --policy P --universe DIR` (issue 28's command line): every file of the folder is
    a market, its id from the file name on the policy's venue; the JSON keeps the metric keys and
    adds `universe`, `sleeves` and the universe's equal-weight `buy_and_hold`; `ID=FILE` names a
    file's instrument; a live replay with --universe trades fill for fill as the backtest."""
    policy, folder = _plain_project(tmp_path)
    out = tmp_path / "r.json"
    r = CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--universe", str(folder), "--json", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    ids = {"EEM.BINANCE", "IWM.BINANCE", "SPY.BINANCE"}       # the strategies' venue (BTCUSDT.BINANCE)
    assert {u["instrument"] for u in doc["universe"]} == ids and set(doc["instruments"]) == ids
    assert all(u["bars"] == 700 and u["asset_class"] == "equity" for u in doc["universe"])
    assert {"sharpe", "total_return", "max_drawdown", "trades"} <= set(doc)
    assert set(doc["sleeves"]) == {f"trend_ema@{i}" for i in ids}
    for name, sleeve in doc["sleeves"].items():
        assert sleeve["strategy"] == "trend_ema" and name.endswith(sleeve["instrument"])
        assert sleeve["trades"] == doc["per_strategy"][name]["trades"]
        assert abs(sleeve["pnl"] - doc["per_strategy"][name]["pnl"]) < 1e-9
        assert all(0.0 <= w["weight"] <= 1.0 for w in sleeve["weights"])
    assert 0.0 <= doc["cash_share"] <= 1.0
    assert "equal weight over the 3 instruments" in doc["buy_and_hold"]["method"]
    assert doc["buy_and_hold_first"]["total_return"] != doc["buy_and_hold"]["total_return"]
    # ID=FILE, and a file given alone
    named = tmp_path / "n.json"
    r = CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--universe", f"big={folder / 'spy_1d.csv'}",
                                 "--universe", str(folder / "iwm_1d.csv"), "--json", str(named)])
    assert r.exit_code == 0, r.output
    assert set(json.loads(named.read_text())["instruments"]) == {"BIG.BINANCE", "IWM.BINANCE"}
    r = CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--universe", f"BIG.ARCA={folder / 'spy_1d.csv'}",
                                 "--universe", str(folder / "iwm_1d.csv")])
    assert r.exit_code == 2 and "one venue (one simulated account), got ARCA, BINANCE" in r.output
    # the paper node replays the same markets, fill for fill, and its ledger re-runs them
    live = tmp_path / "live.json"
    r = CliRunner().invoke(app, ["live", "--policy", str(policy), "--universe", str(folder), "--json", str(live),
                                 "--state", str(tmp_path / "s.sqlite")])
    assert r.exit_code == 0, r.output
    keys = ("strategy", "side", "qty", "entry_ts", "entry_price", "exit_ts", "exit_price", "exit_reason")
    a = json.loads(live.read_text())["trade_list"]
    assert [[t[k] for k in keys] for t in a] == [[t[k] for k in keys] for t in doc["trade_list"]]
    from autobot.live.parity import ledger
    assert ledger(policy, tmp_path / "s.sqlite").differences == []


def test_universe_option_usage_errors(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    shutil.copytree(ROOT / "strategies", tmp_path / "strategies")
    shutil.copytree(ROOT / "regimes", tmp_path / "regimes")
    policy.write_text("policy: p\nregimes: regimes/regimes.yaml\nstrategies: [strategies/*.yaml]\nallocations:\n"
                      "  trending: {trend_ema: 100%}\n  ranging: {}\n  volatile: {}\n  calm: {}\n")
    (tmp_path / "empty").mkdir()
    for args, said in ((["--universe", str(tmp_path / "empty")], "holds no bar files"),
                       (["--universe", str(tmp_path / "nope.csv")], "no such file"),
                       (["--universe", str(policy), "--data", str(policy)], "drop --data")):
        r = CliRunner().invoke(app, ["backtest", "--policy", str(policy), *args])
        assert r.exit_code == 2 and said in r.output, r.output
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "spy_1d.csv").write_text("timestamp,open,high,low,close,volume\n")
    r = CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--universe", str(tmp_path / "a"),
                                 "--universe", str(tmp_path / "b")])
    assert r.exit_code == 2 and "are both SPY.BINANCE" in r.output
    r = CliRunner().invoke(app, ["backtest", str(tmp_path / "strategies" / "trend.yaml"), "--universe",
                                 str(tmp_path / "a")])
    assert r.exit_code == 2 and "--universe goes with --policy" in r.output


def test_equal_weight_benchmark_by_hand() -> None:
    """The universe's benchmark, rebalanced at every close: an instrument without a bar at a close
    earns nothing then (never a carried-forward price), and one listed later joins at its second
    close."""
    from autobot.data.bars import Bars
    from autobot.portfolio.universe_report import equal_weight_curve
    day = 86_400 * 10**9

    def bars(days: list[int], closes: list[float]) -> Bars:
        ts = np.array(days, dtype=np.int64) * day
        c = np.array(closes, dtype=np.float64)
        return Bars("x", ts, c, c, c, c, np.ones(len(c)), "contract")
    a = bars([0, 1, 2, 3], [100, 110, 99, 99])          # every day
    b = bars([1, 3], [50, 60])                          # no bar on day 2; listed from day 1
    times, growth = equal_weight_curve({"A": a, "B": b}, day)
    assert list(times // day) == [1, 2, 3, 4]
    # close 1: A's first (nothing held yet); close 2: A +10% alone (B closes for the first time);
    # close 3: A -10%, B no bar (earns 0), both held: -5%; close 4: A 0, B +20% since its last close: +10%
    assert np.allclose(growth, np.cumprod([1.0, 1.10, 0.95, 1.10]))


def test_the_shipped_universe_policy_runs_on_its_own_data(tmp_path: Path) -> None:
    """policies/universe_daily.yaml (issue 28) validates and runs on the data it ships with: every
    member trades only on its own market's bars, the JSON names its universe, sleeves and the
    equal-weight benchmark."""
    policy = ROOT / "policies" / "universe_daily.yaml"
    r = CliRunner().invoke(app, ["validate", str(policy.parent)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "r.json"
    r = CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--start", "2017-01-01", "--json", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert len(doc["universe"]) == 9 and len(doc["sleeves"]) == 9
    assert "equal weight over the 9 instruments" in doc["buy_and_hold"]["method"]
    for name, sleeve in doc["sleeves"].items():
        bars = load_bars(ROOT / "policies" / "data" / "universe" /
                         next(f for iid, f in _universe_files(policy).items() if iid == sleeve["instrument"]))
        closes = set((np.asarray(bars.ts) + 86_400 * 10**9).tolist())
        mine = [t for t in doc["trade_list"] if t["strategy"] == name]
        assert all(int(t["entry_ts"]) in closes for t in mine), name      # entries at its own closes only
    assert doc["trades"] > 20
    # BTCUSD.SIM is a crypto pair on the SIM venue (a coin Nautilus knows): fractional sizes, not shares
    btc = [t["qty"] for t in doc["trade_list"] if t["strategy"] == "tsmom@BTCUSD.SIM"]
    assert btc and any(q != int(q) for q in btc), btc
    assert {u["instrument"]: u["asset_class"] for u in doc["universe"]}["BTCUSD.SIM"] == "crypto"


def _universe_files(policy: Path) -> dict[str, str]:
    from autobot.workspace import load_policy
    return {iid: Path(f).name for iid, f in (load_policy(policy).document.universe or {}).items()}


@needs_data
def test_validate_refuses_universe_files_that_do_not_fit_at_their_lines(tmp_path: Path) -> None:
    """A universe keeps one account currency and one bar size: EUR/GBP (quoted in GBP) beside USD
    markets, and an hourly file among daily ones, are errors at their lines."""
    shutil.copytree(ROOT / "policies", tmp_path / "p")
    data = tmp_path / "p" / "data" / "universe"
    shutil.copy(UNIVERSE / "eurgbp_mid_1d.csv", data / "eurgbp_mid_1d.csv")
    hourly = (SHARED_DATA / "coinbase_btcusd_1h_20170701_20191017.csv").read_text().splitlines(keepends=True)[:300]
    (data / "hourly.csv").write_text("".join(hourly))
    policy = tmp_path / "p" / "universe_daily.yaml"
    text = policy.read_text().replace("data/universe/btcusd_coinbase_1d.csv", "data/universe/hourly.csv")
    text = text.replace("allocations:", "  EURGBP.SIM: data/universe/eurgbp_mid_1d.csv\nallocations:")
    policy.write_text(text)
    lines = text.splitlines()
    gbp = next(k for k, line in enumerate(lines, 1) if "EURGBP.SIM" in line)
    btc = next(k for k, line in enumerate(lines, 1) if "hourly.csv" in line)
    r = CliRunner().invoke(app, ["validate", str(tmp_path / "p")])
    assert r.exit_code == 1
    assert (f"universe_daily.yaml:{gbp}:3: error: EURGBP.SIM is quoted in GBP, the universe's other instruments in "
            "USD: a portfolio keeps one account currency") in r.output
    assert (f"universe_daily.yaml:{btc}:15: error: the bars of BTCUSD.SIM are 1h apart, the universe's others 1d: "
            "a universe runs on one bar size") in r.output


def test_a_market_without_bars_in_the_window_does_not_trade(tmp_path: Path) -> None:
    """--start after one market's last bar: that market sits out (said in a note), the others run."""
    out = tmp_path / "r.json"
    r = CliRunner().invoke(app, ["backtest", "--policy", str(ROOT / "policies" / "universe_daily.yaml"),
                                 "--start", "2020-06-01", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "no bars of EURUSD.SIM, GBPUSD.SIM, XAUUSD.SIM, BTCUSD.SIM in the window" in r.output
    doc = json.loads(out.read_text())
    assert {u["instrument"] for u in doc["universe"]} == {"SPY.SIM", "IWM.SIM", "EEM.SIM", "USO.SIM", "BNO.SIM"}


def test_the_report_shows_the_universe(tmp_path: Path) -> None:
    """The HTML report of a universe run: its markets (PnL, trades, weight, exposure per
    instrument), its sleeves, the cash, realised against target volatility and the weights chart."""
    out = tmp_path / "r.html"
    r = CliRunner().invoke(app, ["backtest", "--policy", str(ROOT / "policies" / "universe_daily.yaml"),
                                 "--start", "2018-01-01", "--report", str(out)])
    assert r.exit_code == 0, r.output
    page = out.read_text()
    assert "Universe: 9 markets" in page and "Allocated weights over time (and cash)" in page
    assert page.count('<tr><td class="l">tsmom@') == 9                 # one sleeve row each
    assert "realised\nvolatility" in page and "against a target of none set" in page
    assert "equal-weight portfolio, rebalanced at every close" in page


def test_rebalance_every_reweights_the_sleeves_alike_in_both_engines(tmp_path: Path) -> None:
    """rebalance_every: N: the current regime's shares are computed again every N primary bars (here
    inverse volatility across the nine sleeves, every 21 days), so a single-regime universe policy
    moves its weights over time; the fast engine trades it fill for fill as NautilusTrader."""
    shutil.copytree(ROOT / "policies", tmp_path / "p")
    policy = tmp_path / "p" / "universe_daily.yaml"
    policy.write_text(policy.read_text().replace("allocation_method: fixed", "allocation_method: inverse_volatility")
                      + "rebalance_every: 21\n")
    runs = {}
    for engine in ("nautilus", "fast"):
        out = tmp_path / f"{engine}.json"
        r = CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--start", "2016-01-01", "--end",
                                     "2018-06-01", "--engine", engine, "--json", str(out)])
        assert r.exit_code == 0, r.output
        runs[engine] = json.loads(out.read_text())
    doc = runs["nautilus"]
    kinds = [s["kind"] for s in doc["switches"]]
    assert kinds[0] == "switch" and kinds.count("rebalance") >= 20          # ~29 months, every 21 bars
    assert "rebalances: " in CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--start", "2018-01-01",
                                                      "--end", "2018-06-01"]).output
    later = doc["switches"][-1]["shares"]
    assert max(later.values()) > 1.5 * min(later.values())                 # calm markets hold more
    keys = ("strategy", "side", "qty", "entry_ts", "entry_price", "exit_ts", "exit_price", "exit_reason")
    assert [[t[k] for k in keys] for t in runs["fast"]["trade_list"]] == \
        [[t[k] for k in keys] for t in doc["trade_list"]]
    assert runs["fast"]["final_equity"] == pytest.approx(doc["final_equity"], rel=1e-12)


SUBSETS = """policy: subsets
regimes: regimes/always.yaml
strategies: [strategies/*.yaml]
universe:
  SPY.SIM: data/universe/spy_1d.csv
  IWM.SIM: data/universe/iwm_1d.csv
  EURUSD.SIM: data/universe/eurusd_mid_1d.csv
  GBPUSD.SIM: data/universe/gbpusd_mid_1d.csv
  XAUUSD.SIM: data/universe/xauusd_mid_1d.csv
subsets:
  metals: [XAUUSD.SIM]
markets:
  tsmom: [equity]
  tsmom_fast: [fx, metals]
allocations:
  always: {tsmom: 50%, tsmom_fast: 50%}
capital: 100000
"""


def _subsets_project(tmp: Path, policy: str = SUBSETS) -> Path:
    """The shipped universe policy's folder (its strategies, regimes and bundled data) with a
    second momentum strategy (a shorter lookback) and ``policy``."""
    shutil.copytree(ROOT / "policies", tmp / "p")
    doc = (tmp / "p" / "strategies" / "tsmom.yaml").read_text()
    (tmp / "p" / "strategies" / "tsmom_fast.yaml").write_text(
        doc.replace("strategy: tsmom", "strategy: tsmom_fast").replace("default: 63", "default: 21"))
    (tmp / "p" / "policy.yaml").write_text(policy)
    return tmp / "p" / "policy.yaml"


def test_markets_give_each_strategy_its_instruments_asset_classes_or_subsets(tmp_path: Path) -> None:
    """markets: (issue 28: a strategy on a named subset or an asset class of the universe): each
    strategy's members are the instruments its entries select, its share split between them only;
    both engines trade it alike; --universe replaces the files and an asset class follows them."""
    from autobot.portfolio.engine import run_portfolio
    from autobot.portfolio.fast_engine import run_portfolio_fast
    from autobot.workspace import load_runtime_policy
    path = _subsets_project(tmp_path)
    r = CliRunner().invoke(app, ["validate", str(path.parent)])
    assert r.exit_code == 0, r.output
    policy = load_runtime_policy(path)
    # asset classes as the venue models the instruments: on a simulated venue XAUUSD.SIM is an
    # equity (whole units, autobot.venue.instruments), so it is in both: two members, two positions
    assert sorted(policy.strategies) == ["tsmom@IWM.SIM", "tsmom@SPY.SIM", "tsmom@XAUUSD.SIM",
                                         "tsmom_fast@EURUSD.SIM", "tsmom_fast@GBPUSD.SIM", "tsmom_fast@XAUUSD.SIM"]
    shares = policy.allocations["always"]
    assert all(shares[m] == pytest.approx(0.5 / 3) for m in policy.strategies)
    data = {iid: load_bars(path.parent / f).slice(-700, None) for iid, f in (policy.document.universe or {}).items()}
    a = run_portfolio(policy, data, compare=False)
    b = run_portfolio_fast(policy, data, compare=False)
    assert a.fills == b.fills and a.final_equity == b.final_equity
    assert all(a.fills[m] for m in policy.strategies)                    # every member traded its own market
    # --universe: the asset class follows the new files (a subset's ids that are gone select nothing)
    out = tmp_path / "r.json"
    r = CliRunner().invoke(app, ["backtest", "--policy", str(path), "--engine", "fast", "--json", str(out),
                                 "--start", "2018-01-01", "--universe",
                                 f"EEM.SIM={path.parent / 'data/universe/eem_1d.csv'}", "--universe",
                                 f"EURUSD.SIM={path.parent / 'data/universe/eurusd_mid_1d.csv'}"])
    assert r.exit_code == 0, r.output
    assert sorted(json.loads(out.read_text())["sleeves"]) == ["tsmom@EEM.SIM", "tsmom_fast@EURUSD.SIM"]


def test_markets_and_subsets_are_checked_at_their_lines(tmp_path: Path) -> None:
    bad = SUBSETS.replace("metals: [XAUUSD.SIM]", "metals: [XAUUSD.SIM, XAGUSD.SIM]\n  fx: [EURUSD.SIM]").replace(
        "tsmom_fast: [fx, metals]", "tsmom_fast: [fx, metals, bonds]\n  tsmon: [equity]")
    path = _subsets_project(tmp_path, bad)
    r = CliRunner().invoke(app, ["validate", str(path)])
    assert r.exit_code == 1
    lines = bad.splitlines()
    expect = [(lines.index("  metals: [XAUUSD.SIM, XAGUSD.SIM]") + 1, "XAGUSD.SIM, which is not in the universe"),
              (lines.index("  fx: [EURUSD.SIM]") + 1, "subset 'fx' has an asset class's name"),
              (lines.index("  tsmom_fast: [fx, metals, bonds]") + 1, "'bonds' is not an instrument of the universe"),
              (lines.index("  tsmon: [equity]") + 1, "did you mean 'tsmom'?")]
    for line, text in expect:
        assert any(f"policy.yaml:{line}:" in row and text in row for row in r.output.splitlines()), (line, r.output)
    none = SUBSETS.replace("tsmom: [equity]", "tsmom: [crypto]")     # nothing in the universe is crypto
    path.write_text(none)
    r = CliRunner().invoke(app, ["validate", str(path)])
    assert r.exit_code == 1 and "'tsmom' trades none of the universe's instruments" in r.output, r.output
    path.write_text(SUBSETS.split("universe:")[0] + "markets: {tsmom: [fx]}\nallocations: {always: {tsmom: 100%}}\n")
    r = CliRunner().invoke(app, ["validate", str(path)])
    assert r.exit_code == 1 and "this policy has no universe" in r.output, r.output


def _catalog(folder: Path, files: dict[str, str], last: int = 800) -> dict[str, Path]:
    """A NautilusTrader ParquetDataCatalog of the bundled universe files' last ``last`` days, and
    the same bars as CSV files (what the catalog must trade like)."""
    from nautilus_trader.model.data import BarType
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    from autobot.backtest.data import to_nautilus
    from autobot.data.bars import write_bars_csv
    from autobot.venue.instruments import make_instrument
    catalog = ParquetDataCatalog(str(folder / "catalog"))
    csv = {}
    for iid, name in files.items():
        bars = load_bars(ROOT / "policies" / "data" / "universe" / name)
        bars = bars.slice(len(bars) - last, len(bars))
        inst = make_instrument(iid, [bars.close])
        catalog.write_data([inst])
        catalog.write_data(to_nautilus(bars, BarType.from_str(f"{iid}-1-DAY-LAST-EXTERNAL"), inst, 86_400))
        csv[iid] = folder / name
        write_bars_csv(bars, csv[iid])
    return csv


def test_a_nautilus_catalog_is_a_universe(tmp_path: Path) -> None:
    """--universe CATALOG (every instrument the catalog holds bars of) and a policy whose universe
    names a catalog folder trade exactly as the same bars in CSV files, on both engines."""
    files = {"SPY.SIM": "spy_1d.csv", "EURUSD.SIM": "eurusd_mid_1d.csv", "XAUUSD.SIM": "xauusd_mid_1d.csv"}
    csv = _catalog(tmp_path, files)
    policy = ROOT / "policies" / "universe_daily.yaml"
    runs = {}
    for engine in ("fast", "nautilus"):
        for how, spec in (("catalog", [str(tmp_path / "catalog")]),
                          ("csv", [f"{iid}={csv[iid]}" for iid in sorted(csv)])):   # the catalog's order
            out = tmp_path / f"{engine}-{how}.json"
            args = ["backtest", "--policy", str(policy), "--engine", engine, "--json", str(out)]
            for s in spec:
                args += ["--universe", s]
            r = CliRunner().invoke(app, args)
            assert r.exit_code == 0, r.output
            runs[engine, how] = json.loads(out.read_text())
    a, b = runs["fast", "catalog"], runs["fast", "csv"]
    assert sorted(a["sleeves"]) == sorted(f"tsmom@{iid}" for iid in files)
    assert a["trades"] > 5 and a["trade_list"] == b["trade_list"] and a["total_return"] == b["total_return"]
    assert runs["nautilus", "catalog"]["trade_list"] == a["trade_list"]
    # in the policy: each instrument's value the catalog folder, checked by validate like a file
    (tmp_path / "p").mkdir()
    shutil.copytree(ROOT / "policies" / "strategies", tmp_path / "p" / "strategies")
    shutil.copytree(ROOT / "policies" / "regimes", tmp_path / "p" / "regimes")
    shutil.copytree(tmp_path / "catalog", tmp_path / "p" / "catalog")
    head, _, tail = policy.read_text().partition("universe:")
    rest = tail[tail.index("\nallocations:") + 1:]                  # the shipped allocation and risk
    text = head + "universe:\n" + "".join(f"  {iid}: catalog\n" for iid in sorted(files)) + rest
    (tmp_path / "p" / "policy.yaml").write_text(text)
    r = CliRunner().invoke(app, ["validate", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    out = tmp_path / "p.json"
    r = CliRunner().invoke(app, ["backtest", "--policy", str(tmp_path / "p" / "policy.yaml"), "--engine", "fast",
                                 "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["trade_list"] == a["trade_list"]
    (tmp_path / "p" / "policy.yaml").write_text(text.replace("  XAUUSD.SIM: catalog", "  IWM.SIM: catalog"))
    r = CliRunner().invoke(app, ["validate", str(tmp_path / "p")])                # no bars of IWM in it
    assert r.exit_code == 1 and "no bars for IWM.SIM" in r.output, r.output


def test_a_cash_account_policy_trades_alike_in_backtest_and_on_the_paper_node(tmp_path: Path) -> None:
    """account: cash in the policy (issue 25's cash accounts, assembled): backtests (both engines,
    no --account) and the paper node trade in a cash account, a share (SPY), an FX pair (EUR/USD,
    held as euros) and a coin (BTC) long only, fill for fill alike; the parity ledger agrees."""
    shutil.copytree(ROOT / "policies", tmp_path / "p")
    data = tmp_path / "p" / "data" / "universe"
    keep = {"SPY.SIM": "spy_1d.csv", "EURUSD.SIM": "eurusd_mid_1d.csv", "BTCUSD.SIM": "btcusd_coinbase_1d.csv"}
    for name in keep.values():
        lines = (data / name).read_text().splitlines(keepends=True)           # 2017-01 .. 2018-06
        (data / name).write_text("".join(lines[:1] + [x for x in lines[1:] if "2017-01-01" <= x[:10] < "2018-07-01"]))
    head, _, tail = (tmp_path / "p" / "universe_daily.yaml").read_text().partition("universe:")
    rest = tail[tail.index("\nallocations:") + 1:]
    policy = tmp_path / "p" / "policy.yaml"
    policy.write_text(head + "universe:\n" + "".join(f"  {k}: data/universe/{v}\n" for k, v in keep.items())
                      + rest + "account: cash\n")
    runs = {}
    for name, args in (("fast", ["backtest", "--engine", "fast"]), ("nautilus", ["backtest"]),
                       ("margin", ["backtest", "--account", "margin"]),
                       ("live", ["live", "--replay", "universe", "--state", str(tmp_path / "s.sqlite")])):
        out = tmp_path / f"{name}.json"
        r = CliRunner().invoke(app, [*args, "--policy", str(policy), "--json", str(out)])
        assert r.exit_code == 0, (name, r.output)
        runs[name] = json.loads(out.read_text())
    keys = ("strategy", "side", "qty", "entry_ts", "entry_price", "exit_ts", "exit_price", "exit_reason")
    trades = {k: [[t[x] for x in keys] for t in v["trade_list"]] for k, v in runs.items()}
    assert trades["live"] == trades["nautilus"] == trades["fast"]
    assert {t[0] for t in trades["live"]} == {f"tsmom@{iid}" for iid in keep} and all(t[1] == "long" for t in trades["live"])
    assert trades["margin"] != trades["nautilus"]          # the account is the policy's: cash caps the entries
    from autobot.live.parity import ledger
    assert ledger(policy, tmp_path / "s.sqlite").differences == []


def test_optimize_a_universe_policy_whose_files_are_beside_it(tmp_path: Path) -> None:
    """optimize --policy on a universe policy as shipped (its files relative to it), run from another
    folder: each trial rebuilds the project in a folder of its own, so the universe must travel as
    absolute paths (it once failed every trial: 'universe file ... not found'); and a window in
    which a market has no bars yet (BTC before 2014-12) lets that market sit out, as backtest
    --policy does (it was an IndexError)."""
    shutil.copytree(ROOT / "policies", tmp_path / "p")
    head, _, tail = (tmp_path / "p" / "universe_daily.yaml").read_text().partition("universe:")
    rest = tail[tail.index("\nallocations:") + 1:]
    keep = {"SPY.SIM": "spy_1d.csv", "EURUSD.SIM": "eurusd_mid_1d.csv", "BTCUSD.SIM": "btcusd_coinbase_1d.csv"}
    policy = tmp_path / "p" / "three.yaml"
    policy.write_text(head + "universe:\n" + "".join(f"  {k}: data/universe/{v}\n" for k, v in keep.items()) + rest)
    out = tmp_path / "o.json"
    r = CliRunner().invoke(app, ["optimize", "--policy", str(policy), "--start", "2013-06-01", "--end", "2016-01-01",
                                 "--trials", "4", "--windows", "2", "--workers", "1", "--confirm", "1",
                                 "--json", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["verdict"] in ("significant", "not significant", "likely overfit")
    final = doc["statistics"]["final"]
    assert final["failed"] == 0 and final["scored"] == 4                    # every trial ran and scored
    assert doc["windows"][0]["train_start"] < "2014-12-01"                  # BTC sat out of its first folds
