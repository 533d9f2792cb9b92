"""Issue 28's last part: the dashboard, ``/api/v1/universe`` and ``autobot report daily|weekly``
show a universe node's markets. A real paper replay of the shipped universe policy (its bundled
data, the 17 months all nine markets share) into a real state store, a real uvicorn server, the
page in headless Chromium; the figures checked against the store's own rows and the replay's
results JSON, not against the code that computes them."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from typer.testing import CliRunner

from autobot.backtest import metrics as M
from autobot.cli.main import app
from tests.helpers import ROOT
from tests.test_serve import Server, get

POLICIES = ROOT / "policies"
FIRST, LAST = "2017-03-01", "2018-08-14"         # every market of the universe has bars then
DAY = 86_400_000_000_000
MARKETS = ("SPY.SIM", "IWM.SIM", "EEM.SIM", "USO.SIM", "BNO.SIM", "EURUSD.SIM", "GBPUSD.SIM", "XAUUSD.SIM",
           "BTCUSD.SIM")


def _policy(tmp: Path, only: str | None = None) -> Path:
    """The shipped universe policy over its bundled files cut to FIRST..LAST (``only``: a
    universe of that one market)."""
    shutil.copytree(POLICIES / "strategies", tmp / "strategies")
    shutil.copytree(POLICIES / "regimes", tmp / "regimes")
    (tmp / "data" / "universe").mkdir(parents=True)
    for src in (POLICIES / "data" / "universe").glob("*.csv"):
        lines = src.read_text().splitlines(keepends=True)
        kept = [x for x in lines[1:] if FIRST <= x[:10] <= LAST]
        (tmp / "data" / "universe" / src.name).write_text(lines[0] + "".join(kept))
    text = (POLICIES / "universe_daily.yaml").read_text()
    if only is not None:
        text = "".join(x for x in text.splitlines(keepends=True) if ".SIM: data/" not in x or only in x)
    policy = tmp / "universe_daily.yaml"
    policy.write_text(text)
    return policy


def _replay(tmp: Path, only: str | None = None) -> tuple[Path, dict[str, Any]]:
    policy = _policy(tmp, only)
    state, out = tmp / "s.sqlite", tmp / "live.json"
    r = CliRunner().invoke(app, ["live", "--policy", str(policy), "--replay", "universe", "--json", str(out),
                                 "--state", str(state)])
    assert r.exit_code == 0, r.output
    return state, json.loads(out.read_text())


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any], Server]]:
    state, live = _replay(tmp_path_factory.mktemp("universe"))
    server = Server(state)
    yield state, live, server
    server.stop()


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Server]]:
    state, _ = _replay(tmp_path_factory.mktemp("single"), only="SPY.SIM")
    server = Server(state)
    yield state, server
    server.stop()


def _store(state: Path) -> dict[str, Any]:
    """The store's own rows: equity, each sleeve's net position from its fills, each instrument's
    last close."""
    db = sqlite3.connect(state)
    run = json.loads(db.execute("SELECT value FROM meta WHERE key = 'run'").fetchone()[0])
    eq = db.execute("SELECT ts, equity FROM equity WHERE run = ? ORDER BY ts", (run,)).fetchall()
    held: dict[str, float] = {}
    for strategy, side, qty in db.execute("SELECT strategy, side, qty FROM fills WHERE run = ?", (run,)):
        held[strategy] = held.get(strategy, 0.0) + (qty if side == "BUY" else -qty)
    closes = {bar_type.rsplit("-", 4)[0]: close for bar_type, close in db.execute(
        "SELECT bar_type, close FROM bars WHERE run = ? ORDER BY rowid", (run,))}
    db.close()
    return {"ts": np.array([r[0] for r in eq]), "equity": np.array([r[1] for r in eq]), "held": held,
            "closes": closes}


def test_the_universe_api_adds_up_to_the_portfolio(node: tuple[Path, dict[str, Any], Server]) -> None:
    """Per instrument PnL sums to the portfolio's less the run's fees (the store records none per
    fill: the rest is its own row), each flat sleeve's PnL less its fees is the replay's own; the
    weights and the cash add up to 1 at the end and at every time of the chart; the volatility is
    /performance's, by the one annualisation rule."""
    state, live, server = node
    rows = _store(state)
    code, u = get(server.url("/api/v1/universe"))
    assert code == 200 and u["universe"] is True
    assert [r["instrument"] for r in u["instruments"]] == list(MARKETS)
    assert {r["instrument"]: r["asset_class"] for r in u["instruments"]}["EURUSD.SIM"] == "fx"
    portfolio = float(rows["equity"][-1] - rows["equity"][0])
    assert u["portfolio_pnl"] == pytest.approx(portfolio, abs=1e-6)
    assert sum(r["pnl"] for r in u["instruments"]) == pytest.approx(u["sleeves_pnl"], abs=1e-6)
    assert sum(r["pnl"] for r in u["sleeves"]) == pytest.approx(u["sleeves_pnl"], abs=1e-6)
    # before fees: the instruments' PnL less the replay's fees is the portfolio's, within rounding
    assert live["fees"] > 10
    assert u["sleeves_pnl"] - live["fees"] == pytest.approx(portfolio, abs=0.05)
    assert u["fees_and_other"] == pytest.approx(-live["fees"], abs=0.05)
    flat = [s for s in u["sleeves"] if s["position"] == 0]
    assert len(flat) >= 3 and all(s["fills"] > 0 for s in flat)
    for s in flat:                                        # the replay's own per-sleeve PnL, after fees
        own = live["per_strategy"][s["sleeve"]]
        assert s["pnl"] - own["fees"] == pytest.approx(own["pnl"], abs=0.05), s["sleeve"]
    # positions and weights from the store's fills and closes
    for s in u["sleeves"]:
        assert s["position"] == pytest.approx(rows["held"].get(s["sleeve"], 0.0), abs=1e-9)
    spy = next(r for r in u["instruments"] if r["instrument"] == "SPY.SIM")       # the primary: its close is in
    assert spy["weight"] == pytest.approx(spy["position"] * rows["closes"]["SPY.SIM"] / rows["equity"][-1])
    assert sum(r["weight"] for r in u["instruments"]) + u["cash"] == pytest.approx(1.0, abs=1e-9)
    assert sum(r["allocated"] for r in u["instruments"]) + u["unallocated"] == pytest.approx(1.0, abs=1e-9)
    assert all(r["allocated"] == pytest.approx(1 / 9) for r in u["instruments"])       # equal shares
    w = u["weights"]
    assert w["ts"][-1] == int(rows["ts"][-1]) and len(w["ts"]) > 100
    totals = np.sum([w["instruments"][i] for i in MARKETS], axis=0) + np.array(w["cash"])
    assert np.allclose(totals, 1.0, atol=1e-5)
    assert max(max(v) for v in w["instruments"].values()) > 0.05        # positions were held
    risk = [r["risk_share"] for r in u["instruments"]]
    assert all(x is not None for x in risk) and sum(risk) == pytest.approx(1.0, abs=0.01)
    _, perf = get(server.url("/api/v1/performance"))
    assert u["realised_volatility"] == pytest.approx(perf["risk"]["annual_volatility"], rel=1e-12)
    days = np.unique(rows["ts"] // DAY)
    assert u["periods_per_year"] == round(M.periods_per_year(days * DAY, DAY), 1)
    assert u["target_volatility"] is None and any("fee" in n for n in u["notes"])


def test_a_single_instrument_node_has_no_universe(single: tuple[Path, Server]) -> None:
    _, server = single
    code, u = get(server.url("/api/v1/universe"))
    assert code == 200 and u["universe"] is False and [r["instrument"] for r in u["instruments"]] == ["SPY.SIM"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("SKIPPED LOUDLY: Chromium is not installed (.ci/run installs Debian's chromium)")
    return found


def _flags(tmp: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=5000"]


def test_the_dashboard_shows_the_universe_in_chromium(node: tuple[Path, dict[str, Any], Server],
                                                      single: tuple[Path, Server], tmp_path: Path) -> None:
    chromium = _chromium()
    _, _, server = node
    _, u = get(server.url("/api/v1/universe"))
    dom = subprocess.run([chromium, *_flags(tmp_path), "--dump-dom", server.url("/")], capture_output=True,
                         text=True, timeout=120).stdout
    panel = dom.split('<div id="universe"', 1)[1].split('<h2>Positions', 1)[0]
    assert panel.startswith(">")                                        # not hidden
    assert "Universe: 9 instruments, 9 sleeves" in panel
    table = panel.split('id="u-instruments"', 1)[1].split("</table>", 1)[0]
    for r in u["instruments"]:
        pnl = f"{r['pnl']:,.2f}"
        assert f"<td>{r['instrument']}</td><td>{r['asset_class']}</td><td>{pnl}</td>" in table
    assert f"<td>all instruments</td><td></td><td>{u['sleeves_pnl']:,.2f}</td>" in table
    assert f"<td>portfolio</td><td></td><td>{u['portfolio_pnl']:,.2f}</td>" in table
    assert f"cash {100 * u['cash']:.2f}% of the equity" in panel
    assert "realised volatility" in panel and "no target volatility in the policy" in panel
    assert panel.split('id="wchart"', 1)[1].count("main-svg") >= 1    # plotly drew the weights, offline
    assert '9 members paper' in dom                                   # the challenge card, summarised
    shot = tmp_path / "universe.png"
    subprocess.run([chromium, *_flags(tmp_path), f"--screenshot={shot}", "--window-size=1400,1600",
                    server.url("/")], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    _, one = single
    dom = subprocess.run([chromium, *_flags(tmp_path), "--dump-dom", one.url("/")], capture_output=True,
                         text=True, timeout=120).stdout
    assert '<div id="universe" hidden="">' in dom and 'id="state" class="sub">finished' in dom


def test_daily_and_weekly_reports_show_the_universe(node: tuple[Path, dict[str, Any], Server],
                                                    single: tuple[Path, Server], tmp_path: Path) -> None:
    """The period's PnL per instrument adds up to the report's PnL (with the fees' row), the
    weights and the cash at its end to 1, a week's PnL per instrument is its days', the period's
    volatility is the risk table's."""
    from autobot.report.journal_report import build, day_text, read
    state, live, server = node
    out, js = tmp_path / "weekly.html", tmp_path / "weekly.json"
    r = CliRunner().invoke(app, ["report", "weekly", "--state", str(state), "--out", str(out), "--json", str(js)])
    assert r.exit_code == 0, r.output
    rep = json.loads(js.read_text())
    u = rep["universe"]
    assert [x["instrument"] for x in u["instruments"]] == list(MARKETS)
    assert u["portfolio_pnl"] == pytest.approx(rep["pnl"], abs=1e-6)
    assert sum(x["pnl"] for x in u["instruments"]) + u["fees_and_other"] == pytest.approx(rep["pnl"], abs=1e-6)
    assert -live["fees"] - 0.05 <= u["fees_and_other"] <= 0.01           # fees are paid, not earned
    assert sum(x["weight"] for x in u["instruments"]) + u["cash"] == pytest.approx(1.0, abs=1e-9)
    assert u["realised_volatility_period"] == rep["risk_period"]["annual_volatility"]
    assert u["risk_days"] >= 3 and u["risk_from_ts"] == u["start_ts"]              # the week's own days
    assert sum(x["fills"] for x in u["instruments"]) == rep["fills"]
    _, api = get(server.url("/api/v1/universe"))                    # the report's period ends at the last bar
    assert [x["weight"] for x in u["instruments"]] == pytest.approx([x["weight"] for x in api["instruments"]])
    text = out.read_text()
    assert "Universe: 9 instruments, 9 sleeves" in text and "all instruments" in text and "fees and other" in text
    assert "universe: 9 instruments" in r.output and "sleeves: 9" in r.output
    # a week's PnL per instrument is its days' (each day from the equity before it)
    journal = read(state)
    by_day: dict[str, float] = {}
    for k in range(7):
        day = day_text((int(u["end_ts"]) // DAY - k) * DAY)
        try:
            daily = build(journal, "daily", day)["universe"]
        except ValueError:                                          # no bar that day (a weekend)
            continue
        for x in daily["instruments"]:
            by_day[x["instrument"]] = by_day.get(x["instrument"], 0.0) + x["pnl"]
    assert by_day and all(by_day[x["instrument"]] == pytest.approx(x["pnl"], abs=1e-6) for x in u["instruments"])
    last = build(journal, "daily")["universe"]
    assert last["realised_volatility_period"] is None and last["risk_days"] > 100     # the run's days to its end
    one, _ = single
    assert build(read(one), "weekly")["universe"] is None
