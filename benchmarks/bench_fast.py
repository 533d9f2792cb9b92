#!/usr/bin/env python
"""Benchmark the fast engine (``autobot.fast``) against the Nautilus backtest, in one run.

    .venv/bin/python benchmarks/bench_fast.py [--bars N] [--nautilus-bars M] [--trials T]

Bars: N (default 1,000,000) one-minute bars tiled from real BTC perpetual bars
(``bench_language.tiled_bars``). Strategies: the three shipped ones (``strategies/*.yaml``, their
``bar:`` set to ``1m`` so every one of the N bars is simulated) and the EMA-reversal document of
``bench_backtest.py``.

* fast: ``run_fast`` on all N bars, indicators included (best of 3, after one warm-up call),
  as bars/s; and both engines on the first M bars (default 200,000: Nautilus runs ~60-130 µs a
  bar), whose fills, final balance and final equity must be identical (checked here), as the
  speed ratio Nautilus / fast on the same bars.
* study: T trials (default 100) of the EMA reversal over a (fast, slow) grid on the N bars, the
  TA-Lib results shared between trials by the plan's structural keys (``evaluate(cache=)``):
  trials/s and the share of time in the batch evaluator (TA-Lib) vs the loop.
* limit: the EMA-reversal signals with numpy + TA-Lib alone (no simulation), and vectorbt's
  ``Portfolio.from_signals`` on the same signals when vectorbt is installed: their time per
  run against the fast engine's.
* JIT: the kernel's one-off compile time in a fresh process with an empty numba cache, and the
  first call in a second process that loads it from that cache.

Targets (issue 12): fast >= 1,000,000 bars/s per trial with indicators, and >= 50x Nautilus.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE.parent))

from bench_backtest import DOCUMENT as EMA_DOCUMENT  # noqa: E402
from bench_language import tiled_bars  # noqa: E402

from autobot.backtest.engine import run_backtest  # noqa: E402
from autobot.evaluate.batch import evaluate  # noqa: E402
from autobot.evaluate.semantics import flat_externals  # noqa: E402
from autobot.fast.engine import run_fast  # noqa: E402
from autobot.language.compile import compile_strategy_text  # noqa: E402

TARGET_BARS_PER_S = 1_000_000
TARGET_RATIO = 50


def documents() -> dict[str, str]:
    docs = {}
    for path in sorted((REPO / "strategies").glob("*.yaml")):
        text = path.read_text()
        for size in ("1h", "4h", "15m", "5m", "1d"):
            text = text.replace(f"bar: {size}\n", "bar: 1m\n")
        docs[path.stem] = text
    docs["ema_reversal"] = EMA_DOCUMENT
    return docs


def best(reps: int, fn: Any) -> tuple[float, Any]:
    out, t = None, float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return t, out


def jit_times() -> dict[str, float]:
    """Compile time with an empty numba cache, then the first call in a new process using it."""
    code = ("import time; t0 = time.perf_counter(); "
            "from bench_fast import first_call; first_call(); print(time.perf_counter() - t0)")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": f"{HERE.parent}:{REPO}"}
        cold = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout.split()[-1])
        warm = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout.split()[-1])
        files = sum(1 for _ in Path(cache).rglob("*.nbi"))
    return {"first_call_empty_cache_s": cold, "first_call_from_disk_cache_s": warm, "cache_index_files": files}


def first_call() -> None:
    """Import, compile (or load) the kernel and run it once on a few bars."""
    bars, _ = tiled_bars(2_000)
    run_fast(compile_strategy_text(EMA_DOCUMENT, "ema.yaml"), bars)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--nautilus-bars", type=int, default=200_000)
    ap.add_argument("--trials", type=int, default=100)
    args = ap.parse_args()
    bars, tiles = tiled_bars(args.bars)
    head = bars.slice(0, args.nautilus_bars)
    report: dict[str, Any] = {"bars": args.bars, "tiles": tiles, "nautilus_bars": args.nautilus_bars,
                              "python": sys.version.split()[0]}
    print(f"{args.bars:,} one-minute bars ({tiles} tiles); Nautilus comparison on the first {args.nautilus_bars:,}")
    strategies = {}
    for name, text in documents().items():
        compiled = compile_strategy_text(text, f"{name}.yaml")
        run_fast(compiled, head)                          # warm: JIT loaded, caches hot
        t_fast, result = best(3, lambda: run_fast(compiled, bars, traces=False))
        t_traced, _ = best(1, lambda: run_fast(compiled, bars))
        t_fast_head, fast_head = best(3, lambda: run_fast(compiled, head))
        t0 = time.perf_counter()
        reference = run_backtest(compiled, head)
        t_naut = time.perf_counter() - t0
        same = (fast_head.fills == reference.fills and fast_head.final_balance == reference.final_balance
                and fast_head.final_equity == reference.final_equity)
        row = {"fast_s": t_fast, "bars_per_s": args.bars / t_fast, "fills": len(result.fills), "with_traces_s": t_traced,
               "fast_head_s": t_fast_head, "nautilus_head_s": t_naut, "ratio": t_naut / t_fast_head,
               "fills_head": len(reference.fills), "identical": same}
        strategies[name] = row
        print(f"  {name:15s} fast {t_fast * 1e3:8.1f} ms = {row['bars_per_s'] / 1e6:5.2f} M bars/s "
              f"({row['fills']:,} fills; with traces {t_traced * 1e3:.0f} ms) | first {args.nautilus_bars:,}: Nautilus {t_naut:6.1f} s, fast "
              f"{t_fast_head * 1e3:6.1f} ms, x{row['ratio']:,.0f}, fills {row['fills_head']:,} identical={same}")
        assert same, f"{name}: the engines differ"
    report["strategies"] = strategies

    # a study: the EMA reversal over a param grid, TA-Lib results shared by structural key
    grid = [(f, s) for f in range(2, 22) for s in range(f + 2, f + 12, 2)][: args.trials]
    cache: dict[Any, Any] = {}
    t_loop = 0.0
    with_cache = {}
    t0 = time.perf_counter()
    for fast, slow in grid:
        compiled = compile_strategy_text(EMA_DOCUMENT, "ema.yaml", {"fast": fast, "slow": slow})
        t1 = time.perf_counter()
        run_fast(compiled, bars, cache=cache, traces=False)
        t_loop += time.perf_counter() - t1
    total = time.perf_counter() - t0
    # where a trial's time goes: one trial split into TA-Lib (cold cache), the loop, the rest
    compiled = compile_strategy_text(EMA_DOCUMENT, "ema.yaml", {"fast": 7, "slow": 31})
    t_ta, _ = best(3, lambda: evaluate(compiled.plan, bars, flat_externals()))
    t_trial, _ = best(3, lambda: run_fast(compiled, bars, traces=False))
    t_hot, _ = best(3, lambda: run_fast(compiled, bars, cache=with_cache, traces=False))
    report["study"] = {"trials": len(grid), "seconds": total, "trials_per_s": len(grid) / total,
                       "cached_ta_results": len(cache), "compile_s_per_trial": (total - t_loop) / len(grid), "one_trial_s": t_trial, "evaluator_s": t_ta,
                       "evaluator_share": t_ta / t_trial, "trial_with_cached_indicators_s": t_hot}
    print(f"  study: {len(grid)} trials (traces off, TA-Lib shared) in {total:.2f} s = {len(grid) / total:.1f} "
          f"trials/s (compiling each trial's document {(total - t_loop) / len(grid) * 1e3:.0f} ms of it); {len(cache)} distinct TA-Lib calls cached. One trial {t_trial * 1e3:.1f} ms: batch "
          f"evaluator (TA-Lib) {t_ta * 1e3:.1f} ms = {t_ta / t_trial:.0%}, loop and results the rest; with "
          f"its indicators cached {t_hot * 1e3:.1f} ms")

    # the limit: signals alone with numpy + TA-Lib, and vectorbt if installed
    import talib
    close = np.ascontiguousarray(bars.close)

    def signals_only() -> tuple[np.ndarray, np.ndarray]:
        f, s = talib.EMA(close, 10), talib.EMA(close, 20)
        up = np.zeros(len(close), bool)
        down = np.zeros(len(close), bool)
        up[1:] = (f[1:] > s[1:]) & (f[:-1] <= s[:-1])
        down[1:] = (f[1:] < s[1:]) & (f[:-1] >= s[:-1])
        return up, down
    t_sig, (up, down) = best(5, signals_only)
    ema_fast = t_trial_ema = best(3, lambda: run_fast(compile_strategy_text(EMA_DOCUMENT, "e.yaml"), bars,
                                                       traces=False))[0]
    report["limit"] = {"numpy_talib_signals_s": t_sig, "fast_trial_s": t_trial_ema, "fast_over_signals": ema_fast / t_sig}
    print(f"  limit: EMA-reversal signals alone (numpy + TA-Lib) {t_sig * 1e3:.1f} ms; the fast engine "
          f"{ema_fast * 1e3:.1f} ms = x{ema_fast / t_sig:.1f} of that")
    try:
        import pandas as pd
        import vectorbt as vbt      # optional, benchmark only
        price = pd.Series(close)
        t_vbt, _ = best(3, lambda: vbt.Portfolio.from_signals(price, up, down, short_entries=down,
                                                             short_exits=up, size=0.01))
        report["limit"].update({"vectorbt_s": t_vbt, "fast_over_vectorbt": ema_fast / t_vbt})
        print(f"  vectorbt from_signals {t_vbt * 1e3:.1f} ms; fast / vectorbt x{ema_fast / t_vbt:.2f}")
    except ImportError:
        report["limit"]["vectorbt"] = "not installed"
        print("  vectorbt: not installed (optional)")

    report["jit"] = jit_times()
    print(f"  JIT: first call with an empty numba cache {report['jit']['first_call_empty_cache_s']:.1f} s, "
          f"from the disk cache in a new process {report['jit']['first_call_from_disk_cache_s']:.1f} s "
          f"({report['jit']['cache_index_files']} cached functions)")
    ok_speed = all(r["bars_per_s"] >= TARGET_BARS_PER_S for r in strategies.values())
    ok_ratio = all(r["ratio"] >= TARGET_RATIO for r in strategies.values())
    report["targets"] = {"bars_per_s >= 1M": ok_speed, "ratio >= 50": ok_ratio}
    print(f"targets: >= 1M bars/s {'PASS' if ok_speed else 'FAIL'}; >= 50x Nautilus {'PASS' if ok_ratio else 'FAIL'}")
    out = HERE.parent / "results" / "bench_fast.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
