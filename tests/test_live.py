"""``autobot live``: a replayed paper node decides, orders and fills exactly as the backtest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.data.bars import load_bars
from autobot.live.node import run_replay
from autobot.portfolio.engine import run_portfolio
from autobot.workspace import load_policy
from tests.helpers import ROOT, SHARED_DATA

SERIES = ["btc_perp_1m_20211231_20220201.csv", "freqtrade_eth_btc_5m_20180110_20180130.csv",
          "nvda_1d_1999_2014.csv"]


def fills(strategies: dict) -> dict[str, list[tuple]]:
    return {sid: [f[:5] for f in s.fills] for sid, s in strategies.items()}


@pytest.mark.parametrize("name", SERIES)
def test_replay_orders_fills_and_balance_equal_the_backtest(name: str) -> None:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip("shared data not present")
    data = {"BTCUSDT.BINANCE": load_bars(path)}
    live = run_replay(ROOT / "policy.yaml", data)
    backtest = run_portfolio(load_policy(ROOT / "policy.yaml"), data, compare=False)
    assert live.bars_published == len(live.result.bars)                 # the regimes use the same bars
    assert sum(len(f) for f in fills(live.strategies).values()) > 10, "too few fills to compare"
    assert live.result.trades == backtest.trades                       # orders, fills, reasons, traces
    assert live.result.final_equity == backtest.final_equity
    assert live.result.switches == backtest.switches and live.result.trips == backtest.trips
    assert live.result.equity.tolist() == backtest.equity.tolist()


def test_cli_live_replay_writes_the_backtest_json(tmp_path: Path) -> None:
    data = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
    out_live, out_bt = tmp_path / "live.json", tmp_path / "bt.json"
    live = CliRunner().invoke(app, ["live", "--policy", str(ROOT / "policy.yaml"), "--replay", str(data),
                                    "--speed", "max", "--json", str(out_live), "--state", str(tmp_path / "s.sqlite")])
    assert live.exit_code == 0, live.output
    bt = CliRunner().invoke(app, ["backtest", "--policy", str(ROOT / "policy.yaml"), "--data", str(data),
                                  "--json", str(out_bt)])
    assert bt.exit_code == 0, bt.output
    a, b = json.loads(out_live.read_text()), json.loads(out_bt.read_text())
    b.pop("alone")
    a.pop("alone")
    assert a == b
    refused = CliRunner().invoke(app, ["live", "--policy", str(ROOT / "policy.yaml"), "--replay", str(data),
                                       "--real", "--state", str(tmp_path / "s.sqlite")])
    assert refused.exit_code == 2 and "challenge" in refused.output
    from autobot.persistence.journal import Journal
    j = Journal(tmp_path / "s.sqlite")
    stage = json.loads(out_live.read_text())["challenge"]["stages"]["portfolio"]["stage"]
    assert [e["reason"] for e in j.events(["real_refused"])] == [
        f"the portfolio is in the {stage} stage of the paper challenge, not a capital stage"]
    j.close()


def _autobot(*args: str) -> list[str]:
    import sys
    return [sys.executable, "-m", "autobot.cli.main", *args]


@pytest.mark.slow
def test_sigkill_and_restart_lose_no_fill_and_duplicate_no_order(tmp_path: Path) -> None:
    import signal
    import sqlite3
    import subprocess
    import time

    from autobot.persistence.journal import Journal
    data = str(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")
    policy = str(ROOT / "policy.yaml")
    whole, broken = tmp_path / "whole.sqlite", tmp_path / "broken.sqlite"
    subprocess.run(_autobot("live", "--policy", policy, "--replay", data, "--state", str(whole)),
                   check=True, capture_output=True, timeout=300)
    # the same replay, slowed down (5 ms a bar), killed with SIGKILL part way, then restarted
    proc = subprocess.Popen(_autobot("live", "--policy", policy, "--replay", data, "--state", str(broken),
                                     "--speed", "720000"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline:
        time.sleep(0.2)
        if broken.exists():
            try:
                done = sqlite3.connect(str(broken)).execute("SELECT COUNT(*) FROM equity").fetchone()[0]
            except sqlite3.Error:       # the node may be creating it
                done = 0
            if done >= 800:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert 800 <= done < 3000, done
    subprocess.run(_autobot("live", "--policy", policy, "--replay", data, "--state", str(broken)),
                   check=True, capture_output=True, timeout=300)
    a, b = Journal(whole), Journal(broken)
    try:
        assert b.fills() == a.fills() and len(a.fills()) > 20          # no fill lost, none doubled
        assert b.orders() == a.orders()                                # every order exactly once
        recovery = b.events(["recovery"])
        assert len(recovery) == 1 and recovery[0]["ok"] is True
        assert len(b.events(["start"])) == 2
        assert b.events(["regime_switch"]) == [dict(e, wall=e2["wall"]) for e, e2 in
                                               zip(a.events(["regime_switch"]), b.events(["regime_switch"]))]
    finally:
        a.close()
        b.close()


ALWAYS_IN = """strategy: holder
market: {instrument: BTCUSDT.BINANCE, bar: 1h}
params:
  hold: {default: 100000, min: 1, max: 100000}
entry:
  long: close > 0
exit:
  long: position.bars_held >= hold
sizing:
  fixed_qty: 0.5
"""


HOLDER_POLICY = "policy: p\nregimes: regimes.yaml\nallocations:\n  always: {holder: 100%}\ncapital: 100000\n"
EXAMPLE_1H = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"


def _holder_project(tmp_path: Path, policy_text: str = HOLDER_POLICY) -> tuple[Path, Path, Path]:
    """A project with the ALWAYS_IN strategy: (its document, the policy, the state store path)."""
    (tmp_path / "strategies").mkdir()
    doc = tmp_path / "strategies" / "holder.yaml"
    doc.write_text(ALWAYS_IN)
    (tmp_path / "regimes.yaml").write_text("regimes:\n  always: true\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text)
    return doc, policy, tmp_path / "state.sqlite"


def _start_live(policy: Path, db: Path) -> Any:
    """`autobot live` replaying the example data fast, in a child process."""
    import subprocess
    return subprocess.Popen(_autobot("live", "--policy", str(policy), "--replay", str(EXAMPLE_1H), "--state", str(db),
                                     "--speed", "720000"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _count(db: Path, sql: str) -> int:
    """One number from the state store of a running node (0 while it does not exist yet)."""
    import sqlite3
    try:
        return sqlite3.connect(str(db)).execute(sql).fetchone()[0]
    except sqlite3.Error:
        return 0


def _kinds(db: Path) -> list[str]:
    import sqlite3
    try:
        return [r[0] for r in sqlite3.connect(str(db)).execute("SELECT kind FROM events")]
    except sqlite3.Error:
        return []


def _wait_for(proc: Any, predicate: Any, what: str, timeout: float = 120.0) -> None:
    import time
    deadline = time.time() + timeout
    while not predicate():
        assert proc.poll() is None, f"node ended before {what}: {proc.stderr.read()}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_hot_reload_rejects_a_broken_edit_and_swaps_a_valid_one(tmp_path: Path) -> None:
    from autobot.persistence.journal import Journal
    doc, policy, db = _holder_project(tmp_path)
    proc = _start_live(policy, db)

    def bars_done() -> int:
        return _count(db, "SELECT COUNT(*) FROM equity")

    def wait_for(predicate, what: str) -> None:
        _wait_for(proc, predicate, what)

    def kinds() -> list[str]:
        return _kinds(db)
    wait_for(lambda: bars_done() >= 400, "400 bars")
    doc.write_text(ALWAYS_IN.replace("close > 0", "close >> 0"))             # a syntax error
    wait_for(lambda: "reload_rejected" in kinds(), "the rejection")
    at_rejection = bars_done()
    wait_for(lambda: bars_done() >= at_rejection + 100, "100 more bars on the old version")
    doc.write_text(ALWAYS_IN.replace("default: 100000", "default: 50"))      # a param change
    wait_for(lambda: "reload" in kinds(), "the reload")
    assert proc.wait(timeout=180) == 0
    j = Journal(db)
    try:
        rejected = j.events(["reload_rejected"])
        assert len(rejected) == 1 and "holder.yaml" in rejected[0]["errors"][0]
        reload_ = j.events(["reload"])
        assert len(reload_) == 1 and reload_[0]["changes"] == "param hold 100000 -> 50"
        fills = j.fills()
        entry, exit_ = fills[0], fills[1]
        # one position held across the reload (not closed and reopened): the new version adopts it,
        # counts the bars held from its real entry, and its exit closes it on the first bar it sees
        assert entry[7] == "entry.long" and exit_[7] == "exit.long" and entry[5] == exit_[5] == 0.5
        assert exit_[3] == reload_[0]["ts"] + 3600 * 10**9 and reload_[0]["ts"] > entry[3]
        why = [e["why"] for e in j.events(["decision"]) if e["action"] == "exit.long"][0]
        held = (exit_[3] - entry[3]) // (3600 * 10**9)
        assert why == f"position.bars_held={held} >= 50" and held > 300
        assert len(fills) > 4 and [v[2] for v in j.versions()][-1] != [v[2] for v in j.versions()][-2]
    finally:
        j.close()
    # the status table shows the rejection's compiler message and the reload's decision diff
    table = CliRunner().invoke(app, ["status", "--state", str(db)], env={"COLUMNS": "240"})
    assert table.exit_code == 0, table.output
    text = " ".join(table.output.split())
    assert "edit rejected, the running version keeps trading:" in text and "holder.yaml:" in text
    assert "param hold 100000 -> 50;" in text and "of the last" in text and "bars decide differently" in text


def test_status_and_rollback_read_the_state_store(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    run_replay(ROOT / "policy.yaml", {"BTCUSDT.BINANCE": load_bars(ROOT / "examples" / "data" /
                                                                 "example_btcusdt_1h.csv")}, state=state)
    shown = CliRunner().invoke(app, ["status", "--state", str(state), "--json"])
    assert shown.exit_code == 0, shown.output
    st = json.loads(shown.output)
    assert st["regime"] in ("trending", "ranging", "volatile", "calm")
    # the shipped policy's max_drawdown demotes to paper: trading goes on, with no capital
    assert st["halted"] is False and st["breakers"][0]["reason"] == "max_drawdown"
    assert st["breakers"][0]["action"] == "demote to paper"
    assert st["challenge"]["stages"]["portfolio"]["stage"] == "demoted"
    assert st["challenge"]["stages"]["portfolio"]["capital"] == 0
    assert st["fills"] > 20 and st["decisions"]
    assert st["state"] == "finished" and st["stopped"] is True          # the replay ended: not running
    table = CliRunner().invoke(app, ["status", "--state", str(state)])
    assert "demoted" in table.output and "max_drawdown" in table.output and "finished" in table.output
    # rollback: two versions of a document in the journal; the file goes back to the earlier one
    from autobot.persistence.journal import Journal
    doc = tmp_path / "s.yaml"
    j = Journal(state)
    j.version(str(doc), "strategy: v1\n")
    j.version(str(doc), "strategy: v2\n")
    j.close()
    doc.write_text("strategy: v2\n")
    back = CliRunner().invoke(app, ["rollback", str(doc), "--state", str(state)])
    assert back.exit_code == 0, back.output
    assert doc.read_text() == "strategy: v1\n"
    again = CliRunner().invoke(app, ["rollback", str(doc), "--state", str(state)])
    assert again.exit_code == 2 and "already holds the previous version" in again.output


def test_status_view_renders_the_controller_status() -> None:
    from rich.console import Console

    from autobot.live.view import render
    data = {"BTCUSDT.BINANCE": load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")}
    run = run_replay(ROOT / "policy.yaml", data)
    status = run.controller.status()
    console = Console(width=160, record=True)
    console.print(render(status, 3000))
    text = console.export_text()
    for part in ("trading", "portfolio demoted (0%)", f"regime       {status['regime']}"[:6], "equity",
                 "max_drawdown", "decision"):
        assert part in text
    # the node's equity is the paper track's once a breaker demoted the portfolio; the capital's is the result's
    traded = run.result.paper_track["final_equity"] if run.result.paper_track else run.result.final_equity
    assert status["equity"] == pytest.approx(traded)
    assert status["capital"] == pytest.approx(run.result.equity[-1])


def test_replay_equals_backtest_with_many_orders_per_second(tmp_path: Path) -> None:
    """1-minute bars at full speed: hundreds of orders per second of wall time (Nautilus' order-rate
    throttle must not deny them) and still the backtest's trades, to the last fill."""
    path = SHARED_DATA / "btc_perp_1m_20211231_20220201.csv"
    if not path.exists():
        pytest.skip("shared data not present")
    import shutil
    for sub in ("strategies", "regimes"):
        (tmp_path / sub).mkdir()
    for doc in (ROOT / "strategies").glob("*.yaml"):
        (tmp_path / "strategies" / doc.name).write_text(doc.read_text().replace("  bar: 1h\n", "  bar: 1m\n"))
    shutil.copy(ROOT / "regimes" / "regimes.yaml", tmp_path / "regimes" / "regimes.yaml")
    (tmp_path / "policy.yaml").write_text((ROOT / "policy.yaml").read_text().replace("  max_drawdown: 5%", "  max_drawdown: 50%"))
    data = {"BTCUSDT.BINANCE": load_bars(path).slice(0, 15_000)}
    live = run_replay(tmp_path / "policy.yaml", data)
    backtest = run_portfolio(load_policy(tmp_path / "policy.yaml"), data, compare=False)
    assert len(backtest.trades) > 100
    assert all(not s.refusals for s in live.strategies.values())
    assert live.result.trades == backtest.trades and live.result.final_equity == backtest.final_equity


def test_live_on_venue_data_needs_a_live_section_and_credentials(tmp_path: Path, monkeypatch) -> None:
    import shutil
    shutil.copytree(ROOT / "strategies", tmp_path / "strategies")
    shutil.copytree(ROOT / "regimes", tmp_path / "regimes")
    policy = tmp_path / "policy.yaml"
    policy.write_text((ROOT / "policy.yaml").read_text())
    missing = CliRunner().invoke(app, ["live", "--policy", str(policy)])
    assert missing.exit_code == 1 and "no live: section" in missing.output
    policy.write_text((ROOT / "policy.yaml").read_text() + "live: {venue: binance, testnet: true}\n")
    monkeypatch.delenv("AUTOBOT_API_KEY", raising=False)
    no_key = CliRunner().invoke(app, ["live", "--policy", str(policy)])
    assert no_key.exit_code == 1 and "environment variable AUTOBOT_API_KEY is not set" in no_key.output
    live_line = policy.read_text().splitlines().index("live: {venue: binance, testnet: true}") + 1
    assert f"policy.yaml:{live_line}:1: error: environment variable AUTOBOT_API_KEY" in no_key.output  # at live:
    policy.write_text((ROOT / "policy.yaml").read_text() + "live:\n  venue: binance\n  api_key_env: AUTOBOT_MY_KEY\n")
    monkeypatch.delenv("AUTOBOT_MY_KEY", raising=False)
    named = CliRunner().invoke(app, ["live", "--policy", str(policy)])
    key_line = policy.read_text().splitlines().index("  api_key_env: AUTOBOT_MY_KEY") + 1
    assert named.exit_code == 1 and \
        f"policy.yaml:{key_line}:16: error: environment variable AUTOBOT_MY_KEY is not set" in named.output, named.output
    from autobot.documents.models import LiveMarket
    from autobot.live.venues import data_client
    monkeypatch.setenv("AUTOBOT_API_KEY", "key")
    monkeypatch.setenv("AUTOBOT_API_SECRET", "secret")
    from nautilus_trader.adapters.binance.common.enums import BinanceEnvironment
    from nautilus_trader.adapters.bybit import BybitEnvironment
    name, config, factory = data_client(LiveMarket(venue="bybit_linear", testnet=True), ["BTCUSDT.BYBIT"], "p.yaml")
    assert name == "BYBIT" and config.environment == BybitEnvironment.TESTNET and config.api_key == "key"
    assert factory.__name__ == "BybitLiveDataClientFactory"
    name, config, factory = data_client(LiveMarket(venue="binance", testnet=False), ["BTCUSDT.BINANCE"], "p.yaml")
    assert name == "BINANCE" and config.environment == BinanceEnvironment.LIVE and config.api_secret == "secret"
    assert factory.__name__ == "BinanceLiveDataClientFactory"


def test_a_finished_run_is_followed_by_a_new_one_in_the_same_store(tmp_path: Path) -> None:
    from autobot.persistence.journal import Journal
    state = tmp_path / "state.sqlite"
    bars = {"BTCUSDT.BINANCE": load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv").slice(0, 1500)}
    first = run_replay(ROOT / "policy.yaml", bars, state=state)
    second = run_replay(ROOT / "policy.yaml", bars, state=state)
    assert first.result.trades == second.result.trades
    j = Journal(state)
    try:
        assert j.run == 2 and len(j.fills()) == sum(len(s.fills) for s in second.strategies.values()) > 0
        assert len(j.events(["start"])) == 1 and not j.events(["recovery"])
    finally:
        j.close()


def test_paper_fills_follow_the_gap_rule_as_the_backtest_does(tmp_path: Path) -> None:
    """Stops and targets that a bar opens beyond fill at its open on the paper node too."""
    import numpy as np

    from autobot.data.bars import Bars
    (tmp_path / "strategies").mkdir()
    (tmp_path / "regimes").mkdir()
    (tmp_path / "regimes" / "regimes.yaml").write_text("regimes:\n  always: true\n")
    (tmp_path / "strategies" / "gap.yaml").write_text(
        "strategy: gap\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\n"
        "entry:\n  long: close > 99 and close[1] <= 99\nexit:\n  long: close > 1000\n"
        "risk:\n  stop_loss: 5%\n  take_profit: 5%\nsizing:\n  fixed_qty: 1\n")
    (tmp_path / "policy.yaml").write_text(
        "policy: gap\nregimes: regimes/regimes.yaml\nstrategies: [strategies/*.yaml]\n"
        "allocations:\n  always: {gap: 100%}\ncapital: 100000\n")
    flat, up = (98.0, 98.0, 98.0, 98.0), (98.0, 100.0, 98.0, 100.0)
    cycles = [(80.0, 82.0, 78.0, 81.0), (120.0, 125.0, 118.0, 121.0), (99.0, 99.5, 90.0, 91.0),
              (101.0, 107.0, 100.5, 106.0)]
    rows = [flat] * 5
    for gap in cycles * 3:
        rows += [up, gap, (gap[3],) * 4, flat, flat]
    a = np.array(rows)
    ts = 1_700_000_000 * 10**9 + np.arange(len(a), dtype=np.int64) * 3600 * 10**9
    data = {"BTCUSDT.BINANCE": Bars("hand", ts, a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.full(len(a), 1e9), "csv")}
    live = run_replay(tmp_path / "policy.yaml", data)
    backtest = run_portfolio(load_policy(tmp_path / "policy.yaml"), data, compare=False)
    exits = [(f[3], f[4]) for f in fills(live.strategies)["gap"] if f[4] != "entry.long"]
    assert exits == [(80.0, "stop_loss"), (120.0, "take_profit"), (95.0, "stop_loss"), (105.0, "take_profit")] * 3
    assert live.result.trades == backtest.trades
    assert live.result.final_equity == backtest.final_equity


@pytest.mark.slow
def test_a_reloaded_policy_reallocates_at_once(tmp_path: Path) -> None:
    """Shares change when the checked policy is applied, not at the next regime switch (here never)."""
    from autobot.persistence.journal import Journal
    _, policy, db = _holder_project(tmp_path)
    proc = _start_live(policy, db)
    _wait_for(proc, lambda: _count(db, "SELECT COUNT(*) FROM equity") >= 300, "300 bars")
    policy.write_text(policy.read_text().replace("{holder: 100%}", "{holder: 0%}"))
    assert proc.wait(timeout=180) == 0
    j = Journal(db)
    try:
        reload_ = j.events(["reload"])
        assert len(reload_) == 1 and reload_[0]["changes"] == "policy"
        exits = [f for f in j.fills() if f[7] == "regime_switch"]
        # the position is closed on the bar after the reload (its share is 0% now)
        assert len(exits) == 1 and exits[0][3] <= reload_[0]["ts"] + 3600 * 10**9
        assert "holder: 0%" in [v[3] for v in j.versions(str(policy))][-1]      # the text that was checked
    finally:
        j.close()


@pytest.mark.slow
def test_an_interrupted_node_reports_the_bars_it_handled(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) on `autobot live`: the results, buy-and-hold included, cover the bars handled."""
    import signal
    import sqlite3
    import subprocess
    import time

    from autobot.backtest import metrics as M
    data = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
    db, out = tmp_path / "state.sqlite", tmp_path / "live.json"
    proc = subprocess.Popen(_autobot("live", "--policy", str(ROOT / "policy.yaml"), "--replay", str(data),
                                     "--state", str(db), "--speed", "360000", "--json", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def handled() -> int:
        try:
            return sqlite3.connect(str(db)).execute("SELECT COUNT(*) FROM equity").fetchone()[0]
        except sqlite3.Error:
            return 0
    deadline = time.time() + 120
    while handled() < 300:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr           # interrupted, not a success; it says what comes next
    assert "starting run 1 of" in stderr and "the same command resumes it" in stderr.splitlines()[-1]
    result = json.loads(out.read_text())
    n = result["bars"]
    assert 300 <= n < 3000 and f"stopped after {n:,} of 3,000 bars" in " ".join(result["notes"])
    bars = load_bars(data).slice(0, n)
    bh = M.buy_and_hold(bars.close, bars.ts, 3600 * 10**9, 100_000.0, 0.001)
    assert result["buy_and_hold"]["final_equity"] == pytest.approx(bh["final_equity"])
    assert "Task was destroyed" not in stderr
    again = subprocess.run(_autobot("live", "--policy", str(ROOT / "policy.yaml"), "--replay", str(data),
                                    "--state", str(db), "--speed", "max"), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "resuming run 1 of" in again.stderr, again.stderr[-2000:]


@pytest.mark.slow
def test_a_venue_that_does_not_connect_fails_within_seconds(tmp_path: Path) -> None:
    """Venue mode without a reachable venue (here: no network at all) exits 1 with a clear error."""
    import shutil
    import subprocess
    import time
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"]).returncode != 0:
        pytest.skip("needs 'unshare -rn' (util-linux) to run the node without a network")
    for sub in ("strategies", "regimes"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    policy = tmp_path / "policy.yaml"
    policy.write_text((ROOT / "policy.yaml").read_text() + "live: {venue: binance, testnet: true}\n")
    env = {**__import__("os").environ, "AUTOBOT_API_KEY": "bad", "AUTOBOT_API_SECRET": "bad"}
    t0 = time.time()
    out = subprocess.run(["unshare", "-rn", *_autobot("live", "--policy", str(policy), "--state",
                                                      str(tmp_path / "s.sqlite"))],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "error: the binance market data client did not connect within 15 s" in out.stderr
    assert time.time() - t0 < 60


@pytest.mark.parametrize("name", ["AUTOBOT_TELEGRAM_TOKEN", "HOME", "aws_secret"])
def test_a_policy_may_only_name_autobot_credentials(tmp_path: Path, name: str) -> None:
    import shutil
    for sub in ("strategies", "regimes"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    policy = tmp_path / "policy.yaml"
    policy.write_text((ROOT / "policy.yaml").read_text() + f"live: {{venue: binance, api_secret_env: {name}}}\n")
    out = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert out.exit_code == 1 and f"live.api_secret_env may only name an AUTOBOT_ variable (not '{name}')" in out.output


def test_two_nodes_cannot_share_a_state_store(tmp_path: Path) -> None:
    from autobot.persistence.journal import Journal, StateStoreError
    first = Journal(tmp_path / "s.sqlite")
    first.lock()
    try:
        data = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
        out = CliRunner().invoke(app, ["live", "--policy", str(ROOT / "policy.yaml"), "--replay", str(data),
                                       "--state", str(tmp_path / "s.sqlite")])
        import os
        assert out.exit_code == 1 and f"is in use by process {os.getpid()} (autobot live)" in out.output
        with pytest.raises(StateStoreError):
            Journal(tmp_path / "s.sqlite").lock()
    finally:
        first.close()
    Journal(tmp_path / "s.sqlite").lock()              # released with the first


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "folder", "not_a_store"])
def test_bad_state_files_give_one_clear_error(tmp_path: Path, kind: str) -> None:
    state = tmp_path / "s.sqlite"
    if kind == "corrupt":
        state.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    elif kind == "truncated":                     # a real store cut short (a disk that filled up, a bad copy)
        from autobot.persistence.journal import Journal
        journal = Journal(state)
        journal.begin()
        for k in range(4000):
            journal.event("decision", k, why="close > sma " * 4)
        journal.commit()
        journal.close()
        size = state.stat().st_size
        assert size > 100_000
        with open(state, "r+b") as f:
            f.truncate(size // 3)
    elif kind == "folder":
        state.mkdir()
    else:
        state.write_text("hello, not a database\n")
    data = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
    live = CliRunner().invoke(app, ["live", "--policy", str(ROOT / "policy.yaml"), "--replay", str(data),
                                    "--state", str(state)])
    assert live.exit_code == 1 and live.output.startswith("error: "), live.output
    assert "Traceback" not in live.output
    if kind in ("corrupt", "truncated"):            # a damaged store is set aside, never deleted
        assert "set aside" in live.output and any(p.name.startswith("s.sqlite.corrupt-") for p in tmp_path.iterdir())
    elif kind == "not_a_store":                      # not ours: never renamed or written
        assert "is not an AutoBot state store (not an SQLite file); nothing was changed" in live.output
        assert state.read_text() == "hello, not a database\n" and len(list(tmp_path.iterdir())) == 1
    shown = CliRunner().invoke(app, ["status", "--state", str(state)])
    assert shown.exit_code in (1, 2) and shown.output.startswith("error:") and "Traceback" not in shown.output


@pytest.mark.slow
def test_a_reload_that_changes_the_market_is_refused_and_the_watcher_goes_on(tmp_path: Path) -> None:
    """A bar-size change is refused (the running version keeps trading); a broken-bytes edit is
    answered too; a later valid edit is still applied: the watcher never dies."""
    from autobot.persistence.journal import Journal
    doc, policy, db = _holder_project(tmp_path)
    proc = _start_live(policy, db)

    def kinds() -> list[str]:
        return _kinds(db)

    def wait_for(predicate, what: str) -> None:
        _wait_for(proc, predicate, what)
    wait_for(lambda: kinds().count("start") == 1 and _count(db, "SELECT COUNT(*) FROM equity") > 200, "200 bars")
    doc.write_text(ALWAYS_IN.replace("bar: 1h", "bar: 4h"))
    wait_for(lambda: kinds().count("reload_rejected") == 1, "the market change to be refused")
    doc.write_bytes(b"strategy: holder\n\xff\xfe\x00 broken")
    wait_for(lambda: kinds().count("reload_rejected") == 2, "the broken edit to be answered")
    doc.write_text(ALWAYS_IN.replace("default: 100000", "default: 50"))
    wait_for(lambda: "reload" in kinds(), "the valid edit")
    assert proc.wait(timeout=180) == 0
    j = Journal(db)
    try:
        rejected = j.events(["reload_rejected"])
        assert "the market changed (bar '1h' -> '4h')" in rejected[0]["errors"][0]
        assert rejected[1]["errors"]
        assert j.events(["reload"])[0]["changes"] == "param hold 100000 -> 50"
    finally:
        j.close()


def test_a_killed_run_is_not_resumed_with_other_data(tmp_path: Path) -> None:
    from autobot.persistence.journal import Journal
    state = tmp_path / "state.sqlite"
    bars = load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")
    first = Journal(state)
    first.begin("fingerprint-of-another-run")
    first.set("last_bar", int(bars.ts[100]))          # it was killed after 100 bars
    first.close()
    run_replay(ROOT / "policy.yaml", {"BTCUSDT.BINANCE": bars.slice(0, 400)}, state=state)
    j = Journal(state)
    try:
        assert j.run == 2 and not j.events(["recovery"])
        note = j.events(["new_run"])[0]["reason"]
        assert note == "run 1 was interrupted but started with other data or documents: starting run 2 instead of " \
                       "resuming it"
    finally:
        j.close()


@pytest.mark.slow
def test_a_reload_that_removes_an_exit_is_refused_unless_the_policy_allows_it(tmp_path: Path) -> None:
    from autobot.persistence.journal import Journal
    doc, policy, db = _holder_project(tmp_path)
    proc = _start_live(policy, db)
    _wait_for(proc, lambda: _count(db, "SELECT COUNT(*) FROM equity") >= 200, "200 bars")
    without_exit = ALWAYS_IN.split("exit:")[0] + "sizing:" + ALWAYS_IN.split("sizing:")[1]
    doc.write_text(without_exit)
    _wait_for(proc, lambda: "reload_rejected" in _kinds(db), "the rejection")
    assert proc.wait(timeout=180) == 0
    j = Journal(db)
    try:
        err = j.events(["reload_rejected"])[0]["errors"][0]
        assert "the edit removes exit.long from the running strategy" in err and "reload_may_remove_exits" in err
        assert not j.events(["reload"])
    finally:
        j.close()


@pytest.mark.slow
def test_a_policy_edit_that_adds_a_strategy_builds_warms_and_runs_it(tmp_path: Path) -> None:
    from autobot.persistence.journal import Journal
    _, policy, db = _holder_project(tmp_path, "policy: p\nregimes: regimes.yaml\nstrategies: [strategies/holder.yaml]\n"
                                              "allocations:\n  always: {holder: 50%}\ncapital: 100000\n")
    proc = _start_live(policy, db)
    _wait_for(proc, lambda: _count(db, "SELECT COUNT(*) FROM equity") >= 200, "200 bars")
    (tmp_path / "strategies" / "second.yaml").write_text(
        "strategy: second\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\nentry:\n  long: close > 0\n"
        "sizing:\n  fixed_qty: 0.1\n")
    policy.write_text(policy.read_text().replace("[strategies/holder.yaml]", "[strategies/*.yaml]")
                      .replace("{holder: 50%}", "{holder: 50%, second: 20%}"))
    assert proc.wait(timeout=180) == 0, proc.stderr.read()[-2000:]
    j = Journal(db)
    try:
        added = j.events(["strategy_added"])
        assert [e["strategy"] for e in added] == ["second"]
        fills = [f for f in j.fills() if f[0] == "second"]
        assert fills and fills[0][3] > added[0]["ts"]            # it trades after it was added
    finally:
        j.close()


def test_a_refused_order_is_journaled_and_the_node_trades_on(tmp_path: Path) -> None:
    """The venue rejects every stop of this strategy (it rounds to the fill price: 'in the market').
    A journaled node once died at the first refusal (Journal.event got 'ts' twice); now each one is
    journaled with its reason and the node replays every bar to the end."""
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "tiny.yaml").write_text(
        "strategy: tiny_stop\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\n"
        "indicators:\n  f: ema(close, 5)\n  s: ema(close, 20)\n"
        "entry:\n  long: crosses_above(f, s)\nexit:\n  long: crosses_below(f, s)\nrisk:\n  stop_loss: 0.000001%\n")
    (tmp_path / "regimes.yaml").write_text("regimes:\n  always: true\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("policy: refused\nregimes: regimes.yaml\nstrategies: [strategies/*.yaml]\n"
                      "allocations:\n  always: {tiny_stop: 100%}\ncapital: 100000\n")
    data = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
    state = tmp_path / "s.sqlite"
    out = CliRunner().invoke(app, ["live", "--policy", str(policy), "--replay", str(data), "--speed", "max",
                                   "--state", str(state), "--json", str(tmp_path / "out.json")])
    assert out.exit_code == 0, out.output
    from autobot.persistence.journal import Journal
    j = Journal(state)
    refused = j.events(["order_rejected", "order_denied"])
    equity_rows = j.db.execute("SELECT COUNT(*) FROM equity").fetchone()[0]
    j.close()
    assert len(refused) > 10
    assert {e["order"] for e in refused} == {"stop_loss"} and all("in the market" in e["reason"] for e in refused)
    assert equity_rows == len(load_bars(data))
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["per_strategy"]["tiny_stop"]["trades"] > 10


@pytest.mark.slow
@pytest.mark.parametrize("edit", ["max_drawdown", "kill_file"])
def test_every_limit_of_a_reloaded_policy_takes_effect_at_the_next_bar(tmp_path: Path, edit: str) -> None:
    """Issue 26: max_drawdown edited from 90% to 0.5% after 300 bars was journaled as a reload, but
    the breakers, the kill file and the challenge rules were derived once at start: nothing
    tripped. Each now trips on the bar after the reload."""
    from autobot.persistence.journal import Journal
    _, policy, db = _holder_project(tmp_path, HOLDER_POLICY + "risk:\n  max_drawdown: 90%\n")
    (tmp_path / "STOP").write_text("")                 # the kill file: present before it is named
    proc = _start_live(policy, db)
    _wait_for(proc, lambda: _count(db, "SELECT COUNT(*) FROM equity") >= 300, "300 bars")
    new = "  max_drawdown: 0.5%\n" if edit == "max_drawdown" else "  max_drawdown: 90%\n  kill_file: STOP\n"
    policy.write_text(policy.read_text().replace("  max_drawdown: 90%\n", new))
    assert proc.wait(timeout=180) == 0, proc.stderr.read()[-2000:]
    j = Journal(db)
    try:
        reload_ = j.events(["reload"])
        assert len(reload_) == 1
        trips = j.events(["breaker"])
        reason = "max_drawdown" if edit == "max_drawdown" else "kill_switch"
        assert trips and trips[0]["reason"] == reason, trips
        at = reload_[0]["ts"]
        if edit == "kill_file":
            assert at <= trips[0]["ts"] <= at + 3600 * 10**9                   # at the next bar
        else:                                    # the first bar after the reload that is 0.5% below the peak
            import sqlite3
            rows = sqlite3.connect(db).execute("SELECT ts, equity FROM equity ORDER BY ts").fetchall()
            peak, first = 0.0, None
            for ts, eq in rows:
                if first is None and ts > at and eq < peak * (1 - 0.005):
                    first = ts
                peak = max(peak, eq)
            assert first is not None and trips[0]["ts"] == first, (trips[0]["ts"], first, at)
    finally:
        j.close()
