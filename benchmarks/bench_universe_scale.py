"""How a universe policy's time and memory grow with its instruments (issue 28's measure).

    python benchmarks/bench_universe_scale.py [--sizes 10 25 50 100] [--years 20]

Synthetic daily random walks (business days, 252 a year, seeded; each its own drift and
volatility) as a universe of N instruments on one venue, the shipped policy
(policies/universe_daily.yaml: time-series momentum, equal shares, drawdown scaling, the default
paper challenge checking every member daily), run on the fast portfolio engine in a fresh process
per N: wall time of the run and the process's peak resident memory. No timing is asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np
from autobot.data.bars import Bars
from autobot.portfolio.fast_engine import run_portfolio_fast
from autobot.workspace import expand_universe, load_policy, with_universe
n, years = int(sys.argv[1]), int(sys.argv[2])
bars_each = 252 * years
day = 86_400 * 10**9
start = np.datetime64("2000-01-03").astype("datetime64[ns]").astype(np.int64)
days = np.busday_offset("2000-01-03", np.arange(bars_each), roll="forward").astype("datetime64[ns]").astype(np.int64)
data, files = {}, {}
for k in range(n):
    rng = np.random.default_rng(k)
    r = rng.normal(rng.uniform(-2e-4, 4e-4), rng.uniform(0.005, 0.025), bars_each)
    c = 50.0 * np.exp(np.cumsum(r))
    o = np.r_[c[0], c[:-1]]
    h, l = np.maximum(o, c) * 1.003, np.minimum(o, c) * 0.997
    iid = f"S{k:03d}.SIM"
    data[iid] = Bars(iid, days.copy(), o, h, l, c, np.full(bars_each, 1e6), "contract")
    files[iid] = f"{iid}.csv"
policy = load_policy(Path(sys.argv[3]))
policy = expand_universe(with_universe(policy, files))
t = time.perf_counter()
result = run_portfolio_fast(policy, data, compare=False)
seconds = time.perf_counter() - t
print(json.dumps({"instruments": n, "bars": n * bars_each, "seconds": seconds,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "trades": len(result.trades), "final_equity": result.final_equity}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 25, 50, 100])
    ap.add_argument("--years", type=int, default=20)
    a = ap.parse_args()
    rows = []
    for n in a.sizes:
        done = subprocess.run([sys.executable, "-c", CHILD, str(n), str(a.years),
                               str(ROOT / "policies" / "universe_daily.yaml")],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            raise SystemExit(1)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["seconds_per_instrument"] = row["seconds"] / n
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = ROOT / "benchmarks" / "results" / "universe_scale.json"
    out.write_text(json.dumps({"years": a.years, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
