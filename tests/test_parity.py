"""The parity ledger: a replayed node's journal re-run in the backtest engine matches fill for
fill; differences planted in a copy of the journal are each found and attributed."""

from __future__ import annotations

import math
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from autobot.data.bars import load_bars
from autobot.live.parity import DAY_NS, ParityProvider, _cause, ledger
from tests.helpers import ROOT

POLICY = ROOT / "policy.yaml"


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    from autobot.live.node import run_replay
    state = tmp_path_factory.mktemp("parity") / "state.sqlite"
    run_replay(POLICY, {"BTCUSDT.BINANCE": load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")},
               state=state)
    return state


def tampered(journal: Path, tmp_path: Path, *sql: tuple) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    copy = tmp_path / "copy.sqlite"
    shutil.copy(journal, copy)
    db = sqlite3.connect(copy)
    for statement in sql:
        db.execute(*statement)
    db.commit()
    db.close()
    return copy


def fills(path: Path) -> list[tuple]:
    db = sqlite3.connect(path)
    rows = db.execute("SELECT strategy, seq, filled, ts, side, price FROM fills ORDER BY ts").fetchall()
    db.close()
    return rows


def test_a_replay_matches_its_backtest_fill_for_fill(journal: Path) -> None:
    led = ledger(POLICY, journal)
    out = led.to_json()
    assert out["by_cause"]["match"] == len(fills(journal)) > 20
    assert led.differences == [] and out["tracking_error"] == 0.0 and out["fill_ratio"] == 1.0
    assert sum(d["live_fills"] for d in out["days"]) == len(fills(journal))


def test_planted_differences_are_found_and_attributed(journal: Path, tmp_path: Path) -> None:
    rows = fills(journal)
    price_row, gone_row, late_row = rows[5], rows[9], rows[13]
    bar = 3600 * 1_000_000_000
    path = tampered(
        journal, tmp_path,
        ("UPDATE fills SET price = price * 1.001 WHERE strategy = ? AND seq = ? AND filled = ?", price_row[:3]),
        ("DELETE FROM fills WHERE strategy = ? AND seq = ? AND filled = ?", gone_row[:3]),
        ("UPDATE fills SET ts = ts + ? WHERE strategy = ? AND seq = ? AND filled = ?", (bar, *late_row[:3])))
    led = ledger(POLICY, path)
    found = {(d["ts"], d["cause"]) for d in led.differences}
    assert found == {(price_row[3], "fill price"), (gone_row[3], "unexplained"), (late_row[3], "latency")}
    price = next(d for d in led.differences if d["cause"] == "fill price")
    assert price["bps"] == pytest.approx(10.0, rel=1e-6)
    n = led.numbers("portfolio", 0, led.until)
    expected = len(rows)                           # every backtest fill; one the node did not make
    assert n["fill_ratio"] == pytest.approx((expected - 1) / expected)
    made = expected - 1                            # slippage: the mean over the fills made (10 bps on one)
    late = next(d for d in led.differences if d["cause"] == "latency")
    assert n["slippage_bps"] == pytest.approx((10.0 + abs(late["bps"])) / made, rel=1e-6)
    # the same difference after a reload is attributed to it
    reload_path = tampered(journal, tmp_path / "reload",
                           ("DELETE FROM fills WHERE strategy = ? AND seq = ? AND filled = ?", gone_row[:3]),
                           ("INSERT INTO events (run, ts, wall, kind, strategy, payload) VALUES "
                            "((SELECT value FROM meta WHERE key = 'run'), ?, 0, 'reload', NULL, '{}')",
                            (gone_row[3] - bar,)))
    assert [(d["ts"], d["cause"]) for d in ledger(POLICY, reload_path).differences] == [(gone_row[3], "reload")]


def test_tracking_error_is_the_rms_of_daily_return_differences(journal: Path, tmp_path: Path) -> None:
    db = sqlite3.connect(journal)
    eq = db.execute("SELECT ts, equity FROM equity ORDER BY ts").fetchall()
    db.close()
    ts = np.array([e[0] for e in eq])
    days = ts // DAY_NS
    target = int(np.unique(days)[10])
    last_of_day = int(ts[days == target][-1])
    path = tampered(journal, tmp_path, ("UPDATE equity SET equity = equity * 1.01 WHERE ts = ?", (last_of_day,)))
    led = ledger(POLICY, path)
    # the day's close is 1% up, so that day's return is up and the next one's is down by as much
    base = dict(eq)
    prev = int(ts[days == target - 1][-1])
    nxt = int(ts[days == target + 1][-1])
    d1 = base[last_of_day] * 1.01 / base[prev] - base[last_of_day] / base[prev]
    d2 = base[nxt] / (base[last_of_day] * 1.01) - base[nxt] / base[last_of_day]
    n_days = len(led.day_returns)
    assert led.numbers("portfolio", 0, led.until)["tracking_error"] == pytest.approx(
        math.sqrt((d1 ** 2 + d2 ** 2) / n_days), rel=1e-9)


def test_causes_of_a_missing_fill() -> None:
    bar = 60
    holes = np.array([1_000])
    assert _cause(100, holes, [], 200, bar) == "warm-up"
    assert _cause(1_100, holes, [], 200, bar) == "missing bar"
    assert _cause(1_100, holes, [900], 200, bar) == "reload"
    assert _cause(5_000, holes, [], 200, bar) == "unexplained"


def test_the_provider_computes_in_another_process_and_never_blocks(journal: Path) -> None:
    provider = ParityProvider(POLICY, journal)
    try:
        first = provider("portfolio", 0, 1)
        assert first is None                          # started: the caller asks again at its next bar
        deadline = time.time() + 120
        got = None
        while got is None and time.time() < deadline:
            got = provider("portfolio", 0, 1)
            time.sleep(0.05)
        assert got == {"tracking_error": 0.0, "slippage_bps": 0.0, "fill_ratio": 1.0}
    finally:
        provider.close()
