#!/usr/bin/env python
"""Benchmark the fast portfolio engine against NautilusTrader on a daily universe policy.

Run from anywhere::

    .venv/bin/python benchmarks/bench_fast_portfolio.py [--policy policies/universe_daily.yaml]

Measured in one run, each engine in a fresh process on the same policy and files (the shipped
universe policy: nine daily markets of ``../shared/data/universe``, bundled under
``policies/data``):

* ``cli``: the whole ``autobot backtest --policy P --engine nautilus|fast --json OUT`` process,
  wall time from start to exit (imports, loading, the run, each member alone for the comparison
  table, the JSON); the two JSON files must be equal but for the fast engine's note;
* ``run``: ``run_portfolio`` / ``run_portfolio_fast`` with ``compare=False``, timed inside the
  process from the bars in memory to the result, its fills checked equal;
* ``trial``: the fast run as ``optimize --policy``'s trials make it (``traces=False``,
  ``full_challenge=False``: same fills and equity, checked) against the Nautilus run (a Nautilus
  trial runs everything).

Target (issue 28): fast >= 50x faster. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
PY = sys.executable

RUN = """
import json, pickle, sys, time
from pathlib import Path
from autobot.workspace import load_runtime_policy
from autobot.data.bars import load_bars
engine, path, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
policy = load_runtime_policy(path)
data = {iid: load_bars((path.parent / f).resolve()) for iid, f in (policy.document.universe or {}).items()}
if engine == "fast":
    from autobot.portfolio.fast_engine import run_portfolio_fast as run
else:
    from autobot.portfolio.engine import run_portfolio as run
t0 = time.perf_counter()
result = run(policy, data, compare=False)
seconds = time.perf_counter() - t0
trial = None
if engine == "fast":                      # as optimize --policy's trials run it
    t0 = time.perf_counter()
    other = run(policy, data, compare=False, traces=False, full_challenge=False)
    trial = time.perf_counter() - t0
    assert other.fills == result.fills and list(other.equity) == list(result.equity)
pickle.dump({"seconds": seconds, "trial": trial, "fills": result.fills, "final": result.final_equity,
             "bars": sum(len(b) for b in data.values())}, open(out, "wb"))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", default=str(REPO / "policies" / "universe_daily.yaml"))
    args = ap.parse_args()
    import pickle
    out: dict = {"policy": args.policy}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for engine in ("nautilus", "fast"):
            target = Path(tmp) / f"{engine}.pkl"
            subprocess.run([PY, "-c", RUN, engine, args.policy, str(target)], check=True, cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs[engine] = pickle.load(open(target, "rb"))
        same = runs["nautilus"]["fills"] == runs["fast"]["fills"] and runs["nautilus"]["final"] == runs["fast"]["final"]
        out["bars"] = runs["fast"]["bars"]
        out["fills"] = sum(map(len, runs["fast"]["fills"].values()))
        out["run"] = {"nautilus_s": round(runs["nautilus"]["seconds"], 2), "fast_s": round(runs["fast"]["seconds"], 2),
                      "ratio": round(runs["nautilus"]["seconds"] / runs["fast"]["seconds"], 1), "identical_fills": same}
        out["trial"] = {"nautilus_s": round(runs["nautilus"]["seconds"], 2), "fast_s": round(runs["fast"]["trial"], 2),
                        "ratio": round(runs["nautilus"]["seconds"] / runs["fast"]["trial"], 1)}
        cli = {}
        docs = {}
        for engine in ("nautilus", "fast"):
            target = Path(tmp) / f"{engine}.json"
            t0 = time.perf_counter()
            subprocess.run([str(Path(PY).parent / "autobot"), "backtest", "--policy", args.policy, "--engine", engine,
                            "--json", str(target)], check=True, cwd=REPO, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            cli[engine] = time.perf_counter() - t0
            docs[engine] = json.loads(target.read_text())
        docs["fast"]["notes"] = docs["fast"]["notes"][:-1]
        out["cli"] = {"nautilus_s": round(cli["nautilus"], 2), "fast_s": round(cli["fast"], 2),
                      "ratio": round(cli["nautilus"] / cli["fast"], 1), "identical_json": docs["fast"] == docs["nautilus"]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
