"""``autobot report daily|weekly`` on the journal of a real replayed node."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from tests.helpers import ROOT

DAY = 86_400_000_000_000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("report")
    policy = tmp / "policy.yaml"
    for name in ("regimes", "strategies"):
        import shutil
        shutil.copytree(ROOT / name, tmp / name)
    # a looser drawdown limit, so the node trades through the whole file
    policy.write_text((ROOT / "policy.yaml").read_text().replace("  max_drawdown: 5%", "  max_drawdown: 50%"))
    data = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
    out = tmp / "live.json"
    live = CliRunner().invoke(app, ["live", "--policy", str(policy), "--replay", str(data), "--speed", "max",
                                    "--json", str(out), "--state", str(tmp / "s.sqlite")])
    assert live.exit_code == 0, live.output
    return tmp / "s.sqlite", json.loads(out.read_text())


def test_daily_and_weekly_reports_agree_with_the_journal(node: tuple[Path, dict], tmp_path: Path) -> None:
    state, live = node
    db = sqlite3.connect(state)
    run = json.loads(db.execute("SELECT value FROM meta WHERE key = 'run'").fetchone()[0])
    rows = db.execute("SELECT ts, equity FROM equity WHERE run = ? ORDER BY ts", (run,)).fetchall()
    db.close()
    ts = np.array([r[0] for r in rows])
    eq = np.array([r[1] for r in rows])
    last_day = int(ts[-1]) // DAY
    if (ts // DAY == last_day).sum() == 1:      # the replay's last bar closes at 00:00: the last complete day is
        last_day -= 1                           # the one before (issue 30)
    end = eq[ts < (last_day + 1) * DAY][-1]
    for period, days in (("daily", 1), ("weekly", 7)):
        out, js = tmp_path / f"{period}.html", tmp_path / f"{period}.json"
        r = CliRunner().invoke(app, ["report", period, "--state", str(state), "--out", str(out), "--json", str(js)])
        assert r.exit_code == 0, r.output
        rep = json.loads(js.read_text())
        start = eq[ts < (last_day - days + 1) * DAY][-1]                  # the equity before the period
        assert rep["equity_end"] == pytest.approx(end)
        assert rep["pnl"] == pytest.approx(end - start)
        assert rep["risk"]["days"] == len(np.unique(ts // DAY))
        assert "plotly" in out.read_text() and "AutoBot " + period in out.read_text()
        # a day or a week is too short to annualise (the backtests' 30-day rule): not shown, and said
        assert all(rep["risk_period"][k] is None for k in ("annual_return", "sharpe", "sortino", "calmar"))
        assert rep["risk"]["sharpe"] is not None and "need 30 days or more" in r.output
        assert rep["risk_period"]["total_return"] == pytest.approx(end / start - 1, abs=1e-9)
    # realised by average cost from the fills = each strategy's closed trades' PnL plus their fees
    strategies = rep["strategies_run"]
    for sid, trades in _by_strategy(live).items():
        if any(t["exit_reason"] == "open" for t in trades):
            continue
        assert strategies[sid]["realized"] == pytest.approx(sum(t["pnl"] + t["fees"] for t in trades), abs=1e-6)
        assert strategies[sid]["round_trips"] == len(trades)
    assert rep["portfolio_run"]["round_trips"] == sum(s["round_trips"] for s in strategies.values())
    assert rep["portfolio_run"]["exposure"] == pytest.approx(live["exposure"], abs=2 / len(ts)), \
        (rep["portfolio_run"]["exposure"], live["exposure"])


def _by_strategy(live: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for t in live["trade_list"]:
        out.setdefault(t["strategy"], []).append(t)
    return out


def test_report_errors(node: tuple[Path, dict], tmp_path: Path) -> None:
    state, _ = node
    assert CliRunner().invoke(app, ["report", "monthly", "--state", str(state)]).exit_code == 2
    assert CliRunner().invoke(app, ["report", "daily", "--state", str(state), "--date", "1999-01-01"]).exit_code == 1
    assert CliRunner().invoke(app, ["report", "daily", "--state", str(tmp_path / "none.sqlite")]).exit_code == 2


def test_the_report_re_runs_the_policy_the_node_ran(node: tuple[Path, dict], tmp_path: Path) -> None:
    """Issue 26: without --policy the report took the folder's policy.yaml (here the repository's,
    with another drawdown limit) and ended in a RunError traceback. The store records the node's."""
    state, _ = node
    js = tmp_path / "d.json"
    r = CliRunner().invoke(app, ["report", "daily", "--state", str(state), "--json", str(js)])
    assert r.exit_code == 0, r.output
    rep = json.loads(js.read_text())
    assert rep["notes"] == [] and rep["parity"] is not None
    assert rep["parity"]["tracking_error"] == pytest.approx(0.0, abs=1e-9)     # the same policy: the same run
    policy = state.parent / "policy.yaml"
    text = policy.read_text()
    try:
        policy.write_text(text + "\n# edited after the run\n")
        r = CliRunner().invoke(app, ["report", "daily", "--state", str(state), "--json", str(js)])
        assert r.exit_code == 0, r.output
        rep = json.loads(js.read_text())
        assert rep["parity"] is None and "was edited after its last applied version" in rep["notes"][0]
        assert "note: the node's policy" in r.output
    finally:
        policy.write_text(text)
