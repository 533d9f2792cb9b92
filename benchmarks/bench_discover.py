#!/usr/bin/env python
"""Honesty and power of ``autobot discover`` (issue 29), measured in one run:

* noise: seeded random walks (hourly bars): how many runs end ``discovered`` (target: at most 1 in 20);
* power: the same walks with a planted edge (the 5 bars after a close above the prior 20-bar high
  drift up by ``--edge`` a bar): how many end ``discovered`` and whether a breakout rule is among the
  survivors (target: 16 of 20);
* throughput: candidates per second.

    .venv/bin/python benchmarks/bench_discover.py [--runs 20] [--bars 50000] [--budget 300] [--edge 0.003]

``--throughput`` measures instead, in one run, the search's candidates per second on a 100,000-bar
random walk (``--bars``) with 1 and 2 workers (``--workers 1 2``; more than one: a local Ray
instance, or local processes without Ray), checks that they searched the same candidates, and
shows where one candidate's time goes (compile, its own nodes, the kernel, the rest):

    .venv/bin/python benchmarks/bench_discover.py --throughput [--bars 100000] [--budget 200] [--workers 1 2]
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


def where_time_goes(series, opts, count: int = 60) -> dict[str, float]:
    """Milliseconds a candidate spends in each stage of its score (one process, warm caches)."""
    import random
    from autobot.discover import genome as G
    from autobot.discover.score import SearchRun, annualised_sharpe, returns_of
    from autobot.evaluate.batch import evaluate
    from autobot.fast import kernel as K
    from autobot.fast import program as P
    from autobot.fast.engine import Outputs, kernel_params
    from autobot.language.compile import compile_strategy_text
    from autobot.venue.settings import VenueSettings
    s = series[0]
    sr = SearchRun(s, opts.capital)
    rng = random.Random(1)
    spent = dict.fromkeys(("render", "compile", "indicators and rules", "program", "kernel", "returns and Sharpe"), 0.0)
    done = 0
    for k in range(count + 5):
        c = G.random_candidate(rng, opts.sides)
        t = [time.perf_counter()]
        text = G.render_document(c, "candidate", s.instrument, s.bar, opts.sizing)
        t.append(time.perf_counter())
        compiled = compile_strategy_text(text, "candidate.yaml")
        t.append(time.perf_counter())
        ready = sr._prepare(compiled)
        values = evaluate(compiled.plan, ready.seen, ready.ext, cache=sr.cache)
        t.append(time.perf_counter())
        try:
            prog = P.build(compiled, values)
        except Exception:
            continue
        pi, pf = kernel_params(compiled, ready.inst, VenueSettings(capital=opts.capital), ready.cp, ready.bp,
                               opts.capital)
        out = Outputs(len(ready.bars))
        t.append(time.perf_counter())
        seen = ready.seen
        K.simulate(seen.open, seen.high, seen.low, seen.close, prog.vals, prog.ext_slots, prog.ops, prog.rule_slots,
                   prog.rule_warmup, prog.level_kind, prog.level_value, prog.level_slot, pi, pf, out.rec, out.fl,
                   out.tr, out.status)
        t.append(time.perf_counter())
        r = returns_of(out.equity, opts.capital)
        annualised_sharpe(r[: s.is_end], ready.per_year)
        t.append(time.perf_counter())
        if k < 5:                                 # warm-up: first TA-Lib values, the kernel's load
            continue
        done += 1
        for name, a, b in zip(spent, t, t[1:]):
            spent[name] += b - a
    return {name: 1000 * v / max(done, 1) for name, v in spent.items()}


def throughput(args: argparse.Namespace) -> int:
    from autobot.discover.run import load_series
    from autobot.discover.search import Options, run_search
    from autobot.discover.workers import make_pool
    bars = walk(args.bars, 7, 0.0)
    series = load_series([(bars.path, bars, "BTCUSD.KRAKEN")], 0.3, 1 / 3)
    opts = Options(budget=args.budget, seed=7)
    s0 = series[0]
    print(f"{args.bars:,} hourly bars (search segment {s0.search_end:,}), budget {args.budget}, seed 7", flush=True)
    keys = {}
    for workers in args.workers:
        t0 = time.perf_counter()
        pool = make_pool(series, opts, workers, None)
        start = time.perf_counter() - t0
        try:
            found = run_search(series, opts, s0.instrument, s0.bar, pool=pool)
        finally:
            pool.close()
        n = len(found.scored)
        keys[workers] = [x.key for x in found.scored]
        ahead, stood = found.ahead
        print(f"workers {workers} ({pool.where}): {n} candidates in {found.seconds:.1f} s = "
              f"{n / found.seconds:.1f} candidates/s (start-up {start:.1f} s, not counted; children drawn ahead "
              f"{ahead}, of which counted {stood})", flush=True)
    same = len({tuple(v) for v in keys.values()}) == 1
    print(f"the same candidates in the same order with every worker count: {same}")
    stages = where_time_goes(series, opts)
    total = sum(stages.values())
    print(f"one candidate, one process, {total:.1f} ms: " +
          ", ".join(f"{name} {ms:.1f} ms ({100 * ms / total:.0f}%)" for name, ms in stages.items()))
    return 0 if same else 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bars", type=int, default=None)
    ap.add_argument("--budget", type=int, default=None)
    ap.add_argument("--edge", type=float, default=0.003)
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    if args.throughput:
        args.bars, args.budget = args.bars or 100_000, args.budget or 200
        return throughput(args)
    args.bars, args.budget = args.bars or 50_000, args.budget or 300
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
