#!/usr/bin/env python
"""Benchmark an AutoBot backtest against the same strategy written by hand on plain Nautilus.

Run from anywhere (the repo root is found from this file's location)::

    .venv/bin/python benchmarks/bench_backtest.py [--bars N] [--small M] [--reps K]

Everything is measured in one run on the same bars: N bars (default 1,000,000) made by tiling
real 1-minute BTC perpetual bars (``<repo>/../shared/data/btc_perp_1m_20211231_20220201.csv``,
price-continuous, 1-minute steps, as ``bench_language.tiled_bars``), and their first M bars
(default 100,000).

The strategy is an EMA(10)/EMA(20) cross that is always in the market: it goes long when the
fast EMA crosses above the slow one and short when it crosses below, reversing about 4,600
times per 100,000 bars, with a fixed size of 0.01 BTC and no stop or target.

* compiled: an AutoBot strategy document written to a temp dir, compiled with
  ``autobot.workspace.compile_strategy_text`` and run with ``autobot.backtest.engine.run_backtest``
  (default ``VenueSettings``).
* hand: a plain Nautilus ``Strategy`` defined in this file with the same rule: ``talib.stream``
  EMA handles opened on the first 10 / 20 closes as AutoBot does, market orders of the same size,
  a reversal closes the position then opens the other side, ``portfolio.analyzer.reset()`` every
  256 closed positions, and ``cache.purge_closed_orders``
  before each entry, as ``RuleStrategy`` does. It runs in a ``BacktestEngine`` set up as
  ``run_backtest`` sets it up (same venue, instrument, bars, fill model
  ``autobot.venue.settings.venue_fills``, logging, no analysis).

Each measured run is a fresh subprocess; its wall time covers everything a backtest does once
the bars are in memory (compiling, instrument, Nautilus bar conversion, engine setup, the run,
reading the results, dispose), and its peak memory is the child's ``ru_maxrss`` (``os.wait4``).
Honesty check: both sides must produce the same fills (count and every timestamp, side,
quantity and price), the same final account balance and the same final equity.

Targets: compiled / hand wall time at N bars <= 1.25; the compiled strategy's
µs/bar(N) / µs/bar(M) <= 1.3 (linear scaling); peak memory of every compiled run < 2 GiB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]

sys.path.insert(0, str(REPO))         # harmless when the package is installed editable
sys.path.insert(0, str(HERE.parent))  # bench_language.tiled_bars

INSTRUMENT = "BTCUSDT.BINANCE"
BAR_TYPE = f"{INSTRUMENT}-1-MINUTE-LAST-EXTERNAL"   # what run_backtest builds for 1m bars
FAST, SLOW = 10, 20
QTY = "0.01"   # 0.1 BTC would pay ~100k USDT of fees over 1M bars and drive the 100k account negative

RATIO_TARGET = 1.25
SCALING_TARGET = 1.3
MEMORY_TARGET_GIB = 2.0

DOCUMENT = f"""\
strategy: ema_cross_reversal
description: EMA cross that is always in the market (benchmark)
market:
  instrument: {INSTRUMENT}
  bar: 1m
params:
  fast: {{default: {FAST}, min: 2, max: 100}}
  slow: {{default: {SLOW}, min: 3, max: 200}}
indicators:
  ema_fast: ema(close, fast)
  ema_slow: ema(close, slow)
entry:
  long: crosses_above(ema_fast, ema_slow)
  short: crosses_below(ema_fast, ema_slow)
exit:
  long: crosses_below(ema_fast, ema_slow)
  short: crosses_above(ema_fast, ema_slow)
risk:
  stop_loss: none
  take_profit: none
  trailing_stop: none
sizing:
  fixed_qty: {QTY}
"""


# ------------------------------------------------------------------------ the baseline

def hand_strategy_class() -> tuple[type, type]:
    """The hand-written Nautilus strategy and its config (imported only in the workers)."""
    import numpy as np
    import talib.stream as ta_stream
    from nautilus_trader.config import StrategyConfig
    from nautilus_trader.model.data import Bar, BarType
    from nautilus_trader.model.enums import OrderSide
    from nautilus_trader.model.events import OrderFilled
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.trading.strategy import Strategy

    class EmaCrossConfig(StrategyConfig, frozen=True):
        instrument_id: InstrumentId
        bar_type: BarType
        fast: int
        slow: int
        qty: str

    class EmaCrossReversal(Strategy):
        """Long on EMA(fast) crossing above EMA(slow), short on crossing below; always in."""

        def __init__(self, config: EmaCrossConfig) -> None:
            super().__init__(config)
            self.iid = config.instrument_id
            self.fast, self.slow = config.fast, config.slow
            self.closes: list[float] | None = []     # warm-up buffer until both handles are open
            self.fast_update: Any = None
            self.slow_update: Any = None
            self.prev_fast = self.prev_slow = float("nan")
            self.fills: list[tuple[int, str, float, float]] = []
            self.closed = 0

        def on_start(self) -> None:
            self.instrument = self.cache.instrument(self.iid)
            self.qty = self.instrument.make_qty(float(self.config.qty))
            self.subscribe_bars(self.config.bar_type)

        def on_bar(self, bar: Bar) -> None:
            c = bar.close.as_double()
            if self.slow_update is not None:
                f = self.fast_update(c) + 0.0
                s = self.slow_update(c) + 0.0
            else:   # warm-up: open each handle on its first `period` closes, as AutoBot does
                closes = self.closes
                assert closes is not None
                closes.append(c)
                if self.fast_update is None:
                    if len(closes) < self.fast:
                        return
                    h = ta_stream.EMA(np.array(closes, dtype=np.float64), timeperiod=self.fast)
                    self.fast_update, f = h.update, float(h.value)
                else:
                    f = self.fast_update(c) + 0.0
                if len(closes) < self.slow:
                    self.prev_fast = f
                    return
                h = ta_stream.EMA(np.array(closes, dtype=np.float64), timeperiod=self.slow)
                self.slow_update, s = h.update, float(h.value)
                self.closes = None
            up = f > s and self.prev_fast <= self.prev_slow
            down = f < s and self.prev_fast >= self.prev_slow
            self.prev_fast, self.prev_slow = f, s
            if up:
                self.go(OrderSide.BUY)
            elif down:
                self.go(OrderSide.SELL)

        def go(self, side: OrderSide) -> None:
            iid = self.iid
            if not self.portfolio.is_flat(iid):
                opposite = self.portfolio.is_net_short(iid) if side == OrderSide.BUY else \
                    self.portfolio.is_net_long(iid)
                if not opposite:
                    return                              # already on that side
                self.close_all_positions(iid)           # reversal: close, then open the other side
            self.cache.purge_closed_orders(self.clock.timestamp_ns())
            self.submit_order(self.order_factory.market(iid, side, self.qty))

        def on_order_filled(self, event: OrderFilled) -> None:
            self.fills.append((event.ts_event, "BUY" if event.order_side == OrderSide.BUY else "SELL",
                               float(event.last_qty), float(str(event.last_px))))

        def on_position_closed(self, event: Any) -> None:
            # as RuleStrategy does: keep NautilusTrader 1.231's per-trade PnL record short (#4434)
            self.closed += 1
            if self.closed % 256 == 0:
                self.portfolio.analyzer.reset()

    return EmaCrossReversal, EmaCrossConfig


def run_hand(bars: Any) -> dict[str, Any]:
    """The baseline in a BacktestEngine set up as ``run_backtest`` sets it up."""
    from decimal import Decimal

    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import BacktestEngineConfig, LoggingConfig
    from nautilus_trader.model.currencies import Currency
    from nautilus_trader.model.data import BarType
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.identifiers import TraderId, Venue
    from nautilus_trader.model.objects import Money, Price

    from autobot.backtest.data import to_nautilus
    from autobot.venue.settings import VenueSettings, venue_fills
    from autobot.venue.instruments import make_instrument

    strategy_cls, config_cls = hand_strategy_class()
    venue = VenueSettings()
    inst = make_instrument(INSTRUMENT, [bars.open, bars.high, bars.low, bars.close])
    bar_type = BarType.from_str(BAR_TYPE)
    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BACKTESTER-001"),
                                                 logging=LoggingConfig(log_level="ERROR"), run_analysis=False))
    try:
        usdt = Currency.from_str("USDT")
        engine.add_venue(
            venue=Venue(inst.id.venue.value), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
            starting_balances=[Money(venue.capital, usdt)], base_currency=usdt,
            default_leverage=Decimal(str(venue.leverage)),
            bar_execution=True, **venue_fills(venue))
        engine.add_instrument(inst)
        engine.add_data(to_nautilus(bars, bar_type, inst, 60))
        strategy = strategy_cls(config_cls(instrument_id=inst.id, bar_type=bar_type, fast=FAST, slow=SLOW,
                                           qty=QTY, order_id_tag="001"))
        engine.add_strategy(strategy)
        engine.run()
        account = engine.portfolio.account(inst.id.venue)
        balance = account.balance_total(inst.quote_currency).as_double()
        opened = engine.cache.positions_open(instrument_id=inst.id, strategy_id=strategy.id)
        equity = balance
        if opened:
            equity += opened[0].unrealized_pnl(Price(float(bars.close[-1]), inst.price_precision)).as_double()
        fills = list(strategy.fills)
    finally:
        engine.dispose()
    return {"fills": fills, "balance": balance, "equity": equity}


def run_compiled(bars: Any) -> dict[str, Any]:
    """The AutoBot document, compiled and run with ``run_backtest``."""
    from autobot.backtest.engine import run_backtest
    from autobot.workspace import compile_strategy_text

    with tempfile.TemporaryDirectory(prefix="bench_backtest_") as tmp:
        path = Path(tmp) / "ema_cross_reversal.yaml"
        path.write_text(DOCUMENT)
        compiled = compile_strategy_text(path.read_text(), str(path))
        result = run_backtest(compiled, bars)
    fills = [f[:4] for f in result.fills]
    return {"fills": fills, "balance": result.final_balance, "equity": result.final_equity,
            "trades": len(result.trades)}


# ---------------------------------------------------------------------------- workers

def worker(side: str, n: int, small: int | None) -> None:
    """One measured run in this (fresh) process; prints one JSON line."""
    import gc
    import resource

    # imports and bars are ready before the clock starts, for both sides
    import nautilus_trader.backtest.engine  # noqa: F401
    import nautilus_trader.persistence.wranglers  # noqa: F401
    import pandas  # noqa: F401

    import autobot.backtest.engine  # noqa: F401
    import autobot.venue.fills  # noqa: F401
    import autobot.strategy.rule_strategy  # noqa: F401
    from bench_language import tiled_bars

    bars, tiles = tiled_bars(n)
    if small is not None:
        bars = bars.slice(0, small)
    if side == "hand":
        hand_strategy_class()
    gc.collect()
    t0 = time.perf_counter()
    out = run_compiled(bars) if side == "compiled" else run_hand(bars)
    wall = time.perf_counter() - t0
    fills = out.pop("fills")
    digest = hashlib.sha256(repr(fills).encode()).hexdigest()
    print(json.dumps({"side": side, "bars": len(bars), "tiles": tiles, "wall": wall, "n_fills": len(fills),
                      "digest": digest, "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      **out}))


def measure(side: str, n: int, small: int | None) -> dict[str, Any]:
    """Run one worker subprocess; its result and its peak RSS from ``os.wait4``."""
    cmd = [sys.executable, str(HERE), "--worker", side, "--bars", str(n)]
    if small is not None:
        cmd += ["--small", str(small)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{side} run on {small or n:,} bars failed ({proc.returncode}):\n{out}")
    result = json.loads(out.strip().splitlines()[-1])
    result["maxrss_kib"] = usage.ru_maxrss     # KiB on Linux
    return result


# ----------------------------------------------------------------------------- report

def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bars", type=int, default=1_000_000, help="bars of the large run (default 1,000,000)")
    ap.add_argument("--small", type=int, default=100_000,
                    help="the small run uses the first M of those bars (default 100,000)")
    ap.add_argument("--reps", type=int, default=1,
                    help="runs per side and size, best wall time and largest peak memory kept (default 1)")
    ap.add_argument("--worker", choices=("compiled", "hand"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.bars, args.small if args.small != args.bars else None)
        return 0
    n, m = args.bars, min(args.small, args.bars)

    import numpy as np
    import nautilus_trader
    from autobot.language.talib_import import talib

    t_start = time.perf_counter()
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "autobot"],
                           capture_output=True, text=True)
    commit = (git.stdout.strip() or "unknown") + (" + uncommitted autobot/ changes" if dirty.stdout.strip() else "")
    print(f"AutoBot backtest benchmark: {n:,} bars and their first {m:,} = btc_perp_1m_20211231_20220201.csv "
          f"tiled (price-continuous, 1-minute steps)")
    print(f"Python {platform.python_version()}, NautilusTrader {nautilus_trader.__version__}, numpy "
          f"{np.__version__}, TA-Lib {talib.__version__}, {platform.machine()}, {os.cpu_count()} CPUs; "
          f"each run in a fresh subprocess, {args.reps} run(s) per cell (best wall time); code at {commit}")
    print(f"Strategy: EMA({FAST}) / EMA({SLOW}) cross reversal, fixed_qty {QTY}, no stop/target; "
          f"NETTING margin account, 100,000 USDT, leverage 1, closed orders purged at each entry")

    runs: dict[tuple[str, int], dict[str, Any]] = {}
    for _ in range(args.reps):
        for size in (m, n):
            for side in ("hand", "compiled"):     # alternate, so drift hits both alike
                print(f"  ... {side} {size:,} bars", file=sys.stderr, flush=True)
                r = measure(side, n, size)
                best = runs.get((side, size))
                if best is None:
                    runs[(side, size)] = r
                else:
                    for key in ("n_fills", "digest", "balance", "equity"):
                        assert r[key] == best[key], f"{side} {size:,}: {key} differs between repetitions"
                    if r["wall"] < best["wall"]:
                        r["maxrss_kib"] = max(r["maxrss_kib"], best["maxrss_kib"])
                        runs[(side, size)] = r
                    else:
                        best["maxrss_kib"] = max(r["maxrss_kib"], best["maxrss_kib"])

    # honesty check --------------------------------------------------------------------
    for size in (m, n):
        h, c = runs[("hand", size)], runs[("compiled", size)]
        assert h["n_fills"] == c["n_fills"], f"{size:,} bars: {h['n_fills']} hand fills, {c['n_fills']} compiled"
        assert h["digest"] == c["digest"], f"{size:,} bars: the fills differ (same count {h['n_fills']})"
        assert h["balance"] == c["balance"], f"{size:,} bars: final balance {h['balance']} != {c['balance']}"
        assert h["equity"] == c["equity"], f"{size:,} bars: final equity {h['equity']} != {c['equity']}"

    # report -----------------------------------------------------------------------------
    gib = 1024.0 ** 2     # KiB per GiB
    print()
    print("Whole run: compile + instrument + Nautilus bar conversion + engine setup + run + results + dispose")
    print(f"    {'side':<10}{'bars':>11}{'wall s':>9}{'bars/s':>10}{'µs/bar':>9}{'fills':>8}"
          f"{'final balance':>16}{'final equity':>15}{'peak RSS MiB':>14}")
    for size in (m, n):
        for side in ("hand", "compiled"):
            r = runs[(side, size)]
            print(f"    {side:<10}{size:>11,}{r['wall']:>9.2f}{size / r['wall']:>10,.0f}"
                  f"{r['wall'] / size * 1e6:>9.1f}{r['n_fills']:>8,}{r['balance']:>16,.2f}"
                  f"{r['equity']:>15,.2f}{r['maxrss_kib'] / 1024:>14,.0f}")
    print("    honesty check: at both sizes the two sides made the same fills (count and every ts, side, "
          "qty, price) and end with the same balance and equity")
    print()
    us = {(s, z): runs[(s, z)]["wall"] / z * 1e6 for s in ("hand", "compiled") for z in (m, n)}
    ratio = runs[("compiled", n)]["wall"] / runs[("hand", n)]["wall"]
    ratio_small = runs[("compiled", m)]["wall"] / runs[("hand", m)]["wall"]
    scaling = us[("compiled", n)] / us[("compiled", m)]
    scaling_hand = us[("hand", n)] / us[("hand", m)]
    peak = max(runs[("compiled", z)]["maxrss_kib"] for z in (m, n)) / gib
    peak_hand = max(runs[("hand", z)]["maxrss_kib"] for z in (m, n)) / gib
    rows = [
        (f"compiled / hand wall time at {n:,} bars", f"{ratio:.3f}", f"<= {RATIO_TARGET}",
         ratio <= RATIO_TARGET, f"(at {m:,}: {ratio_small:.3f})"),
        (f"compiled µs/bar({n:,}) / µs/bar({m:,})", f"{scaling:.3f}", f"<= {SCALING_TARGET}",
         scaling <= SCALING_TARGET, f"(hand: {scaling_hand:.3f})"),
        ("compiled peak memory (max RSS)", f"{peak:.2f} GiB", f"< {MEMORY_TARGET_GIB:g} GiB",
         peak < MEMORY_TARGET_GIB, f"(hand: {peak_hand:.2f} GiB)"),
    ]
    print(f"    {'measure':<44}{'value':>10}{'target':>11}  result")
    for name, value, target, ok, note in rows:
        print(f"    {name:<44}{value:>10}{target:>11}  {mark(ok):<6} {note}")
    print()
    misses = [r[0] for r in rows if not r[3]]
    print(f"Summary: {len(rows) - len(misses)}/{len(rows)} targets met"
          + (f"; MISS: {', '.join(misses)}" if misses else "")
          + f"; compiled {us[('compiled', n)]:.1f} µs/bar vs hand {us[('hand', n)]:.1f} µs/bar at {n:,} bars"
          + f"  [{time.perf_counter() - t_start:.0f} s total]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
