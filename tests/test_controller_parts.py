"""Issue 27: the portfolio controller's plain-Python parts, each built alone (no NautilusTrader):
the entry gate, the operator-command table and the regime selection. The Nautilus controller
asks them (tests/test_portfolio.py, test_live.py and test_sub_accounts.py prove the runs unchanged)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from autobot.portfolio.commands import COMMANDS, run_command
from autobot.portfolio.gate import Entry, EntryGate, Exposure
from autobot.portfolio.limits import Limits
from autobot.portfolio.selection import select


# ------------------------------------------------------------------ the entry gate
def gate(**limits: float) -> EntryGate:
    return EntryGate(Limits(**limits))     # type: ignore[arg-type]


def allow(g: EntryGate, name: str = "a", side: str = "long", value: float = 10_000.0, ts: int = 1,
          equity: float = 100_000.0, others: Exposure = Exposure(), **state: object) -> bool:
    kwargs = {"stopped": False, "share": 0.5, "long_only": False, **state}
    return g.allow(Entry(name, side, value, ts), equity, others, **kwargs)   # type: ignore[arg-type]


def test_the_gate_refuses_while_stopped_without_share_and_shorts_on_cash() -> None:
    g = gate()
    assert allow(g)
    assert not allow(g, stopped=True)
    assert not allow(g, share=0.0)
    assert not allow(g, side="short", long_only=True) and allow(g, side="short")


def test_each_limit_counts_the_other_positions_and_this_bars_approved_entries() -> None:
    g = gate(max_position=0.2)
    assert allow(g, value=20_000) and not allow(g, value=20_001)
    g = gate(max_gross_exposure=1.0)
    assert allow(g, others=Exposure(gross=60_000, net=60_000, count=1), value=40_000)
    assert not allow(g, name="b", others=Exposure(gross=60_000, net=60_000, count=1), value=1)   # a's 40k pending
    assert allow(g, name="b", ts=2, others=Exposure(gross=60_000, net=60_000, count=1), value=40_000)  # new bar
    g = gate(max_net_exposure=0.5)
    assert allow(g, side="short", value=40_000, others=Exposure(gross=50_000, net=50_000, count=1))  # net 10k
    assert not allow(g, name="b", value=50_000, others=Exposure(gross=50_000, net=50_000, count=1))  # 50-40+50=60k
    g = gate(max_open_positions=2)
    assert allow(g, others=Exposure(count=1))
    assert not allow(g, name="b", others=Exposure(count=1))                     # 1 open + a pending + b
    assert allow(g, others=Exposure(count=1))                                   # a again replaces its own


def test_instrument_and_asset_class_caps_count_positions_and_pending_entries() -> None:
    g = EntryGate(Limits(max_instrument_exposure=0.1, max_asset_class_exposure={"crypto": 0.15}))

    def ask(name: str, iid: str, kind: str, value: float, others: Exposure = Exposure()) -> bool:
        return g.allow(Entry(name, "long", value, 1, iid, kind), 100_000.0, others, stopped=False, share=0.5,
                       long_only=False)
    held = Exposure(gross=8_000, net=8_000, count=1, by_instrument={"BTCUSDT.BINANCE": 8_000},
                    by_class={"crypto": 8_000})
    assert not ask("a", "BTCUSDT.BINANCE", "crypto", 3_000, held)           # 8k + 3k > 10% in BTC
    assert ask("a", "BTCUSDT.BINANCE", "crypto", 2_000, held)               # 10k: at the cap
    assert ask("b", "ETHUSDT.BINANCE", "crypto", 5_000, held)               # crypto 8k + 2k pending + 5k = 15k
    assert not ask("c", "SOLUSDT.BINANCE", "crypto", 1, held)               # the class is full
    assert ask("d", "EURUSD.OANDA", "fx", 9_000, held)                      # another class has no cap


def test_a_reload_replaces_the_limits_whole() -> None:
    g = gate(max_position=0.1)
    assert not allow(g, value=20_000)
    g.limits = Limits(max_position=0.3)
    assert allow(g, value=20_000)


# ------------------------------------------------------------------ the operator's commands
@dataclass
class Node:
    """A node as the commands see it (the Operable interface), recording what they did."""

    halted: bool = False
    paused: bool = False
    done: list[str] = field(default_factory=list)

    def pause_entries(self) -> None:
        self.paused = True

    def resume_entries(self) -> None:
        self.paused = False

    def stop_trading(self, ts: int, why: str) -> None:
        self.halted = True
        self.done.append(f"stop {ts} {why}")

    def challenge_command(self, verb: str, subject: str | None, ts: int) -> str:
        self.done.append(f"challenge {verb} {subject} {ts}")
        return f"{verb} {subject}"

    def status_text(self) -> str:
        return "status"


def test_the_command_table() -> None:
    node = Node()
    assert set(COMMANDS) == {"/pause", "/resume", "/stop", "/challenge", "/status"}
    assert run_command(node, "/pause", 5).startswith("paused") and node.paused
    assert run_command(node, "/resume", 6) == "resumed" and not node.paused
    assert run_command(node, "/stop", 7).startswith("stopped") and node.halted
    assert run_command(node, "/stop", 8).startswith("stopped") and node.done == [
        "stop 7 stopped by the operator (/stop)"]                          # a second /stop changes nothing
    assert run_command(node, "/resume", 9) == "resumed (but trading is HALTED by a breaker)"
    assert run_command(node, "/challenge promote mr", 10) == "promote mr"
    assert run_command(node, "/challenge", 10).startswith("usage: /challenge")
    assert run_command(node, "/pause now", 11) == "status" and not node.paused
    assert run_command(node, "hello", 11) == "status"


# ------------------------------------------------------------------ selection
def test_selection_by_regime_method_and_volatility_target() -> None:
    allocations = {"trending": {"a": 0.6, "b": 0.4}, "calm": {}}
    assert select(None, allocations, "fixed", {}).shares == {}
    assert select("calm", allocations, "fixed", {}).shares == {}
    fixed = select("trending", allocations, "fixed", {})
    assert fixed.shares == pytest.approx({"a": 0.6, "b": 0.4}) and fixed.vol_scale == 1.0
    rng = __import__("numpy").random.default_rng(3)
    returns = {"a": list(rng.normal(0, 0.02, 200)), "b": list(rng.normal(0, 0.01, 200))}
    inv = select("trending", allocations, "inverse_volatility", returns).shares
    assert inv["b"] > inv["a"] and sum(inv.values()) == pytest.approx(1.0)
    capped = select("trending", allocations, "fixed", returns, target_volatility=0.05, bars_per_year=8760)
    assert 0 < capped.vol_scale < 1
    assert capped.shares == pytest.approx({k: v * capped.vol_scale for k, v in fixed.shares.items()})


# ------------------------------------------------------------------ what an operator reads after a demotion
def test_status_and_dashboard_show_the_capital_apart_from_the_paper_track(tmp_path) -> None:
    """The shipped policy on the real example data: its 5% drawdown limit demotes the portfolio in
    November 2018; the store's summary (autobot status, /api/v1/status, the dashboard) then shows
    the capital flat at the equity it was flattened at, and the equity line as the paper track's."""
    from typer.testing import CliRunner

    from autobot.cli.main import app
    from autobot.data.bars import load_bars
    from autobot.live.node import run_replay
    from autobot.persistence.status import summary
    from tests.helpers import ROOT
    bars = load_bars(ROOT / "examples" / "data" / "btcusd_coinbase_1h_2018_2019.csv")
    state = tmp_path / "s.sqlite"
    run_replay(ROOT / "policy.yaml", {"BTCUSDT.BINANCE": bars.slice(0, 1500)}, state=state)
    st = summary(state)
    trips = [b for b in st["breakers"] if str(b.get("action", "")).startswith("demote")]
    assert trips, st["breakers"]
    assert st["capital"] == {"equity": trips[-1]["equity"], "on_paper": True, "since": trips[-1]["ts"]}
    assert st["equity"] != st["capital"]["equity"]                    # the paper track went on
    out = CliRunner().invoke(app, ["status", "--state", str(state)])
    assert out.exit_code == 0 and "demoted to paper at 2018-11-08" in out.output and "paper track" in out.output
