#!/usr/bin/env python
"""Benchmark the live node: decision latency, and replay speed against the backtest.

Run from anywhere::

    .venv/bin/python benchmarks/bench_live.py [--bars N]

One run, on the same N bars (default 100,000 one-minute bars tiled from
``<repo>/../shared/data/btc_perp_1m_20211231_20220201.csv``) and the shipped policy with every
``bar:`` set to ``1m``:

* live: ``autobot.live.node.run_replay`` at full speed (``--speed max``): a TradingNode with the
  replay data client, the bar-aware sandbox and the portfolio controller. Decision latency is
  the wall time from the moment the data client hands a bar to the node to the moment a
  strategy submits an order on that bar (measured on every bar with an order); median and p99.
* backtest: ``autobot.portfolio.engine.run_portfolio`` on the same bars (no comparison runs).

Printed: bars/second of each and their ratio, the latency percentiles, and a check that both
made the same trades.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE.parent))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=100_000)
    args = ap.parse_args(argv)

    from bench_language import tiled_bars
    from bench_portfolio import make_project

    from autobot.live import replay
    from autobot.live.node import run_replay
    from autobot.portfolio.engine import run_portfolio
    from autobot.strategy.rule_strategy import RuleStrategy
    from autobot.workspace import load_policy

    bars, _ = tiled_bars(args.bars)
    published: dict[int, int] = {}
    latencies: list[int] = []

    original_handle = replay.ReplayDataClient._handle_data

    def handle(self, data):          # the moment the bar goes into the node
        if hasattr(data, "bar_type"):
            published[data.ts_event] = time.perf_counter_ns()
        return original_handle(self, data)

    original_submit, original_list = RuleStrategy.submit_order, RuleStrategy.submit_order_list

    def note(strategy: RuleStrategy) -> None:
        start = published.get(strategy._bar_ts)
        if start is not None and strategy._bar_ts not in seen:
            seen.add(strategy._bar_ts)
            latencies.append(time.perf_counter_ns() - start)
    seen: set[int] = set()

    def submit(self, order, *a, **k):
        note(self)
        return original_submit(self, order, *a, **k)

    def submit_list(self, orders, *a, **k):
        note(self)
        return original_list(self, orders, *a, **k)

    with tempfile.TemporaryDirectory() as tmp:
        policy_path = make_project(Path(tmp))
        data = {"BTCUSDT.BINANCE": bars}
        t0 = time.perf_counter()
        backtest = run_portfolio(load_policy(policy_path), data, compare=False)
        t_backtest = time.perf_counter() - t0
        replay.ReplayDataClient._handle_data = handle
        RuleStrategy.submit_order, RuleStrategy.submit_order_list = submit, submit_list
        try:
            t0 = time.perf_counter()
            live = run_replay(policy_path, data)
            t_live = time.perf_counter() - t0
        finally:
            replay.ReplayDataClient._handle_data = original_handle
            RuleStrategy.submit_order, RuleStrategy.submit_order_list = original_submit, original_list
    same = live.result.trades == backtest.trades and live.result.final_equity == backtest.final_equity
    lat = np.array(latencies, dtype=np.float64) / 1e3
    n = len(bars)
    print(f"AutoBot live benchmark: {n:,} one-minute bars (tiled real BTC), shipped policy at bar 1m; "
          f"Python {platform.python_version()}")
    print(f"    {'run':<34}{'wall s':>9}{'bars/s':>10}{'us/bar':>9}{'trades':>8}")
    print(f"    {'backtest (BacktestEngine)':<34}{t_backtest:>9.1f}{n / t_backtest:>10,.0f}"
          f"{t_backtest / n * 1e6:>9.1f}{len(backtest.trades):>8,}")
    print(f"    {'live replay (TradingNode, max speed)':<34}{t_live:>9.1f}{n / t_live:>10,.0f}"
          f"{t_live / n * 1e6:>9.1f}{len(live.result.trades):>8,}")
    print(f"    replay bars/s / backtest bars/s = {t_backtest / t_live:.2f}; same trades and final equity: {same}")
    if len(lat):
        print(f"    decision latency, bar handed to the node -> order submitted, over {len(lat):,} bars with "
              f"orders: median {np.median(lat):,.0f} us, p99 {np.percentile(lat, 99):,.0f} us, "
              f"max {lat.max():,.0f} us")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
