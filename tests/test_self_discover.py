"""A live node's ``self_optimize.discover`` (issue 29): the node runs ``autobot discover`` on its own
journaled bars in another process, a discovered strategy trades as a shadow through the paper
challenge, and only when it passes is its document written beside the policy, as a candidate (it
never gets capital: the node trades exactly what it traded without discovery)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from tests.test_discover import _series

pytest.importorskip("arch", reason="self_optimize.discover needs the arch package: pip install -e \".[discover]\" "
                                   "(.ci/run installs it)")

NS = 1_000_000_000
DAY_NS = 86_400 * NS
STRATEGY = """strategy: trend
market: {instrument: BTCUSD.KRAKEN, bar: 1h}
indicators:
  fast: ema(close, 12)
  slow: ema(close, 48)
entry:
  long: crosses_above(fast, slow)
exit:
  long: crosses_below(fast, slow)
sizing:
  equity_pct: 20%
"""
POLICY = """policy: self-discovering
regimes: regimes.yaml
allocations:
  always: {trend: 100%}
capital: 100000
challenge:
  paper_days: 14
  promote_when: trades >= 1
  checks: {min_trades: 1}
self_optimize:
  every: 1000d
  window: 300d
  strategies: []
  discover: {budget: 120, seed: 42, equity_pct: 10%}
"""


def _project(tmp: Path, policy: str) -> Path:
    (tmp / "strategies").mkdir(parents=True)
    (tmp / "strategies" / "trend.yaml").write_text(STRATEGY)
    (tmp / "regimes.yaml").write_text("regimes:\n  always: true\n")
    (tmp / "policy.yaml").write_text(policy)
    return tmp / "policy.yaml"


def test_self_optimize_discover_is_validated_at_its_lines(tmp_path: Path) -> None:
    path = _project(tmp_path, POLICY.replace("budget: 120", "budget: 5").replace("equity_pct: 10%",
                                                                                  "equity_pct: lots"))
    r = CliRunner().invoke(app, ["validate", str(path)])
    assert r.exit_code == 1
    line = POLICY.splitlines().index("  discover: {budget: 120, seed: 42, equity_pct: 10%}") + 1
    assert f"policy.yaml:{line}:" in r.output and "budget" in r.output and "equity_pct" in r.output, r.output


@pytest.mark.slow
def test_a_node_discovers_a_strategy_and_offers_it_only_after_the_challenge(tmp_path: Path) -> None:
    from autobot.data.bars import load_bars
    from autobot.language.compile import compile_strategy_text
    from autobot.live.node import run_replay
    from autobot.persistence.journal import Journal
    from autobot.portfolio.engine import run_portfolio
    from autobot.workspace import load_policy

    policy = _project(tmp_path / "p", POLICY)
    bars = load_bars(_series(tmp_path / "edge.csv", 12_000, 12, 0.003))   # a planted breakout edge
    data = {"BTCUSD.KRAKEN": bars}
    alone = run_portfolio(load_policy(policy), data, compare=False)
    state = tmp_path / "state.sqlite"
    run = run_replay(policy, data, state=state)
    j = Journal(state)
    events = j.events(["discover", "proposal", "challenge", "discovered", "failure", "self_optimize"])
    j.close()
    assert not [e for e in events if e["kind"] == "failure"], events
    assert not [e for e in events if e["kind"] == "self_optimize"]          # strategies: [] studies none
    searched = [e for e in events if e["kind"] == "discover"]
    first_bar = int(bars.ts[0]) + 3600 * NS
    assert len(searched) == 1 and searched[0]["ts"] == first_bar + 300 * DAY_NS      # once the window is there
    s = searched[0]
    assert s["verdict"] == "discovered" and s["candidates"] == 120 and s["spa_pvalue"] < 0.05
    assert s["to"] - s["from"] <= 300 * DAY_NS and s["to"] < s["ts"]                # only bars the node had seen
    proposal = next(e for e in events if e["kind"] == "proposal")
    assert proposal["ts"] == s["ts"] and proposal["origin"] == "discover" and proposal["dsr"] >= 0.95
    shadow = proposal["subject"]
    passed = next(e for e in events if e["kind"] == "challenge" and e["strategy"] == shadow)
    assert (passed["from"], passed["to"]) == ("paper", "candidate")
    assert passed["ts"] == proposal["ts"] + 14 * DAY_NS                              # its paper window
    written = next(e for e in events if e["kind"] == "discovered")
    assert written["ts"] == passed["ts"] and written["proposal"] == shadow
    doc = Path(written["file"])
    assert doc.parent == (tmp_path / "p" / "discovered").resolve() and doc.read_text() == proposal["document"]
    compiled = compile_strategy_text(doc.read_text(), str(doc))             # a document like any other
    assert compiled.document.market.instrument == "BTCUSD.KRAKEN" and "equity_pct: 10%" in doc.read_text()
    assert not (tmp_path / "p" / "strategies" / doc.name).exists()           # not in the policy's strategies
    # never capital: the node traded exactly what it trades without discovery
    assert [(t["entry_ts"], t["side"], t["qty"]) for t in run.result.trades] == \
        [(t["entry_ts"], t["side"], t["qty"]) for t in alone.trades]
