"""The optimiser's honesty and speed (figures in benchmarks/README.md).

* noise: 20 seeded random walks (no edge for any rule; 50,000 1h bars each), a 200-trial
  walk-forward study of every shipped strategy on each: the share ending ``significant`` (the
  target is at most 1 in 20).
* planted: 20 seeded series with a known edge (a persistent hidden trend, so returns have
  positive autocorrelation) that the shipped momentum strategy exploits: the share ending
  ``significant`` (target at least 16 of 20).
* each study's row also gives what the rules before issue 30 said of the same trials
  (``dsr_survivors_variance``: the DSR with V over the scored trials alone;
  ``verdict_previous_rules``: that DSR, and PBO >= 0.5 called overfitting whatever the
  out-of-sample PSR), so the change is measured on identical trials.
* speed: trials/s of one study on the fast engine against the same study with every trial on
  NautilusTrader, in one process, and on the fast engine over a local Ray instance of all cores.

    python benchmarks/bench_optimize.py              # everything (about 30 minutes on 2 cores)
    python benchmarks/bench_optimize.py --quick      # 4 seeds, 60 trials: a smoke run
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autobot.data.synthetic import ar1_bars  # noqa: E402

STRATEGIES = sorted((ROOT / "strategies").glob("*.yaml"))
PLANTED = dict(persistence=0.995, strength=0.1)


def study(args: tuple) -> dict:
    return run_study(args)[0]


def run_study(args: tuple) -> tuple[dict, object, dict]:
    """One study: its benchmark row, the StudyResult and its assessment."""
    kind, path, seed, trials, n, strength = args
    from autobot.optimize import study as ST
    from autobot.optimize.executor import InProcess
    from autobot.optimize.verdict import assess
    bars = ar1_bars(n, seed) if kind == "noise" else ar1_bars(n, 10_000 + seed, PLANTED["persistence"], strength)
    p = ST.plan(Path(path).read_text(), str(path), bars, ST.Options(trials=trials, seed=seed))
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        res = ST.run(p, InProcess(), Path(tmp) / "j.journal")
        a = assess(res)
        seconds = time.perf_counter() - t
    final = a["final"]
    return {"kind": kind, "strategy": p.target, "seed": seed, "verdict": a["verdict"], "dsr": a["dsr"],
            "pbo": a["pbo"], "oos_psr": a["oos_psr"], "oos_sharpe": res.oos["sharpe"] if res.oos else None,
            "oos_trades": res.oos["trades"] if res.oos else 0, "min_trades": p.min_trades,
            "oos_score": a["oos_score"], "seconds": seconds,
            "trials": sum(len(w.records) for w in res.windows + [res.final]),
            "dsr_n": final["trials"], "dsr_n_effective": final.get("trials_effective"),
            "average_correlation": final.get("average_correlation"), "pruned": final["pruned"],
            "sharpe_variance": final["sharpe_variance"],
            **previous_rules(res, a)}, res, a


def previous_rules(res, a: dict) -> dict:
    """What the rules before issue 30 said of the same trials: the DSR's variance V over the final
    window's scored trials alone (N: all its trials), and PBO >= 0.5 called overfitting whatever the
    out-of-sample evidence."""
    import numpy as np

    from autobot.optimize import stats
    wr = res.final
    scored = [r.moments.sharpe for r in wr.records if r.scored and r.moments is not None and r.sums is not None]
    v = float(np.var(scored, ddof=1)) if len(scored) > 1 else 0.0
    chosen = wr.chosen
    dsr = stats.dsr(chosen.moments, len(wr.records), v) if chosen is not None and chosen.moments else 0.0
    checks = (dsr >= 0.95 and a["oos_psr"] is not None and a["oos_psr"] >= 0.95 and res.oos is not None
              and res.oos["trades"] >= res.plan.min_trades)
    pbo = a["pbo"]
    if checks:
        verdict = "significant"
    elif pbo is not None and pbo >= 0.5:
        verdict = "likely overfit"
    elif res.oos is not None and dsr >= 0.95 and (a["oos_score"] is None or a["oos_score"] <= 0):
        verdict = "likely overfit"
    else:
        verdict = "not significant"
    return {"dsr_survivors_variance": dsr, "sharpe_variance_survivors": v, "verdict_previous_rules": verdict}


def speed(trials: int, n: int) -> dict:
    from autobot.optimize import study as ST
    from autobot.optimize.executor import InProcess, RayPool
    bars = ar1_bars(n, 1)
    text = (ROOT / "strategies" / "trend.yaml").read_text()
    out = {}
    for name, engine, make in (("fast, 1 process", "fast", InProcess), ("nautilus, 1 process", "nautilus", InProcess),
                               ("fast, Ray all cores", "fast", lambda: RayPool(os.cpu_count())),
                               ("nautilus, Ray all cores", "nautilus", lambda: RayPool(os.cpu_count()))):
        p = ST.plan(text, "trend.yaml", bars, ST.Options(trials=trials, engine=engine, folds=1))
        ex = make()
        with tempfile.TemporaryDirectory() as tmp:
            ST.run(p, ex, Path(tmp) / "warm.journal") if engine == "fast" else None   # JIT and workers warm
            t = time.perf_counter()
            res = ST.run(p, ex, Path(tmp) / "j.journal")
            seconds = time.perf_counter() - t
        ex.close()
        count = sum(len(w.records) for w in res.windows + [res.final])
        out[name] = {"trials": count, "seconds": seconds, "trials_per_second": count / seconds}
    out["fast / nautilus"] = out["fast, 1 process"]["trials_per_second"] / out["nautilus, 1 process"]["trials_per_second"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--part", choices=("all", "noise", "planted", "speed"), default="all")
    ap.add_argument("--strength", type=float, default=PLANTED["strength"], help="the planted trend's strength")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "optimize.json"))
    a = ap.parse_args()
    seeds, trials, n = (4, 60, 50_000) if a.quick else (20, 200, 50_000)
    report: dict = json.loads(Path(a.out).read_text()) if Path(a.out).exists() else {}
    jobs = []
    if a.part in ("all", "noise"):
        jobs += [("noise", str(s), seed, trials, n, 0.0) for s in STRATEGIES for seed in range(seeds)]
    if a.part in ("all", "planted"):
        jobs += [("planted", str(ROOT / "strategies" / "momentum.yaml"), seed, trials, n, a.strength)
                 for seed in range(seeds)]
    if jobs:
        with mp.get_context("spawn").Pool(os.cpu_count() or 1) as pool:
            rows = []
            for row in pool.imap_unordered(study, jobs):
                rows.append(row)
                print(json.dumps(row), flush=True)
        for kind in ("noise", "planted"):
            mine = [r for r in rows if r["kind"] == kind]
            if mine:
                report[kind] = {"studies": len(mine), "significant": sum(r["verdict"] == "significant" for r in mine),
                                "likely_overfit": sum(r["verdict"] == "likely overfit" for r in mine),
                                "significant_previous_rules": sum(r["verdict_previous_rules"] == "significant"
                                                                  for r in mine),
                                "likely_overfit_previous_rules": sum(r["verdict_previous_rules"] == "likely overfit"
                                                                     for r in mine),
                                "trials_per_study": trials, "bars": n, "rows": sorted(mine, key=lambda r: (
                                    r["strategy"], r["seed"]))}
                if kind == "planted":
                    report[kind]["edge"] = {**PLANTED, "strength": a.strength}
                print(kind, f"{report[kind]['significant']}/{len(mine)} significant", flush=True)
    if a.part in ("all", "speed"):
        report["speed"] = speed(16 if a.quick else 24, 20_000)
        print(json.dumps(report["speed"], indent=2))
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
