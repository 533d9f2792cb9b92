#!/usr/bin/env python
"""Honesty and power of ``autobot discover`` (issue 29), measured in one run:

* noise: seeded random walks (hourly bars): how many runs end ``discovered`` (target: at most 1 in 20);
* power: the same walks with a planted edge (the 5 bars after a close above the prior 20-bar high
  drift up by ``--edge`` a bar): how many end ``discovered`` and whether a breakout rule is among the
  survivors (target: 16 of 20);
* throughput: candidates per second.

    .venv/bin/python benchmarks/bench_discover.py [--runs 20] [--bars 50000] [--budget 300] [--edge 0.003]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def walk(n: int, seed: int, edge: float):
    from autobot.data.bars import Bars
    rng = np.random.default_rng(seed)
    o, h, lo, c = (np.empty(n) for _ in range(4))
    p, boost = 100.0, 0
    for t in range(n):
        drift = edge if boost > 0 else 0.0
        boost = max(boost - 1, 0)
        x = p * np.exp(rng.normal(drift, 0.01))
        o[t], c[t] = p, x
        h[t], lo[t] = max(p, x) * (1 + abs(rng.normal(0, 0.002))), min(p, x) * (1 - abs(rng.normal(0, 0.002)))
        if edge and t >= 20 and x > h[t - 20:t].max():
            boost = 5
        p = x
    ts = (np.datetime64("2015-01-01T00:00", "ns") + np.arange(n) * np.timedelta64(1, "h")).astype(np.int64)
    return Bars(f"walk-{seed}", ts, np.round(o, 4), np.round(h, 4), np.round(lo, 4), np.round(c, 4),
                np.full(n, 1000.0), "synthetic")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bars", type=int, default=50_000)
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--edge", type=float, default=0.003)
    args = ap.parse_args()
    from autobot.discover.run import discover, load_series
    from autobot.discover.search import Options
    counts = {"noise": 0, "edge": 0, "edge_breakout": 0}
    evaluated, spent = 0, 0.0
    for kind in ("noise", "edge"):
        for k in range(args.runs):
            bars = walk(args.bars, 1000 * (kind == "edge") + k, args.edge if kind == "edge" else 0.0)
            series = load_series([(bars.path, bars, "BTCUSD.KRAKEN")], 0.3, 1 / 3)
            t0 = time.perf_counter()
            d = discover(series, Options(budget=args.budget, seed=k))
            spent += time.perf_counter() - t0
            evaluated += d.candidates
            hit = d.verdict == "discovered"
            counts[kind] += hit
            if kind == "edge" and hit and any("highest(high" in v.document_text for v in d.survivors):
                counts["edge_breakout"] += 1
            print(f"{kind} {k}: {d.verdict} (SPA p {d.spa_pvalue}, PBO {d.pbo}, {len(d.survivors)} survivors)",
                  flush=True)
    print(f"noise discovered: {counts['noise']} of {args.runs} (target <= {max(1, args.runs // 20)})")
    print(f"planted edge discovered: {counts['edge']} of {args.runs}, with a breakout rule among the survivors: "
          f"{counts['edge_breakout']} (target >= {int(args.runs * 0.8)})")
    print(f"throughput: {evaluated / spent:.1f} candidates a second on {args.bars:,} bars (one process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
